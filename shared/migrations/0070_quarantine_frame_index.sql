-- Frames (shared/frames.py): several clean events share one Kafka record, so a quarantined event is
-- named by its record's coordinates and its index in the frame (0 for a record holding one event).
ALTER TABLE sink_quarantine ADD COLUMN frame_index integer NOT NULL DEFAULT 0;
ALTER TABLE sink_quarantine DROP CONSTRAINT sink_quarantine_pkey;
ALTER TABLE sink_quarantine ADD PRIMARY KEY (topic, kafka_partition, kafka_offset, frame_index);
