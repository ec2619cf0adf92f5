-- The first schema: the original project's three tables plus current availability per station.

-- Records(time, bike id, location): one row per clean event; the event id makes writes idempotent.
CREATE TABLE records (
    event_id      uuid PRIMARY KEY,
    event_time    timestamptz NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('start', 'end')),
    bike_id       text,
    station_id    text NOT NULL,
    lat           double precision NOT NULL,
    lon           double precision NOT NULL,
    trip_id       text NOT NULL,
    batch_id      bigint NOT NULL
);
CREATE INDEX records_event_time ON records (event_time);
CREATE INDEX records_station ON records (station_id);

-- Location(street, location): one row per canonical station.
CREATE TABLE location (
    station_id    text PRIMARY KEY,
    street        text NOT NULL,
    lat           double precision NOT NULL,
    lon           double precision NOT NULL
);

-- Frequency(time, amount): events per minute of event time.
CREATE TABLE frequency (
    minute        timestamptz PRIMARY KEY,
    amount        bigint NOT NULL
);

-- Current availability per station, estimated from trip flows since the replay began:
-- bikes = arrivals - departures (a station shows bikes once more arrived than left).
CREATE TABLE availability (
    station_id       text PRIMARY KEY REFERENCES location (station_id),
    arrivals         bigint NOT NULL DEFAULT 0,
    departures       bigint NOT NULL DEFAULT 0,
    bikes            bigint GENERATED ALWAYS AS (arrivals - departures) STORED,
    last_event_time  timestamptz NOT NULL,
    batch_id         bigint NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX availability_batch ON availability (batch_id);

-- One row per micro-batch the sink committed, written in the same transaction as its rows.
CREATE TABLE sink_batches (
    batch_id      bigint PRIMARY KEY,
    events        bigint NOT NULL,
    inserted      bigint NOT NULL,
    committed_at  timestamptz NOT NULL DEFAULT now()
);
