"""Trip events from the preprocessing job's Parquet files (`python -m services.spark_sink.preprocess`).

Each file holds `TripEvent` rows (columns = the event's fields, as `shared.events.spark_ddl` types them),
sorted by (event time, event id); the producer replays them exactly as it replays the CSV they came
from: the same ids, times, stations and `source`. Rows are converted a record batch at a time by
msgspec, which also validates them (a file of another shape raises `ParquetFormatError`).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO

import msgspec

from shared.events import TripEvent, field_names

FIELDS = field_names(TripEvent)
BATCH_ROWS = 16_384


class ParquetFormatError(ValueError):
    """The object is not a Parquet file of trip events; the message names it and says why."""


def is_parquet_key(key: str) -> bool:
    return key.endswith(".parquet")


def parquet_events(data: bytes | IO[bytes], source: str) -> Iterator[TripEvent]:
    """The events of one Parquet file (its bytes, or a seekable file such as the producer's ranged S3
    reader), in the file's order; `source` names it in errors."""
    # imported here: pyarrow costs every reading process about 50 MB, and most replays read only CSV
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(io.BytesIO(data) if isinstance(data, bytes) else data)
    except (pa.ArrowException, OSError) as exc:
        raise ParquetFormatError(f"{source}: not a readable Parquet file ({exc})") from exc
    missing = [name for name in FIELDS if name not in parquet.schema_arrow.names]
    if missing:
        raise ParquetFormatError(f"{source}: not a trip-event Parquet file (no columns {missing})")
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=list(FIELDS)):
        try:
            yield from msgspec.convert(batch.to_pylist(), list[TripEvent])
        except msgspec.ValidationError as exc:
            raise ParquetFormatError(f"{source}: a row is not a TripEvent ({exc})") from exc


def parquet_file_events(file: IO[bytes], source: str) -> Iterator[TripEvent]:
    """`parquet_events` of an open object (read whole: Parquet's footer comes last; the job writes one
    file per year/month/source file, so each is a month of one file at most)."""
    return parquet_events(file.read(), source)
