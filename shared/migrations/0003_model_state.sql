-- The availability model's internal state (readers use the contract tables of 0002, not these).
--
-- Bike tracking (files with bike ids): every event of a bike is kept in `bike_events`, ordered by
-- (event_time, kind_order, event_id). A docked event (an arrival or opening stock) puts the bike at its
-- station from its event time `until` the bike's next event, whatever station that next event is at
-- (a departure elsewhere is a rebalancing). A station's count is the number of such intervals covering a
-- moment, so the result does not depend on the order in which events arrive.
-- Net flow (files without bike ids): the records themselves, +count for an arrival or opening stock,
-- -count for a departure.

ALTER TABLE records DROP CONSTRAINT records_kind_check;
ALTER TABLE records ADD CONSTRAINT records_kind_check CHECK (kind IN ('start', 'end', 'stock'));
ALTER TABLE records ADD COLUMN rideable_type text;
ALTER TABLE records ADD COLUMN count integer NOT NULL DEFAULT 1 CHECK (count >= 0);
-- The anonymous (net flow) events of a station from a moment on.
CREATE INDEX records_station_time_anonymous ON records (station_id, event_time) WHERE bike_id IS NULL;

CREATE TABLE bike_events (
    bike_id     text NOT NULL,
    event_time  timestamptz NOT NULL,
    kind_order  smallint NOT NULL,       -- 0 stock, 1 end (arrival), 2 start (departure): arrivals first at equal times
    event_id    uuid NOT NULL,
    station_id  text NOT NULL,
    docked      boolean NOT NULL,        -- arrival or opening stock: the bike stands at station_id from event_time
    ebike       boolean NOT NULL,
    until       timestamptz,             -- event time of the bike's next event (NULL: none yet)
    PRIMARY KEY (bike_id, event_time, kind_order, event_id)
);
CREATE INDEX bike_events_docked_since ON bike_events (station_id, event_time) WHERE docked;
CREATE INDEX bike_events_docked_until ON bike_events (station_id, until) WHERE docked;

-- Departures of a tracked bike from a station other than the one it was last seen docked at:
-- the operator moved it (rebalancing trucks) or its arrival was never recorded.
CREATE VIEW bike_rebalancing AS
SELECT bike_id, event_time, from_station, station_id AS to_station
FROM (
    SELECT bike_id, event_time, kind_order, station_id,
           lag(station_id) OVER w AS from_station, lag(docked) OVER w AS from_docked
    FROM bike_events
    WINDOW w AS (PARTITION BY bike_id ORDER BY event_time, kind_order, event_id)
) moves
WHERE kind_order = 2 AND from_docked AND from_station <> station_id;

COMMENT ON TABLE frequency IS 'Trips started per minute of New York time: one per start event with a station.';
