"""Accuracy on real Manhattan addresses with published coordinates (`data/reference/manhattan_test_addresses.csv`,
each row names its source): at least 95 % within 160 m (two short blocks) offline.

Group `rules` is addresses on avenues and numbered streets (what the offline rules cover); group `named`
(Wall St, Rockefeller Plaza, ...) has no offline rule and must be rejected with a reason, not guessed.
Run with `-s` to see the figure and every miss.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from shared.geo import Geocoder, Rejection, Result

ADDRESSES = Path(__file__).resolve().parents[2] / "data" / "reference" / "manhattan_test_addresses.csv"


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(b[1] - a[1]) / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def test_at_least_95_percent_within_160_m() -> None:
    with ADDRESSES.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["group"] == "rules"]
    geocoder = Geocoder()
    misses = []
    for row in rows:
        answer = geocoder.geocode(row["address"])
        truth = (float(row["lat"]), float(row["lon"]))
        if isinstance(answer, Rejection):
            misses.append(f"{row['address']} ({row['what']}): not resolved: {answer.error}")
            continue
        error = haversine_m((answer.lat, answer.lon), truth)
        if error > 160:
            misses.append(f"{row['address']} ({row['what']}): {error:.0f} m off by {answer.method}")
    share = 1 - len(misses) / len(rows)
    print(f"\naccuracy: {len(rows) - len(misses)}/{len(rows)} = {share:.1%} within 160 m")  # noqa: T201
    for miss in misses:
        print("  miss:", miss)  # noqa: T201
    assert len(rows) >= 40
    assert share >= 0.95, misses


def test_named_streets_are_rejected_offline_not_guessed() -> None:
    with ADDRESSES.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["group"] == "named"]
    geocoder = Geocoder()
    for row in rows:
        answer = geocoder.geocode(row["address"])
        assert isinstance(answer, Rejection), answer
        assert answer.reason == "not_found"
        assert not isinstance(answer, Result)
