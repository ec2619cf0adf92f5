"""The capture file: one zstd-compressed Parquet file holding whole topics, self-describing.

Why Parquet: pyarrow is already in the environment (Spark and the producer's Parquet source use it);
zstd compression is built in; every column is typed (key and value as bytes, headers as a list of
(key, bytes), timestamps, partitions, offsets); and the footer holds the row count and our header
(format name, version, topics with their partitions and offset ranges). Footer first means a truncated
file or one of another version is refused before a single record is produced, without reading it
all (a gzip'd JSON-lines file shows its truncation only at the end). Captures also open in Spark,
pandas or DuckDB for ad-hoc questions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tools.replay.common import Exit, Refused

FORMAT = "bikeshare-topic-capture"
VERSION = 1
METADATA_KEY = b"bikeshare.capture"

SCHEMA = pa.schema(
    [
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("timestamp_ms", pa.int64()),
        ("timestamp_type", pa.int8()),
        ("key", pa.binary()),
        ("value", pa.binary()),
        ("headers", pa.list_(pa.struct([("key", pa.string()), ("value", pa.binary())]))),
    ]
)


@dataclass
class TopicInfo:
    name: str
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)
    start_offsets: dict[str, int] = field(default_factory=dict)
    """partition -> first captured offset"""
    end_offsets: dict[str, int] = field(default_factory=dict)
    """partition -> offset after the last captured record"""
    records: int = 0


@dataclass
class Header:
    topics: list[TopicInfo]
    created_at: str
    source_bootstrap: str
    records: int = 0
    format: str = FORMAT
    version: int = VERSION

    def encode(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()


def open_writer(path: Path) -> pq.ParquetWriter:
    return pq.ParquetWriter(str(path), SCHEMA, compression="zstd")


def write_batch(writer: pq.ParquetWriter, rows: dict[str, list[Any]]) -> None:
    writer.write_table(pa.Table.from_pydict(rows, schema=SCHEMA))


def finish(writer: pq.ParquetWriter, header: Header) -> None:
    """The header goes into the footer, written last: a file without it is incomplete."""
    writer.add_key_value_metadata({METADATA_KEY: header.encode()})
    writer.close()


def read_header(path: Path) -> tuple[Header, pq.ParquetFile]:
    """Open a capture and check it whole before anything is restored (Refused with the reason otherwise)."""
    if not path.is_file():
        raise Refused(f"{path}: no such capture file")
    try:
        parquet = pq.ParquetFile(str(path))
    except (pa.ArrowException, OSError) as exc:
        raise Refused(
            f"{path}: not a complete capture file (truncated or not Parquet: {exc}); capture it again", Exit.BAD_INPUT
        ) from exc
    raw = (parquet.metadata.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise Refused(f"{path}: a Parquet file, but not a {FORMAT} (no {METADATA_KEY.decode()} header)")
    data = json.loads(raw)
    if data.get("format") != FORMAT:
        raise Refused(f"{path}: format {data.get('format')!r}, expected {FORMAT!r}")
    if data.get("version") != VERSION:
        raise Refused(
            f"{path}: capture format version {data.get('version')!r}; this tool reads version {VERSION} only "
            "(restore it with the tool version that wrote it)"
        )
    header = Header(**{**data, "topics": [TopicInfo(**t) for t in data["topics"]]})
    if parquet.metadata.num_rows != header.records or sum(t.records for t in header.topics) != header.records:
        raise Refused(
            f"{path}: the header promises {header.records} records but the file holds {parquet.metadata.num_rows}; "
            "the file is damaged, capture it again"
        )
    if parquet.schema_arrow.remove_metadata() != SCHEMA:
        raise Refused(f"{path}: columns {parquet.schema_arrow.names} differ from version {VERSION}'s")
    return header, parquet


def records(parquet: pq.ParquetFile, batch_rows: int = 10_000) -> Iterator[dict[str, Any]]:
    for batch in parquet.iter_batches(batch_size=batch_rows):
        yield from batch.to_pylist()
