"""Accuracy on real Manhattan addresses with published coordinates (`data/reference/manhattan_test_addresses.csv`,
each row names its source), offline, within 160 m (two short blocks).

Group `rules`: addresses on avenues and numbered streets (the key-number and crosstown rules). Group `named`:
Wall St, Lower Broadway, the Bowery, Rockefeller Plaza ... (NYC building points, `shared/geo/named.py`).
Held out: no address of the set is itself a point of the offline tables (checked below, independently of the
project's street normalisation). Run with `-s` to see the figures and every miss.
"""

from __future__ import annotations

import csv
import math
import re
from functools import cache
from pathlib import Path

import pytest

from shared.geo import Geocoder, Rejection

REFERENCE = Path(__file__).resolve().parents[2] / "data" / "reference"
ADDRESSES = REFERENCE / "manhattan_test_addresses.csv"
WITHIN_M = 160


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(b[1] - a[1]) / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def rows(group: str | None = None) -> list[dict[str, str]]:
    with ADDRESSES.open(newline="") as f:
        return [r for r in csv.DictReader(f) if group is None or r["group"] == group]


@cache
def misses() -> dict[str, str]:
    """address -> why it missed, over the whole set (printed once with `-s`)."""
    geocoder = Geocoder()
    out = {}
    for row in rows():
        answer = geocoder.geocode(row["address"])
        truth = (float(row["lat"]), float(row["lon"]))
        if isinstance(answer, Rejection):
            out[row["address"]] = f"{row['what']}: not resolved: {answer.error}"
            continue
        error = haversine_m((answer.lat, answer.lon), truth)
        if error > WITHIN_M:
            out[row["address"]] = f"{row['what']}: {error:.0f} m off by {answer.method} ({answer.label})"
    for group in ("rules", "named", None):
        chosen = rows(group)
        hits = sum(r["address"] not in out for r in chosen)
        print(f"\n{group or 'overall'}: {hits}/{len(chosen)} = {hits / len(chosen):.1%} within {WITHIN_M} m")  # noqa: T201
    for address, why in out.items():
        print("  miss:", address, "-", why)  # noqa: T201
    return out


def share(group: str | None) -> float:
    chosen = rows(group)
    return sum(r["address"] not in misses() for r in chosen) / len(chosen)


def test_the_set_is_large_named_and_sourced() -> None:
    assert len(rows("rules")) >= 40
    assert len(rows("named")) >= 25
    assert all(r["source"].strip() for r in rows())
    assert len({r["address"] for r in rows()}) == len(rows())


def test_rules_group_at_least_95_percent() -> None:
    assert share("rules") >= 0.95, misses()


def test_named_group_at_least_80_percent() -> None:
    assert share("named") >= 0.80, misses()


def test_overall_at_least_90_percent() -> None:
    assert share(None) >= 0.90, misses()


@pytest.mark.xfail(
    strict=True,
    reason="the issue's 95 % overall is not reached offline: One WTC (285 Fulton St), 7 WTC (250 Greenwich St), "
    "1 Centre St, 15 Park Row and 54 Pearl St have no building points near them (README 'Accuracy')",
)
def test_overall_at_least_95_percent() -> None:
    assert share(None) >= 0.95, misses()


def _key(address: str) -> tuple[int, str]:
    """(number, first word of the street) in the source's spelling, e.g. '11 Wall St' -> (11, 'WALL')."""
    number, street = address.upper().split(" ", 1)
    words = [w for w in re.split(r"[\s.]+", street) if w]  # "EAST BROADWAY" stays apart from "BROADWAY"
    first = {"CENTER": "CENTRE", "PENNSYLVANIA": "PENN"}.get(words[0], words[0])
    return int(number), first


def test_held_out_no_test_address_is_an_anchor() -> None:
    tested = {_key(r["address"]) for r in rows("named")}
    with (REFERENCE / "manhattan_address_points.csv").open(newline="") as f:
        points = {_key(r["address"]) for r in csv.DictReader(f) if re.match(r"^\d+ \D", r["address"])}
    with (REFERENCE / "manhattan_named_street_anchors.csv").open(newline="") as f:
        anchors = {(int(r["house"]), r["street"].upper().split()[0]) for r in csv.DictReader(f)}
    assert tested.isdisjoint(points), tested & points
    assert tested.isdisjoint(anchors), tested & anchors
