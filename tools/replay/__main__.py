"""`python -m tools.replay SUBCOMMAND ...` (or `./dev replay-topic ...`): see `--help` and README "Replaying topics".

The Kafka cluster is `--bootstrap`, else BIKESHARE_KAFKA_BOOTSTRAP_SERVERS. Results go to stdout (a
summary, or JSON with `--json`), progress and logs to stderr; the exit codes are `common.Exit`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaConnectionError, KafkaError

from shared import topics
from shared.logs import configure_logging
from tools.replay import capture, copy, inspect, reset, restore
from tools.replay.common import Exit, Refused, parse_time

logger = logging.getLogger("tools.replay")
TOPIC_ALIASES = {"raw": topics.RAW, "clean": topics.CLEAN, "deadletter": topics.DEAD_LETTER}
EXIT_HELP = "exit codes: " + ", ".join(f"{e.value} {e.name.lower()}" for e in Exit)


def topic(name: str) -> str:
    return TOPIC_ALIASES.get(name, name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.replay", description=__doc__, epilog=EXIT_HELP)
    parser.add_argument("--bootstrap", default=os.environ.get("BIKESHARE_KAFKA_BOOTSTRAP_SERVERS"))
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("copy", help="copy a topic or a time slice of it into another topic", epilog=EXIT_HELP)
    p.add_argument("source", type=topic, help="topic (or raw, clean, deadletter)")
    p.add_argument("--to", required=True, type=topic, help="target topic (raw/clean = back into the pipeline)")
    p.add_argument("--to-bootstrap", help="another cluster for the target (default: the same one)")
    p.add_argument("--from", dest="since", type=parse_time, help="start of the slice (ISO 8601 or epoch ms)")
    p.add_argument("--until", type=parse_time, help="end of the slice, exclusive")
    p.add_argument(
        "--by", choices=["kafka-time", "event-time"], default="kafka-time", help="which clock the slice uses"
    )
    p.add_argument("--speed", type=float, default=0.0, help="N seconds of data per second (default: full speed)")
    p.add_argument("--keep-partitions", action="store_true", help="write each record to its source partition number")

    p = sub.add_parser("capture", help="capture topics into one compressed, self-describing file", epilog=EXIT_HELP)
    p.add_argument("file", type=Path)
    p.add_argument("topics", nargs="*", type=topic, help="topics (default: raw clean deadletter)")
    p.add_argument("--from", dest="since", type=parse_time, help="only records with Kafka time >= this")
    p.add_argument("--until", type=parse_time, help="only records with Kafka time < this")

    p = sub.add_parser("restore", help="restore a capture into a (fresh) cluster", epilog=EXIT_HELP)
    p.add_argument("file", type=Path)
    p.add_argument("--rename", action="append", default=[], metavar="OLD=NEW", help="restore topic OLD as NEW")

    p = sub.add_parser("reset", help="move the enricher's group or the sink's checkpoint to a time", epilog=EXIT_HELP)
    p.add_argument("target", choices=["group", "sink"])
    p.add_argument("--to", dest="moment", required=True, type=parse_time, help="time (Kafka time of the records)")
    p.add_argument("--group", default=os.environ.get("BIKESHARE_APP_ID", "bikeshare-enricher"))
    p.add_argument("--topic", type=topic, help="default: raw for a group, clean for the sink")
    p.add_argument("--checkpoint", type=Path, default=os.environ.get("BIKESHARE_SPARK_CHECKPOINT_DIR"))
    p.add_argument("--quiet-seconds", type=float, default=30.0, help="refuse a checkpoint changed this recently")
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")

    p = sub.add_parser("inspect", help="dead letters, consumer lag, a station's history", epilog=EXIT_HELP)
    p.add_argument("what", choices=["dead-letters", "lag", "station"])
    p.add_argument("station", nargs="?", help="station id (for `station`)")
    p.add_argument("--topic", type=topic)
    p.add_argument("--examples", type=int, default=3)
    p.add_argument("--checkpoint", type=Path, default=os.environ.get("BIKESHARE_SPARK_CHECKPOINT_DIR"))
    p.add_argument("--every-partition", action="store_true", help="station: scan all partitions, not its key's")
    return parser


def emit(args: argparse.Namespace, result: Any, text: str) -> None:
    if args.json:
        print(json.dumps(result, default=str, indent=2))  # noqa: T201
    else:
        print(text)  # noqa: T201


async def run(args: argparse.Namespace) -> Exit:
    b = args.bootstrap
    if args.command == "copy":
        report = await copy.copy_topic(
            b,
            args.source,
            args.to,
            since=args.since,
            until=args.until,
            clock=args.by,
            speed=args.speed,
            keep_partitions=args.keep_partitions,
            target_bootstrap=args.to_bootstrap,
        )
        text = (
            f"copied {report.copied} of {report.read} records read ({report.outside_range} outside the range, "
            f"{report.undecodable} without event_time) in {report.seconds:.1f}s"
        )
        emit(args, dataclasses.asdict(report), text)
        return Exit.PARTIAL if report.undecodable else Exit.OK
    if args.command == "capture":
        header = await capture.capture(b, args.topics or list(topics.ALL), args.file, args.since, args.until)
        per_topic = ", ".join(f"{t.name}: {t.records}" for t in header.topics)
        emit(args, dataclasses.asdict(header), f"captured {header.records} records to {args.file} ({per_topic})")
        return Exit.OK
    if args.command == "restore":
        rename = dict(item.split("=", 1) for item in args.rename)
        header = await restore.restore(b, args.file, rename)
        emit(args, dataclasses.asdict(header), f"restored {header.records} records from {args.file}")
        return Exit.OK
    if args.command == "reset":
        if args.target == "group":
            moves = await reset.reset_group(b, args.group, args.topic or topics.RAW, args.moment, args.dry_run)
        else:
            if args.checkpoint is None:
                raise Refused("give --checkpoint (or set BIKESHARE_SPARK_CHECKPOINT_DIR)")
            moves = await reset.reset_checkpoint(
                b, args.checkpoint, args.topic or topics.CLEAN, args.moment, args.dry_run, args.quiet_seconds
            )
        emit(args, [dataclasses.asdict(m) for m in moves], "dry run: nothing changed" if args.dry_run else "done")
        return Exit.OK
    return await run_inspect(args)


async def run_inspect(args: argparse.Namespace) -> Exit:
    b = args.bootstrap
    if args.what == "dead-letters":
        groups = await inspect.dead_letters(b, args.topic or topics.DEAD_LETTER, args.examples)
        lines = []
        for stage, items in inspect.by_stage(groups).items():
            lines.append(f"{stage}: {sum(g.count for g in items)}")
            for g in items:
                lines.append(f"  {g.count:>7}  {g.reason}")
                lines += [f"           e.g. {e['source']}: {e['reason']}" for e in g.examples]
        emit(args, [dataclasses.asdict(g) for g in groups], "\n".join(lines) or "no dead letters")
        return Exit.OK
    if args.what == "lag":
        rows = await inspect.lags(b, args.checkpoint)
        table = [f"{'consumer':<40} {'state':<16} {'topic':<28} {'part':>4} {'position':>9} {'end':>9} {'lag':>7}"]
        table += [
            f"{r.consumer[:40]:<40} {r.state[:16]:<16} {r.topic:<28} {r.partition:>4} "
            f"{r.position if r.position is not None else '-':>9} {r.end:>9} {r.lag if r.lag is not None else '-':>7}"
            for r in rows
        ]
        emit(args, [dataclasses.asdict(r) | {"lag": r.lag} for r in rows], "\n".join(table))
        return Exit.OK
    if not args.station:
        raise Refused("inspect station needs a station id")
    history, unreadable = await inspect.station_history(
        b, args.station, args.topic or topics.CLEAN, args.every_partition
    )
    lines = [
        f"{r.event_time.isoformat()}  {r.kind:<5} bike {r.bike_id or '-':<8} x{r.count}  {r.event_id}  {r.where}"
        for r in history
    ]
    lines.append(
        f"{len(history)} events of station {args.station}"
        + (f"; {unreadable} unreadable records" if unreadable else "")
    )
    emit(args, [dataclasses.asdict(r) for r in history], "\n".join(lines))
    return Exit.PARTIAL if unreadable else Exit.OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(os.environ.get("BIKESHARE_LOG_LEVEL", "INFO"), "text")
    if not args.bootstrap:
        logger.error("no Kafka cluster: pass --bootstrap host:port or set BIKESHARE_KAFKA_BOOTSTRAP_SERVERS")
        return Exit.BAD_INPUT
    try:
        return asyncio.run(run(args))
    except Refused as exc:
        logger.error("refused: %s", exc)
        return exc.code
    except (KafkaConnectionError, TimeoutError) as exc:
        logger.error("kafka at %s is unreachable (%s); start it (`./dev up`) or fix --bootstrap", args.bootstrap, exc)
        return Exit.UNREACHABLE
    except KafkaError as exc:
        logger.error("kafka at %s refused the request: %s", args.bootstrap, exc)
        return Exit.UNREACHABLE


if __name__ == "__main__":
    sys.exit(main())
