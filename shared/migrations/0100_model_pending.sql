-- A batch's write in two transactions (services/spark_sink/model_sql.py, "the history's half"): the first
-- inserts Records, re-links the bikes' intervals and notes here what the second must still do: the batch
-- (its counts for sink_batches) and each station whose history changed from which moment. The second
-- claims these rows, rebuilds those stations' history and current state, and records the batch in
-- sink_batches, in one transaction; it is idempotent (the history is rebuilt from bike_events and Records),
-- so rows a crash left behind are simply taken up by the next one. The pipelined sink runs a batch's
-- second transaction on a connection of its own while the next batch's first one runs.
CREATE TABLE model_pending (
    batch_id        bigint PRIMARY KEY,
    events          bigint NOT NULL,
    inserted        bigint NOT NULL,
    max_event_time  timestamptz
);

CREATE TABLE model_dirty (
    batch_id    bigint NOT NULL,
    station_id  text NOT NULL,
    from_time   timestamptz NOT NULL,
    latest      timestamptz NOT NULL
);
CREATE INDEX model_dirty_batch ON model_dirty (batch_id);
