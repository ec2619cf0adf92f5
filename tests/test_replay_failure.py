"""`./dev replay` exits non-zero when a service fails, says which and why, and still stops everything."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from devstack import paths

pytestmark = pytest.mark.stack

TRIPS = (
    "ride_id,rideable_type,started_at,ended_at,start_station_name,start_station_id,end_station_name,"
    "end_station_id,start_lat,start_lng,end_lat,end_lng,member_casual\n"
    "R1,classic_bike,2024-09-01 08:00:00,2024-09-01 08:20:00,Vernon Blvd & 50 Ave,6170.02,"
    "Driggs Ave & Lorimer St,5481.04,40.74232744,-73.95411749,40.72179134,-73.9504154,member\n"
)


def test_a_sink_that_cannot_start_fails_the_replay(tmp_path: Path) -> None:
    trips = tmp_path / "trips.csv"
    trips.write_text(TRIPS)
    missing = tmp_path / "no-such-catalogue.json"
    out = tmp_path / "out"
    env = {**os.environ, "BIKESHARE_STATION_CATALOGUE": str(missing)}
    done = subprocess.run(
        [str(paths.ROOT / "dev"), "replay", str(trips), "--out", str(out), "--timeout", "300"],
        cwd=paths.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 1, done.stderr[-3000:]
    assert "spark_sink failed" in done.stderr
    assert str(missing) in done.stderr  # the sink's own log line, printed by the replay
    summary = json.loads((out / "summary.json").read_text())
    assert summary["services"]["spark_sink"].startswith("exited with code")
    assert summary["services"]["producer"] == "ok"
    assert (out / "logs" / "spark_sink.log").exists()
    leftovers = subprocess.run(["pgrep", "-f", f"replay.*{tmp_path.name}"], capture_output=True, check=False)
    assert leftovers.stdout == b""
