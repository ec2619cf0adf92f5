-- The availability model's reader-visible tables (the contract the web, GBFS feed and tools read).
-- The sink writes them in the same transaction as Records, from the rows really inserted.
-- Internal state of the model (per-bike positions, per-station net flow) lives in later migrations.

-- The station catalogue (GBFS station_information): canonical ids, names, capacity.
CREATE TABLE station_info (
    station_id  text PRIMARY KEY,               -- canonical id: the catalogue's short_name ('6926.01', 'JC005')
    name        text NOT NULL,
    lat         double precision NOT NULL,
    lon         double precision NOT NULL,
    capacity    integer CHECK (capacity >= 0),  -- NULL: unknown
    legacy_id   text,                           -- the GBFS station_id (pre-2021 trip files use it: '72', '3183')
    region_id   text,
    source      text NOT NULL                   -- the file or URL it was read from
);
CREATE INDEX station_info_legacy ON station_info (legacy_id);

-- Current state per station. bikes counts every docked bike (classic + electric); docks = capacity - bikes,
-- never below zero, NULL while the capacity is unknown; over_capacity flags bikes > capacity.
DROP TABLE availability;
CREATE TABLE availability (
    station_id      text PRIMARY KEY REFERENCES location (station_id),
    bikes           integer NOT NULL,
    ebikes          integer NOT NULL DEFAULT 0,
    capacity        integer,
    docks           integer GENERATED ALWAYS AS (
                        CASE WHEN capacity IS NULL THEN NULL ELSE greatest(capacity - bikes, 0) END) STORED,
    over_capacity   boolean GENERATED ALWAYS AS (capacity IS NOT NULL AND bikes > capacity) STORED,
    last_event_time timestamptz NOT NULL,       -- event time of the station's latest change
    batch_id        bigint NOT NULL,            -- the sink batch that last changed it (NOTIFY payload)
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX availability_batch ON availability (batch_id);

-- Every change of a station's state at its event time. The state at moment T is, per station, the
-- latest row with event_time <= T:
--   SELECT DISTINCT ON (station_id) * FROM availability_history
--   WHERE event_time <= $1 ORDER BY station_id, event_time DESC
CREATE TABLE availability_history (
    station_id  text NOT NULL,
    event_time  timestamptz NOT NULL,
    bikes       integer NOT NULL,
    ebikes      integer NOT NULL,
    docks       integer,
    batch_id    bigint NOT NULL,
    PRIMARY KEY (station_id, event_time)
);
CREATE INDEX availability_history_time ON availability_history (event_time);

-- The data's clock: the latest event time committed by each batch (the map shows it, GBFS last_updated).
ALTER TABLE sink_batches ADD COLUMN max_event_time timestamptz;

COMMENT ON TABLE frequency IS 'Trips started per minute of New York time (a trip counts once, at its departure).';
