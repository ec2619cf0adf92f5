"""The SQL of one micro-batch: Records, then the availability model, Location and Frequency from the rows
really inserted (temp table `inserted`), all inside the caller's transaction.

The model (README, "How availability is computed"):

* a tracked bike (its events carry a bike id) stands at the station of its latest arrival (or opening
  stock) until its next event, wherever that is; `bike_events.until` holds the time of that next event;
* an anonymous event (no bike id) moves `count` bikes: + for an arrival or opening stock, - for a departure;
* a station's bikes at moment T = tracked intervals covering T + the sum of anonymous moves up to T.

Events may arrive in any order across batches (a bike's start and end are on different partitions).
A batch therefore re-links the touched bikes' intervals from the predecessor of their earliest new event
on, and recomputes each affected station's history from the earliest moment that changed; the rows
before that moment are untouched and serve as the starting point.

Two halves: the first (Records to `NOTE_PENDING`) ends by noting the changed stations in `model_dirty` and
the batch in `model_pending`; the second (`APPLY_LOCK` to `NOTIFY_BATCHES`) claims every noted batch,
rebuilds the history and current state of their stations and records them in `sink_batches`. They run in
one transaction, or in two (the pipelined sink) with the second idempotent.
"""

from __future__ import annotations

KIND_ORDER = "CASE kind WHEN 'stock' THEN 0 WHEN 'end' THEN 1 ELSE 2 END"
"""Arrivals before departures at equal times; opening stock before both."""

STAGE = """
CREATE TEMP TABLE incoming (
    event_id uuid, event_time timestamptz, kind text, bike_id text, station_id text,
    street text, lat double precision, lon double precision, trip_id text, rideable_type text, count integer,
    topic text, "partition" integer, "offset" bigint, frame_index integer
) ON COMMIT DROP
"""

HORIZON = "(SELECT kept_from FROM records_horizon)"
HORIZON_REASON = (
    "format('event time in %s is older than the dedup horizon: Records keeps events from %s on "
    "(older months were dropped, so a duplicate could no longer be recognised); not written', "
    f"to_char(e.event_time AT TIME ZONE 'UTC', 'YYYY-MM'), to_char({HORIZON} AT TIME ZONE 'UTC', 'YYYY-MM'))"
)
"""The reason an event older than the horizon is quarantined (records_ensure_partitions says the same)."""

# Events older than the dedup horizon (Records no longer holds their month) are taken out of the batch and
# quarantined with their Kafka coordinates, all in one statement; the count is returned. Rows without
# coordinates (written by something other than the batch writer) stay, and make ENSURE_PARTITIONS fail.
# The horizon is a scalar subquery, not a join: joined, the never-analysed one-row table is estimated at
# thousands of rows and the plan's cost crosses jit_above_cost (10 ms of JIT compilation per batch).
QUARANTINE_EXPIRED = f"""
WITH expired AS (
    DELETE FROM incoming e
    WHERE e.event_time < {HORIZON} AND e.topic IS NOT NULL AND e."partition" IS NOT NULL AND e."offset" IS NOT NULL
    RETURNING e.*, {HORIZON_REASON} AS reason, convert_to(row_to_json(e)::text, 'UTF8') AS payload
),
kept AS (
    INSERT INTO sink_quarantine
        (topic, kafka_partition, kafka_offset, frame_index, batch_id, reason, payload, payload_bytes)
    SELECT topic, "partition", "offset", coalesce(frame_index, 0), $1, reason, payload, octet_length(payload)
    FROM expired
    ON CONFLICT DO NOTHING
)
SELECT count(*) FROM expired
"""

# The month partitions of Records this batch needs, created when missing by the schema owner's function
# (migration 0060; README, "Dedup horizon"). A month older than the horizon still staged (a row without
# Kafka coordinates) fails the batch with check_violation, which the batch writer's bisection quarantines.
# The months in UTC (the same as date_trunc's three-argument form, which looks the zone up for every row:
# 83 against 58 ms for 235,000 rows).
ENSURE_PARTITIONS = """
SELECT records_ensure_partitions(
    array(SELECT DISTINCT date_trunc('month', event_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM incoming)
)
"""

# The key is (event_time, event_id), which Records' partitioning requires; it recognises the same duplicates
# as event_id alone since an event's time follows from its id (migration 0060 says why). An event twice in
# the batch needs no DISTINCT (a sort of the whole batch): DO NOTHING also skips a row that conflicts with
# one inserted earlier by the same statement, so `inserted` holds it once.
INSERT_RECORDS = f"""
CREATE TEMP TABLE inserted ON COMMIT DROP AS
WITH ins AS (
    INSERT INTO records (event_id, event_time, kind, bike_id, station_id, lat, lon, trip_id, batch_id,
                         rideable_type, count)
    SELECT event_id, event_time, kind, bike_id, station_id, lat, lon, trip_id, $1, rideable_type, count
    FROM incoming
    ON CONFLICT (event_time, event_id) DO NOTHING
    RETURNING event_id, event_time, kind, bike_id, station_id, rideable_type, count
)
SELECT *, {KIND_ORDER} AS kind_order, coalesce(rideable_type = 'electric_bike', false) AS ebike FROM ins
"""

# One name and position per station: the catalogue's when it knows the station, else the trip file's
# (its latest row in the batch). Catalogue stations need only the batch's distinct ids (hashed), not a
# sort of every row; a row that would not change is not rewritten.
UPSERT_LOCATION = """
INSERT INTO location (station_id, street, lat, lon)
SELECT s.station_id, s.name, s.lat, s.lon
FROM (SELECT DISTINCT station_id FROM incoming) i JOIN station_info s USING (station_id)
UNION ALL
SELECT * FROM (
    SELECT DISTINCT ON (i.station_id) i.station_id, i.street, i.lat, i.lon
    FROM incoming i WHERE NOT EXISTS (SELECT 1 FROM station_info s WHERE s.station_id = i.station_id)
    ORDER BY i.station_id, i.event_time DESC
) unknown
ON CONFLICT (station_id) DO UPDATE SET street = excluded.street, lat = excluded.lat, lon = excluded.lon
WHERE (location.street, location.lat, location.lon) IS DISTINCT FROM (excluded.street, excluded.lat, excluded.lon)
"""

# Per touched bike: from when its intervals may change: the time of its latest stored event before its
# earliest new one (the predecessor, whose `until` changes), else that earliest new event's time. Taking
# every stored event at that time and after (RELINK) is a superset of "the predecessor and after", and a
# row whose `until` stays the same drops out there; a hashed min per bike, not a sort of the batch.
TOUCHED_BIKES = """
CREATE TEMP TABLE touched ON COMMIT DROP AS
SELECT f.bike_id, coalesce(p.event_time, f.first_time) AS from_time
FROM (SELECT bike_id, min(event_time) AS first_time FROM inserted WHERE bike_id IS NOT NULL GROUP BY bike_id) f
LEFT JOIN LATERAL (
    SELECT b.event_time FROM bike_events b
    WHERE b.bike_id = f.bike_id AND b.event_time < f.first_time
    ORDER BY b.event_time DESC
    LIMIT 1
) p ON true
"""

# The touched bikes' stored events from that moment on and their new events, each with its old and its new
# `until`: the new events, and the stored ones whose `until` changes.
RELINK = """
CREATE TEMP TABLE relinked ON COMMIT DROP AS
SELECT * FROM (
    SELECT x.*,
           lead(x.event_time) OVER (PARTITION BY x.bike_id ORDER BY x.event_time, x.kind_order, x.event_id)
               AS new_until
    FROM (
        SELECT b.bike_id, b.event_time, b.kind_order, b.event_id, b.station_id, b.docked, b.ebike,
               b.until AS old_until, false AS is_new
        FROM bike_events b JOIN touched t USING (bike_id)
        WHERE b.event_time >= t.from_time
        UNION ALL
        SELECT bike_id, event_time, kind_order, event_id, station_id, kind <> 'start', ebike, NULL, true
        FROM inserted WHERE bike_id IS NOT NULL
    ) x
) y
WHERE is_new OR new_until IS DISTINCT FROM old_until
"""

INSERT_BIKE_EVENTS = """
INSERT INTO bike_events (bike_id, event_time, kind_order, event_id, station_id, docked, ebike, until)
SELECT bike_id, event_time, kind_order, event_id, station_id, docked, ebike, new_until
FROM relinked WHERE is_new
"""

UPDATE_UNTIL = """
UPDATE bike_events b SET until = r.new_until
FROM relinked r
WHERE NOT r.is_new
  AND (b.bike_id, b.event_time, b.kind_order, b.event_id) = (r.bike_id, r.event_time, r.kind_order, r.event_id)
"""

# The update changes a few thousand rows of a table of millions, each found by its key. With hash and merge
# joins allowed, the planner still hashed the whole of bike_events (a sequential scan, 0.1 s at 730,000 rows
# in isolation and 1 s by the fifth batch of the end-to-end benchmark); forbidden for this one statement,
# it looks each row up by the primary key.
BY_KEY = "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off"
JOINS_AGAIN = "SET LOCAL enable_hashjoin = on; SET LOCAL enable_mergejoin = on"

# Each affected station and the earliest moment of its history that may have changed, noted for the
# history's half (`postgres_writer.apply_pending`), with the batch itself (its counts for sink_batches).
NOTE_DIRTY = """
INSERT INTO model_dirty (batch_id, station_id, from_time, latest)
SELECT $1, station_id, min(from_time), max(from_time) FROM (
    SELECT station_id, event_time AS from_time FROM inserted
    UNION ALL
    SELECT station_id, least(old_until, new_until) FROM relinked
    WHERE docked AND coalesce(old_until, new_until) IS NOT NULL
) changes
GROUP BY station_id
"""

NOTE_PENDING = """
INSERT INTO model_pending (batch_id, events, inserted, max_event_time)
VALUES ($1, $2, $3, (SELECT max(event_time) FROM inserted))
ON CONFLICT (batch_id) DO NOTHING
"""

# The history's half: one at a time (a lock for the transaction), it claims every noted batch and the
# stations they changed (deleted as read, in the same statement, so a batch noted meanwhile is left whole
# for the next one) and rebuilds those stations from their earliest changed moment.
APPLY_LOCK = "SELECT pg_advisory_xact_lock(hashtext('bikeshare.model_apply'))"

CLAIM_BATCHES = """
CREATE TEMP TABLE claimed ON COMMIT DROP AS
WITH c AS (DELETE FROM model_pending RETURNING *) SELECT * FROM c
"""

CLAIM_STATIONS = """
CREATE TEMP TABLE affected ON COMMIT DROP AS
WITH d AS (DELETE FROM model_dirty WHERE batch_id IN (SELECT batch_id FROM claimed) RETURNING *)
SELECT station_id, min(from_time) AS from_time, max(latest) AS latest FROM d GROUP BY station_id
"""

DELETE_HISTORY = """
DELETE FROM availability_history h USING affected a
WHERE h.station_id = a.station_id AND h.event_time >= a.from_time
"""

# The affected stations' history from their earliest changed moment: the last row before it plus the
# running sum of every change since (tracked arrivals +1, tracked interval ends -1, anonymous ±count).
# Only moments where the state changes become rows.
REBUILD_HISTORY = """
WITH base AS (
    SELECT a.station_id, coalesce(h.bikes, 0) AS bikes, coalesce(h.ebikes, 0) AS ebikes
    FROM affected a
    LEFT JOIN LATERAL (
        SELECT bikes, ebikes FROM availability_history x
        WHERE x.station_id = a.station_id AND x.event_time < a.from_time
        ORDER BY x.event_time DESC LIMIT 1
    ) h ON true
),
changes AS (
    SELECT b.station_id, b.event_time AS t, 1 AS d, b.ebike::int AS de
    FROM bike_events b JOIN affected a USING (station_id)
    WHERE b.docked AND b.event_time >= a.from_time
    UNION ALL
    SELECT b.station_id, b.until, -1, -(b.ebike::int)
    FROM bike_events b JOIN affected a USING (station_id)
    WHERE b.docked AND b.until >= a.from_time
    UNION ALL
    SELECT r.station_id, r.event_time, s.sign * r.count,
           CASE WHEN r.rideable_type = 'electric_bike' THEN s.sign * r.count ELSE 0 END
    FROM records r JOIN affected a USING (station_id)
    CROSS JOIN LATERAL (SELECT CASE WHEN r.kind = 'start' THEN -1 ELSE 1 END AS sign) s
    WHERE r.bike_id IS NULL AND r.event_time >= a.from_time
      -- The batch's earliest moment as a scalar bound too: Records' months before it are pruned when
      -- the plan starts instead of every month's anonymous rows being read and filtered by the join.
      AND r.event_time >= (SELECT min(from_time) FROM affected)
),
per_moment AS (
    SELECT station_id, t, sum(d) AS d, sum(de) AS de FROM changes GROUP BY station_id, t
    HAVING sum(d) <> 0 OR sum(de) <> 0
),
states AS (
    SELECT p.station_id, p.t,
           b.bikes + sum(p.d) OVER w AS bikes,
           b.ebikes + sum(p.de) OVER w AS ebikes
    FROM per_moment p JOIN base b USING (station_id)
    WINDOW w AS (PARTITION BY p.station_id ORDER BY p.t)
)
INSERT INTO availability_history (station_id, event_time, bikes, ebikes, docks, batch_id)
SELECT st.station_id, st.t, st.bikes, st.ebikes,
       CASE WHEN si.capacity IS NULL THEN NULL ELSE greatest(si.capacity - st.bikes, 0) END, $1
FROM states st LEFT JOIN station_info si USING (station_id)
"""

UPSERT_AVAILABILITY = """
INSERT INTO availability AS a (station_id, bikes, ebikes, capacity, last_event_time, batch_id)
SELECT f.station_id, coalesce(h.bikes, 0), coalesce(h.ebikes, 0), s.capacity,
       greatest(h.event_time, f.latest), $1
FROM affected f
LEFT JOIN LATERAL (
    SELECT bikes, ebikes, event_time FROM availability_history x
    WHERE x.station_id = f.station_id ORDER BY x.event_time DESC LIMIT 1
) h ON true
LEFT JOIN station_info s USING (station_id)
ON CONFLICT (station_id) DO UPDATE SET
    bikes = excluded.bikes,
    ebikes = excluded.ebikes,
    capacity = excluded.capacity,
    last_event_time = greatest(a.last_event_time, excluded.last_event_time),
    batch_id = excluded.batch_id,
    updated_at = now()
"""

# A trip counts once, in the New York minute of its departure (late departures fold into their minute).
# New York's offsets are whole hours, so its minutes start at the same instants as UTC's: date_bin's
# arithmetic gives the same minute as date_trunc(..., 'America/New_York') without a time-zone lookup per row.
UPSERT_FREQUENCY = """
INSERT INTO frequency AS f (minute, amount)
SELECT date_bin('1 minute', event_time, timestamptz '2000-01-01 00:00+00'), count(*) FROM inserted
WHERE kind = 'start'
GROUP BY 1
ON CONFLICT (minute) DO UPDATE SET amount = f.amount + excluded.amount
"""

RECORD_BATCHES = """
INSERT INTO sink_batches (batch_id, events, inserted, max_event_time)
SELECT batch_id, events, inserted, max_event_time FROM claimed
ON CONFLICT (batch_id) DO NOTHING
"""

NOTIFY_BATCHES = "SELECT pg_notify($1, batch_id::text) FROM claimed WHERE inserted > 0 ORDER BY batch_id"

# A temporary table has no statistics until analysed: estimated at 60,000 changed rows where there were
# 8,700, the update hashed the whole of bike_events (a sequential scan growing with every batch: 0.4 s at
# 733,000 events) instead of looking the changed rows up by key.
ANALYZE_RELINKED = "ANALYZE relinked"

MODEL_STEPS = (
    TOUCHED_BIKES,
    RELINK,
    ANALYZE_RELINKED,
    INSERT_BIKE_EVENTS,
    BY_KEY,
    UPDATE_UNTIL,
    JOINS_AGAIN,
)
"""The statements between Records and noting the changed stations, none of which takes a parameter."""
