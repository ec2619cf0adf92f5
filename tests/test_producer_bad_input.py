"""Hostile trip files against the real producer (SeaweedFS S3 + Kafka): each bad row is dead-lettered
with its line and reason (payload cut to a stated size), each unusable object or zip member is rejected
by name, and every valid row beside them arrives intact."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from pathlib import Path

import pytest

from devstack import provision
from devstack.stack import BUCKET, Stack
from shared import topics
from shared.limits import DEAD_LETTER_PAYLOAD_MAX, STATION_ID_MAX
from tests.conftest import read_topic, shared_file
from tests.producer_runs import corrupt_zip, decoded, expected_sides, producer_env, run_producer, trips_of

pytestmark = pytest.mark.stack

JC_2021 = ("eveshi__postpandemic-citi-bike-usage", "JC-202102-citibike-tripdata.csv")
HEADER = (
    b"ride_id,rideable_type,started_at,ended_at,start_station_name,start_station_id,end_station_name,"
    b"end_station_id,start_lat,start_lng,end_lat,end_lng,member_casual"
)


def row(ride: str, start: str = "2021-02-01 10:00:00", end: str = "2021-02-01 10:10:00", **fields: str) -> bytes:
    values = {"name": "Grove St PATH", "station": "JC005", **fields}
    return (
        f"{ride},docked_bike,{start},{end},{values['name']},{values['station']},Newport Pkwy,JC008,"
        "40.719586,-74.043117,40.7287448,-74.0321082,member"
    ).encode()


LINES: list[tuple[bytes, str | None]] = [  # (line, the dead letter's reason, or None for a good row)
    (row("G1"), None),
    (row("B1", name="Caf\xe9").replace("Caf\xe9".encode(), b"Caf\xe9"), "not UTF-8"),
    (row("B2", name="x" * 10_000_000), "longer than the limit"),
    (row("B3", "9999-12-31 23:00:00", "9999-12-31 23:30:00"), "out of range"),
    (row("G2", "2021-02-01T10:00:00+09:00", "2021-02-01T10:30:00+09:00"), None),
    (row("B4", "2099-01-01 10:00:00", "2099-01-01 10:10:00"), "is after"),
    (row("B5", name="Grove\x00St"), "control character U+0000"),
    (row("B6", station="J" * 5000), f"characters long (limit {STATION_ID_MAX})"),
    (row("G3", station="NULL"), None),
    (row("B7", name='"' + "y" * 60_000 + "\n" + "y" * 60_000 + "\n" + "y" * 60_000 + '"'), "field larger than"),
    (row("G4"), None),
]


async def test_bad_rows_and_bad_objects_never_stop_the_run(stack: Stack, tmp_path: Path) -> None:
    prefix = f"hostile-{uuid.uuid4().hex[:8]}/"
    jc = shared_file(*JC_2021)
    bad_csv = HEADER + b"\n" + b"\n".join(line for line, _ in LINES) + b"\n"
    (tmp_path / "bad-rows.csv").write_bytes(bad_csv)
    (tmp_path / "corrupt.zip").write_bytes(corrupt_zip(jc))
    no_csv = io.BytesIO()
    with zipfile.ZipFile(no_csv, "w") as z:
        z.writestr("README.txt", "no trips here")
    (tmp_path / "nocsv.zip").write_bytes(no_csv.getvalue())
    whole = io.BytesIO()
    with zipfile.ZipFile(whole, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(jc, jc.name)
    (tmp_path / "truncated.zip").write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])
    url = f"s3://{BUCKET}/{prefix}"
    await provision.ensure_bucket(
        stack.s3.endpoint,
        BUCKET,
        stack.access_key,
        stack.secret_key,
        {f"{prefix}{name}": tmp_path / name for name in ("bad-rows.csv", "corrupt.zip", "nocsv.zip", "truncated.zip")}
        | {f"{prefix}JC-202102-citibike-tripdata.csv": jc},
    )

    result = await asyncio.to_thread(
        run_producer,
        producer_env(stack, tmp_path / "checkpoints", opening_stock="false"),
        tmp_path / "producer.log",
        url,
        f"{url}deleted-before-reading.csv",
    )
    assert result.returncode == 1, result.stderr[-3000:]
    for rejected in (
        f"skipping {url}deleted-before-reading.csv",
        f"skipping {url}corrupt.zip!{jc.name}: unreadable",
        f"skipping {url}nocsv.zip: the zip holds no CSV",
        f"skipping {url}truncated.zip: not a readable zip archive",
    ):
        assert rejected in result.stderr
    assert "Traceback" not in result.stderr

    good = [line for line, reason in LINES if reason is None]
    expected = expected_sides(trips_of(jc.read_text())) | {
        (line.split(b",")[0].decode(), kind) for line in good for kind in ("start", "end")
    }
    messages = await read_topic(stack.kafka.bootstrap, topics.RAW, len(expected), containing=prefix)
    events = [e for e in decoded(messages) if "corrupt.zip" not in e["source"]]  # its rows before the damage
    assert {(e["trip_id"], e["kind"]) for e in events} == expected
    assert len(events) == len(expected)
    by_trip = {(e["trip_id"], e["kind"]): e for e in events}
    assert by_trip[("G2", "start")]["event_time"] == "2021-02-01T01:00:00Z"  # +09:00 honoured, not New York
    assert by_trip[("G3", "start")]["station_id"] is None  # "NULL" is no station, never a station called NULL
    assert by_trip[("G3", "end")]["station_id"] == "JC008"

    bad_lines = {n: reason for n, (_, reason) in enumerate(LINES, start=2) if reason is not None}
    letters = await read_topic(stack.kafka.bootstrap, topics.DEAD_LETTER, len(bad_lines), containing=prefix)
    from_bad_csv = {}
    for message in letters:
        letter = json.loads(message.value)
        assert len(message.value) < 64 * 1024
        assert len(letter["payload"]) <= DEAD_LETTER_PAYLOAD_MAX + 100
        where, _, line = letter["source"].rpartition("#")
        if where == f"{url}bad-rows.csv":
            from_bad_csv[int(line)] = letter["reason"]
    for line, reason in bad_lines.items():
        assert reason in from_bad_csv.get(line, ""), (line, reason, from_bad_csv.get(line))
    assert "\ufffd" not in json.dumps(from_bad_csv)
