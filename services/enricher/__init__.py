"""Enricher: a faust-streaming agent that validates raw trip events, canonicalises and locates their
stations, and publishes clean events (or dead letters with the reason)."""
