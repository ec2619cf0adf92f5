-- Records partitioned by month of event time, so whole months can be dropped: the dedup horizon
-- (README, "Dedup horizon"). Every existing row is kept.
--
-- The dedup key becomes (event_time, event_id): Postgres wants a partitioned table's unique keys to hold
-- the partition key. It recognises the same duplicates as event_id alone because an event's time is a
-- function of its id:
-- * trip events: event_id = uuid5(trip id, side) (shared/events.py, event_id); the trip id is the file's
--   ride_id (2021+) or bike id + start time as written (services/producer/trip_rows.py, trip_events), and
--   both times come from that one trip row, which every replay of a file reads again unchanged;
-- * opening stock: the id is built from the stock's own time (services/producer/opening_stock.py).
-- The one difference: a source holding two *different* rows with one trip identity would now keep both
-- where event_id alone kept whichever came first; the bundled files of every era hold none.
-- The rows are copied in this migration's transaction, Records locked meanwhile (1,000,000 rows: ~5 s).
--
-- Partitions are UTC calendar months named records_YYYY_MM, created on demand by the sink's own batch
-- transaction (records_ensure_partitions, below); there is no DEFAULT partition, so a row finds its month
-- or fails loudly. `records_horizon.kept_from` is the dedup horizon: records_drop_before() drops whole
-- months before it and moves it, and the sink refuses events older than it (they would otherwise be
-- inserted a second time, and the availability model rebuilds history from Records).

LOCK TABLE records IN ACCESS EXCLUSIVE MODE;
ALTER TABLE records RENAME TO records_unpartitioned;
ALTER TABLE records_unpartitioned RENAME CONSTRAINT records_pkey TO records_unpartitioned_pkey;
DROP INDEX records_event_time;  -- the new key leads with event_time and serves its range scans
DROP INDEX records_station;
DROP INDEX records_station_time_anonymous;

CREATE TABLE records (
    event_id      uuid NOT NULL,
    event_time    timestamptz NOT NULL,
    kind          text NOT NULL CONSTRAINT records_kind_check CHECK (kind IN ('start', 'end', 'stock')),
    bike_id       text,
    station_id    text NOT NULL,
    lat           double precision NOT NULL,
    lon           double precision NOT NULL,
    trip_id       text NOT NULL,
    batch_id      bigint NOT NULL,
    rideable_type text,
    count         integer NOT NULL DEFAULT 1 CONSTRAINT records_count_check CHECK (count >= 0),
    CONSTRAINT records_pkey PRIMARY KEY (event_time, event_id)
) PARTITION BY RANGE (event_time);
CREATE INDEX records_station ON records (station_id);
-- The anonymous (net flow) events of a station from a moment on.
CREATE INDEX records_station_time_anonymous ON records (station_id, event_time) WHERE bike_id IS NULL;

-- The horizon: events before kept_from are no longer in Records (NULL: every month is kept). One row.
CREATE TABLE records_horizon (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    kept_from timestamptz CHECK (kept_from = date_trunc('month', kept_from, 'UTC'))
);
INSERT INTO records_horizon (only_row, kept_from) VALUES (true, NULL);

-- The month partitions `months` (UTC month starts) need, created when missing. Called by the sink inside
-- its batch transaction before it inserts, so a partition is committed with the first rows it holds.
-- SECURITY DEFINER: the sink's role may write rows but not create tables; this runs as the schema owner.
-- The table is created apart and then attached: ATTACH takes only SHARE UPDATE EXCLUSIVE on `records`, so
-- readers and writers of existing months go on while the batch that created it is still open (CREATE
-- TABLE ... PARTITION OF would hold ACCESS EXCLUSIVE until that commit). Taking that lock first serialises
-- two creators: it conflicts with itself, and acquiring a table lock makes the backend read the catalog
-- changes committed meanwhile, so the second creator then sees the month the first one made (an advisory
-- lock does not: to_regclass would still miss the new table and CREATE TABLE would fail).
-- Months before the horizon are refused with check_violation (SQLSTATE 23514). The sink has already
-- quarantined its events older than the horizon (model_sql.QUARANTINE_EXPIRED); this catches the rest (a
-- row without Kafka coordinates, a records-drop committed meanwhile), which the batch writer's bisection
-- quarantines with this message (services/spark_sink/quarantine.py, class 23).
CREATE FUNCTION records_ensure_partitions(months timestamptz[]) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET timezone = 'UTC' AS $$
DECLARE
    horizon timestamptz;
    month timestamptz;
    name text;
    created integer := 0;
BEGIN
    SELECT kept_from INTO horizon FROM records_horizon;
    FOREACH month IN ARRAY months LOOP
        IF month <> date_trunc('month', month, 'UTC') THEN
            RAISE EXCEPTION 'records_ensure_partitions: % is not the start of a UTC month', month;
        END IF;
        name := 'records_' || to_char(month AT TIME ZONE 'UTC', 'YYYY_MM');
        IF to_regclass(name) IS NULL THEN
            LOCK TABLE records IN SHARE UPDATE EXCLUSIVE MODE;
            -- A records-drop running meanwhile has committed now: its horizon must not be missed, or this
            -- would make a month it has just declared gone.
            SELECT kept_from INTO horizon FROM records_horizon;
        END IF;
        IF month < horizon THEN
            RAISE EXCEPTION USING
                ERRCODE = 'check_violation',
                MESSAGE = format(
                    'event time in %s is older than the dedup horizon: Records keeps events from %s on '
                    '(older months were dropped, so a duplicate could no longer be recognised); not written',
                    to_char(month AT TIME ZONE 'UTC', 'YYYY-MM'), to_char(horizon AT TIME ZONE 'UTC', 'YYYY-MM'));
        END IF;
        CONTINUE WHEN to_regclass(name) IS NOT NULL;
        EXECUTE format('CREATE TABLE %I (LIKE records INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
        EXECUTE format('ALTER TABLE records ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       name, month, month + interval '1 month');  -- in UTC: the function's timezone
        -- Readers of `records` need no grant on its partitions; these are for reading one month directly.
        EXECUTE format('GRANT SELECT ON %I TO bikeshare_reader', name);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO bikeshare_writer', name);
        created := created + 1;
    END LOOP;
    RETURN created;
END
$$;
REVOKE ALL ON FUNCTION records_ensure_partitions(timestamptz[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION records_ensure_partitions(timestamptz[]) TO bikeshare_writer;

-- Drop every month partition before `before` (a UTC month start) and move the horizon there, in one
-- transaction; returns the partitions dropped. The schema owner's (the sink cannot): `./dev records-drop`.
-- The horizon never moves back: dropping before an earlier month than the current horizon drops nothing.
CREATE FUNCTION records_drop_before(before timestamptz) RETURNS text[]
LANGUAGE plpgsql SET search_path = public, pg_temp SET timezone = 'UTC' AS $$
DECLARE
    part record;
    dropped text[] := '{}';
BEGIN
    IF before IS NULL OR before <> date_trunc('month', before, 'UTC') THEN
        RAISE EXCEPTION 'records_drop_before: % is not the start of a UTC month', before;
    END IF;
    -- Taken first, so no batch can create a partition or insert between the horizon move and the drops.
    LOCK TABLE records IN ACCESS EXCLUSIVE MODE;
    UPDATE records_horizon SET kept_from = greatest(kept_from, before);
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'records'::regclass
          AND c.relname ~ '^records_\d{4}_\d{2}$'
          AND make_timestamptz(substr(c.relname, 9, 4)::int, substr(c.relname, 14, 2)::int, 1, 0, 0, 0, 'UTC') < before
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE %I', part.relname);
        dropped := dropped || part.relname::text;
    END LOOP;
    RETURN dropped;
END
$$;
REVOKE ALL ON FUNCTION records_drop_before(timestamptz) FROM PUBLIC;

-- The sink reads the horizon (through records_ensure_partitions) but never moves it.
GRANT SELECT ON records, records_horizon TO bikeshare_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON records TO bikeshare_writer;
GRANT SELECT ON records_horizon TO bikeshare_writer;
REVOKE INSERT, UPDATE, DELETE ON records_horizon FROM bikeshare_writer;

-- The rows there are: their months first, then every row, then the old table goes.
SELECT records_ensure_partitions(array(
    SELECT DISTINCT date_trunc('month', event_time, 'UTC') FROM records_unpartitioned));
INSERT INTO records (event_id, event_time, kind, bike_id, station_id, lat, lon, trip_id, batch_id,
                     rideable_type, count)
SELECT event_id, event_time, kind, bike_id, station_id, lat, lon, trip_id, batch_id, rideable_type, count
FROM records_unpartitioned;
DROP TABLE records_unpartitioned;
