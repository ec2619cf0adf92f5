"""`./dev replay` against an independent recomputation (tests/expected_model.py, plain csv).

One pipeline run (S3 -> producer -> Kafka -> enricher -> Kafka -> Spark sink -> Postgres) over every real
trip file in ../shared/data plus one small file per format era of the unit fixtures (with the autumn clock
change, a rebalanced bike, 0.0,0.0 coordinates, bad rows). Its CSVs and summary must equal, station by
station and minute by minute, what the model says the files imply: now, at the opening, and at three
moments in between."""

from __future__ import annotations

import csv
import json
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from devstack import paths
from tests.expected_catalogue import Catalogue
from tests.expected_model import Expectation, expect, moments_between
from tests.unit.trip_files import ERA_D_HEADER, TRIP_FILES

pytestmark = pytest.mark.stack

US_HEADER = (
    "tripduration,starttime,stoptime,start station id,start station name,start station latitude,"
    "start station longitude,end station id,end station name,end station latitude,end station longitude,"
    "bikeid,usertype,birth year,gender"
)
TITLE_HEADER = (
    '"Trip Duration","Start Time","Stop Time","Start Station ID","Start Station Name","Start Station Latitude",'
    '"Start Station Longitude","End Station ID","End Station Name","End Station Latitude",'
    '"End Station Longitude","Bike ID","User Type","Birth Year","Gender"'
)
ERA_E_HEADER = (
    "ride_id,rideable_type,started_at,ended_at,start_station_name,start_station_id,end_station_name,"
    "end_station_id,start_lat,start_lng,end_lat,end_lng,member_casual"
)
ERA_FIXTURES = {
    # 2014-2016: US-style times; bike 18660 arrives at 265, then is seen leaving 72 (rebalanced).
    "era-us.csv": [
        US_HEADER,
        "1380,1/1/2015 0:01,1/1/2015 0:24,455,1 Ave & E 44 St,40.75001986,-73.96905301,265,"
        "Stanton St & Chrystie St,40.72229346,-73.99147535,18660,Subscriber,1960,2",
        "600,1/1/2015 9:00,1/1/2015 9:10,72,W 52 St & 11 Ave,40.76727216,-73.99392888,505,"
        "6 Ave & W 33 St,40.74901271,-73.98848395,18660,Subscriber,1960,2",
        "300,1/1/2015 0:30,1/1/2015 0:35,265,Stanton St & Chrystie St,40.72229346,-73.99147535,455,"
        "1 Ave & E 44 St,40.75001986,-73.96905301,20000,Customer,,0",
        "300,1/1/2015 0:30,1/1/2015 0:35,265",  # wrong field count
    ],
    # 2016-10..2017-03: title-case headers; an 80-minute ride across the 2016 autumn clock change, then the
    # same bike leaves again at 01:50 in the repeated hour's second pass; an unknown station at 0.0,0.0.
    "era-title.csv": [
        TITLE_HEADER,
        "4800,2016-11-06 01:20:00,2016-11-06 01:40:00,471,Grand St & Havemeyer St,40.71286844,-73.95698119,"
        "3077,Stagg St & Union Ave,40.70877084,-73.95095259,25254,Subscriber,1992,1",
        "1200,2016-11-06 01:50:00,2016-11-06 02:10:00,3077,Stagg St & Union Ave,40.70877084,-73.95095259,"
        "471,Grand St & Havemeyer St,40.71286844,-73.95698119,25254,Subscriber,1992,1",
        "700,2016-11-06 09:00:00,2016-11-06 09:11:40,471,Grand St & Havemeyer St,40.71286844,-73.95698119,"
        "99999,Nowhere,0.0,0.0,25300,Subscriber,1980,2",
    ],
    # 2017-2020 quoted lower case: a trip without an end station, one that ends before it starts.
    "era-d.csv": [
        ERA_D_HEADER,
        '300,"2019-06-01 08:00:00.0000","2019-06-01 08:05:00.0000",72,"W 52 St & 11 Ave",40.76727216,'
        '-73.99392888,,"",,,31956,"Subscriber",1992,1',
        '300,"2019-06-01 09:00:00.0000","2019-06-01 08:05:00.0000",72,"W 52 St & 11 Ave",40.76727216,'
        '-73.99392888,505,"6 Ave & W 33 St",40.74901271,-73.98848395,31957,"Subscriber",1992,1',
        '300,"2019-06-01 10:00:00.0000","2019-06-01 10:05:00.0000",505,"6 Ave & W 33 St",40.74901271,'
        '-73.98848395,72,"W 52 St & 11 Ave",40.76727216,-73.99392888,31958,"Subscriber",1992,1',
    ],
    # 2021 on: e-bikes, real one-decimal short names (3593.1 stays, 5359.1 is 5359.10), the 2021 clock
    # change without a duration, a departure without a station.
    "era-e.csv": [
        ERA_E_HEADER,
        "F1,electric_bike,2021-11-07 01:50:00,2021-11-07 01:10:00,Flatbush Ave & Lincoln Rd,3593.1,"
        "Hudson St & Reade St,5359.1,40.66131,-73.96091,40.71625,-74.00910,member",
        "F2,classic_bike,2021-11-07 09:00:00,2021-11-07 09:20:00,Hudson St & Reade St,5359.10,"
        "Flatbush Ave & Lincoln Rd,3593.1,40.71625,-74.00910,40.66131,-73.96091,casual",
        "F3,electric_bike,2021-11-07 10:00:00,2021-11-07 10:20:00,,,W 52 St & 11 Ave,6926.01,"
        "40.7,-74.0,40.76727216,-73.99392888,member",
    ],
}


@dataclass(frozen=True)
class Replayed:
    model: Expectation
    out: Path
    moments: list[datetime]
    summary: dict[str, Any]


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as fh:
        return {row["station_id"]: row for row in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    here = tmp_path_factory.mktemp("replay")
    fixtures = []
    for name, lines in ERA_FIXTURES.items():
        (here / name).write_text("\n".join(lines) + "\n")
        fixtures.append(here / name)
    files = [*TRIP_FILES.values(), *fixtures]
    model = expect(files)
    assert len({e.event_id for e in model.events}) == len(model.events), "the files repeat a trip"
    opening = min(e.time for e, _ in model.clean)
    moments = [opening, *moments_between(model)]
    out = here / "out"
    argv = [str(paths.ROOT / "dev"), "replay", *map(str, files), "--out", str(out)]
    for moment in moments:
        argv += ["--at", moment.isoformat()]
    done = subprocess.run(argv, cwd=paths.ROOT, capture_output=True, text=True, timeout=1200, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    return Replayed(model, out, moments, json.loads((out / "summary.json").read_text()))


def expected_rows(model: Expectation, state: dict[str, tuple[int, int]]) -> dict[str, tuple[Any, ...]]:
    catalogue = Catalogue()
    rows = {}
    for station, (bikes, ebikes) in state.items():
        known = catalogue.stations.get(station)
        capacity = None if known is None else known.capacity
        docks = None if capacity is None else max(capacity - bikes, 0)
        rows[station] = (bikes, ebikes, capacity, docks)
    return rows


def got_rows(table: dict[str, dict[str, str]]) -> dict[str, tuple[Any, ...]]:
    def number(text: str) -> int | None:
        return None if text == "" else int(text)

    return {s: tuple(number(r[c]) for c in ("bikes", "ebikes", "capacity", "docks")) for s, r in table.items()}


def test_bikes_docks_and_ebikes_per_station_follow_the_model(replayed: Replayed) -> None:
    table = read_csv(replayed.out / "availability.csv")
    assert got_rows(table) == expected_rows(replayed.model, replayed.model.state_at())
    catalogue = Catalogue()
    for station, row in table.items():  # catalogue stations carry the catalogue's name and position
        if (known := catalogue.stations.get(station)) is not None:
            assert (row["name"], float(row["lat"]), float(row["lon"])) == (known.name, known.lat, known.lon)


def test_the_state_at_the_opening_and_three_moments_between_follows_the_model(replayed: Replayed) -> None:
    assert set(replayed.summary["at"]) == {m.isoformat() for m in replayed.moments}
    for moment in replayed.moments:
        table = read_csv(replayed.out / replayed.summary["at"][moment.isoformat()])
        expected = expected_rows(replayed.model, replayed.model.state_at(moment))
        assert got_rows(table) == expected, f"state at {moment.isoformat()}"
    opening = read_csv(replayed.out / replayed.summary["at"][replayed.moments[0].isoformat()])
    assert sum(int(r["bikes"]) for r in opening.values()) > 100, "opening stock populates the first minute"


def test_trips_per_new_york_minute(replayed: Replayed) -> None:
    with (replayed.out / "frequency.csv").open(newline="") as fh:
        got = {datetime.fromisoformat(r["minute"]): int(r["amount"]) for r in csv.DictReader(fh)}
    assert got == dict(replayed.model.trips_per_minute())
    offsets = {m.utcoffset() for m in got}
    assert {o.total_seconds() for o in offsets if o is not None} == {-5 * 3600, -4 * 3600}


def test_summary_counts_rows_events_dead_letters_and_unmatched_stations(replayed: Replayed) -> None:
    model, summary = replayed.model, replayed.summary
    assert summary["rows"] == model.rows
    assert summary["trips"] == model.trips
    assert summary["stock_events"] == len(model.stock)
    assert summary["events_published"] == 2 * model.trips + len(model.stock)
    assert summary["records"] == len(model.clean)
    assert summary["stations"] == len(model.stations)
    catalogue = Catalogue()
    unmatched = sorted(s for s in model.stations if s not in catalogue.stations)
    assert summary["unmatched_station_ids"] == unmatched
    assert summary["unmatched_stations"] == len(unmatched)
    assert summary["dead_letters"] == {"producer": dict(model.bad_rows), "enricher": dict(model.enricher_dead)}
    assert summary["rebalanced"] == model.rebalanced() > 0
    assert summary["services"] == {"producer": "ok", "enricher": "ok", "spark_sink": "ok"}
    examples = summary["dead_letter_examples"].values()
    assert any("(0.0, 0.0)" in reason for reason in examples), "0.0,0.0 is reported as such"


def test_one_dock_keeps_one_id_across_eras(replayed: Replayed) -> None:
    stations = read_csv(replayed.out / "availability.csv")
    assert "72" not in stations  # 2018's "W 52 St & 11 Ave" is the catalogue's 6926.01
    assert {"6926.01", "3593.1", "5359.10"} <= set(stations)
    assert "3593.10" not in stations  # not a catalogue station: 3593.1 was never renamed into it


def test_the_autumn_clock_change_keeps_true_times(replayed: Replayed) -> None:
    with (replayed.out / "frequency.csv").open(newline="") as fh:
        minutes = {r["minute"]: int(r["amount"]) for r in csv.DictReader(fh)}
    # 01:20 EDT (an 80-minute ride), then the same bike at 01:50 EST, after it arrived at 01:40 EST.
    assert minutes["2016-11-06T01:20:00-04:00"] == 1
    assert minutes["2016-11-06T01:50:00-05:00"] == 1
    assert "2016-11-06T01:50:00-04:00" not in minutes
    assert minutes["2021-11-07T01:50:00-04:00"] == 1  # no duration in 2021+: the end is read in the second pass
