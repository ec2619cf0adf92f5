-- Records the sink could not write (poison pills), kept with the reason and their Kafka coordinates so the
-- batch around them goes on. A replayed batch finds its quarantined records already here (the unique key).
-- The payload is the original message bytes (bytea: it may hold a NUL, which text cannot), cut to
-- 16,384 bytes; payload_bytes is the original length. Read one as text with convert_from(payload, 'UTF8')
-- or encode(payload, 'escape').
CREATE TABLE sink_quarantine (
    topic           text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    batch_id        bigint NOT NULL,
    reason          text NOT NULL,
    payload         bytea NOT NULL,
    payload_bytes   integer NOT NULL,
    quarantined_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, kafka_partition, kafka_offset)
);
CREATE INDEX sink_quarantine_batch ON sink_quarantine (batch_id);
