"""Spark sink: Structured Streaming reads the clean topic in 5-second micro-batches and writes
Records, Location, Frequency and the current per-station availability to Postgres, once per event."""
