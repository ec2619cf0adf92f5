"""The id of the last batch the pipelined sink's writer took over, noted in the Spark checkpoint folder.

Spark records a batch as done when `foreachBatch` returns; the pipelined writer returns before the batch
is committed in Postgres. The note says which batch may be in that window (`last_batch` rewrites it at
start when Postgres lacks it; `./dev replay` and the benchmarks wait until Postgres holds it).
"""

from __future__ import annotations

from pathlib import Path

FILE = "sink-handed-over"


def note_handed_over(checkpoint: Path, batch: int) -> None:
    """Record that batch `batch` is in the writer's hands (atomically: a crash leaves the old or the new id)."""
    path = checkpoint / FILE
    temporary = path.with_name(FILE + ".tmp")
    temporary.write_text(f"{batch}\n")
    temporary.replace(path)


def handed_over(checkpoint: Path) -> int | None:
    """The last batch the writer took over (None when it never noted one)."""
    path = checkpoint / FILE
    return int(path.read_text()) if path.exists() else None
