"""`reset`: move a consumer group (the enricher) or the sink's Spark checkpoint to a point in time, safely.

Both print the plan (partition, where it is now, where it will be) and change nothing with `--dry-run`.
* A consumer group is refused while it has members (stop the enricher first); its offsets are then
  committed as a non-member, which Kafka accepts only for an empty group.
* The sink's checkpoint gets one more batch in its offset log, already committed, ending at the new
  offsets: on restart the query (same id) reads from there. The sink writes each event once (ON
  CONFLICT on event_id), so re-reading events already in Postgres changes nothing. Refused while a
  sink process uses that checkpoint, or while its last batch is uncommitted (a batch in flight).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

from tools.replay.common import Exit, Refused, admin, consumer, group_states, offsets_at, partitions_of, start_consumer

logger = logging.getLogger(__name__)


@dataclass
class Move:
    partition: int
    current: int | None
    target: int


def describe(moves: list[Move], what: str) -> str:
    lines = [f"{what}:", "  partition  current  ->  new"]
    lines += [f"  {m.partition:>9}  {m.current if m.current is not None else '-':>7}  ->  {m.target}" for m in moves]
    return "\n".join(lines)


async def target_offsets(bootstrap: str, topic: str, moment: datetime) -> dict[int, int]:
    """Per partition: the first offset at or after `moment` (Kafka time), or the end if none is."""
    kafka = consumer(bootstrap, group_id=None)
    await start_consumer(kafka)
    try:
        parts = await partitions_of(kafka, topic)
        found = await offsets_at(kafka, parts, moment, await kafka.end_offsets(parts))
    finally:
        await kafka.stop()
    return {tp.partition: offset for tp, offset in found.items()}


async def reset_group(bootstrap: str, group: str, topic: str, moment: datetime, dry_run: bool) -> list[Move]:
    async with admin(bootstrap) as client:
        state, members = (await group_states(client, [group]))[group]
        if members:
            raise Refused(
                f"consumer group {group} is active ({members} members, state {state}); "
                "stop its workers (the enricher) and run this again",
                Exit.UNSAFE,
            )
        committed = await client.list_consumer_group_offsets(group)
    targets = await target_offsets(bootstrap, topic, moment)
    moves = [
        Move(p, committed[tp].offset if (tp := TopicPartition(topic, p)) in committed else None, o)
        for p, o in sorted(targets.items())
    ]
    print(describe(moves, f"consumer group {group} on {topic} to {moment.isoformat()}"))  # noqa: T201
    if dry_run:
        return moves
    kafka = consumer(bootstrap, group_id=group)
    await start_consumer(kafka)
    try:
        kafka.assign([TopicPartition(topic, m.partition) for m in moves])
        await kafka.commit({TopicPartition(topic, m.partition): OffsetAndMetadata(m.target, "") for m in moves})
    finally:
        await kafka.stop()
    return moves


def latest_batch(directory: Path) -> int | None:
    ids = [int(p.name) for p in directory.glob("[0-9]*") if p.name.isdigit()]
    return max(ids) if ids else None


def sink_processes(checkpoint: Path) -> list[int]:
    """Local `services.spark_sink` processes whose BIKESHARE_SPARK_CHECKPOINT_DIR is this checkpoint."""
    found = []
    wanted = str(checkpoint.resolve())
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            if b"services.spark_sink" not in cmdline:
                continue
            env = dict(
                item.split("=", 1)
                for item in (proc / "environ").read_bytes().decode(errors="replace").split("\0")
                if "=" in item
            )
        except OSError:
            continue
        directory = env.get("BIKESHARE_SPARK_CHECKPOINT_DIR")
        if directory and str(Path(directory).resolve()) == wanted:
            found.append(int(proc.name))
    return found


async def reset_checkpoint(
    bootstrap: str, checkpoint: Path, topic: str, moment: datetime, dry_run: bool, quiet_s: float = 30.0
) -> list[Move]:
    offsets_dir, commits_dir = checkpoint / "offsets", checkpoint / "commits"
    last = latest_batch(offsets_dir)
    if last is None:
        raise Refused(f"{checkpoint} is not a Spark checkpoint with batches (no offsets/N files)")
    if (pids := sink_processes(checkpoint)) or latest_batch(commits_dir) != last:
        why = f"sink processes {pids} use it" if pids else f"batch {last} is not committed (a batch in flight)"
        raise Refused(f"{checkpoint}: {why}; stop the sink and run this again", Exit.UNSAFE)
    newest = max(p.stat().st_mtime for p in (*offsets_dir.iterdir(), *commits_dir.iterdir()))
    if time.time() - newest < quiet_s:
        raise Refused(
            f"{checkpoint} changed {time.time() - newest:.0f}s ago: a sink may still be running elsewhere; "
            f"stop it and wait {quiet_s:.0f}s",
            Exit.UNSAFE,
        )
    version, metadata, sources = (offsets_dir / str(last)).read_text().split("\n", 2)
    current = json.loads(sources.splitlines()[0]).get(topic, {})
    targets = await target_offsets(bootstrap, topic, moment)
    moves = [Move(p, current.get(str(p)), o) for p, o in sorted(targets.items())]
    print(describe(moves, f"sink checkpoint {checkpoint} on {topic} to {moment.isoformat()} (as batch {last + 1})"))  # noqa: T201
    if dry_run:
        return moves
    new_sources = json.dumps({topic: {str(m.partition): m.target for m in moves}})
    _write_atomic(offsets_dir / str(last + 1), f"{version}\n{metadata}\n{new_sources}")
    _write_atomic(commits_dir / str(last + 1), (commits_dir / str(last)).read_text())
    return moves


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
