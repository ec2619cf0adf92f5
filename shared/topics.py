"""Kafka topic names, declared once for every service, test and tool."""

from typing import Final

RAW: Final = "bikeshare.trips.raw"
"""Start and end events split from trip rows by the producer (`TripEvent` JSON, keyed by station id)."""

CLEAN: Final = "bikeshare.trips.clean"
"""Validated events with a canonical station and coordinates (`CleanEvent` JSON, keyed by station id)."""

DEAD_LETTER: Final = "bikeshare.trips.deadletter"
"""Records that could not be used, each with the reason (`DeadLetter` JSON)."""

ALL: Final = (RAW, CLEAN, DEAD_LETTER)
