"""Accuracy on real Manhattan addresses with published coordinates (`data/reference/manhattan_test_addresses.csv`,
each row names its source), offline, within 160 m (two short blocks).

Group `rules`: landmarks on avenues and numbered streets (the key-number and crosstown rules). Group `named`:
landmarks on Wall St, Lower Broadway, the Bowery, Rockefeller Plaza ... (NYC building points,
`shared/geo/named.py`). Groups `dob_sample` and `dob_sample_2`: every Manhattan building of ten
16,000-character stretches of a public NYC DOB file (midtown, the East Side, Harlem, Morningside, Washington
Heights, Inwood, newer buildings all over the island), copied as the source spells them: ordinary addresses,
not famous ones. The first five stretches were read before the model and table changes of the accuracy work
(and steered which data was read), the second five after them, as a blind check; the second leaves out
buildings already in the point table, housing-project centroids shared by 3+ rows and rows without a plain
house number (its misses then steered a second round of changes). Groups `dob_sample_3` and `dob_sample_4`:
three stretches of another public DOB file (Upper East and West Side; Hamilton and Washington Heights), read
after that second round as blind checks, with the same exclusions; they are reported apart from the 1,110 the
issue's 95 % is asserted on. Held out: no address of the set is itself a point of the offline tables (checked below,
independently of the project's street normalisation, and by BIN). Run with `-s` to see the figures and every
miss.
"""

from __future__ import annotations

import csv
import math
import re
from functools import cache
from pathlib import Path

from shared.geo import Geocoder, Rejection

REFERENCE = Path(__file__).resolve().parents[2] / "data" / "reference"
ADDRESSES = REFERENCE / "manhattan_test_addresses.csv"
WITHIN_M = 160
# The set the 95 % was first measured on (1,110 addresses); `dob_sample_3` (269, Upper East and West Side)
# and `dob_sample_4` (119, Hamilton and Washington Heights) were added afterwards as blind checks of the later
# changes and are reported on their own.
SET_1110 = ("rules", "named", "dob_sample", "dob_sample_2")


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
    for group in (*SET_1110, "dob_sample_3", "dob_sample_4", "the 1,110", None):
        chosen = [r for r in rows() if r["group"] in SET_1110] if group == "the 1,110" else rows(group)
        hits = sum(r["address"] not in out for r in chosen)
        print(f"\n{group or 'overall'}: {hits}/{len(chosen)} = {hits / len(chosen):.1%} within {WITHIN_M} m")  # noqa: T201
    for address, why in out.items():
        print("  miss:", address, "-", why)  # noqa: T201
    return out


def share(group: str | None) -> float:
    chosen = rows(group)
    return sum(r["address"] not in misses() for r in chosen) / len(chosen)


def landmarks() -> float:
    chosen = [r for r in rows() if not r["group"].startswith("dob_sample")]
    return sum(r["address"] not in misses() for r in chosen) / len(chosen)


def test_the_set_is_large_named_and_sourced() -> None:
    assert len(rows("rules")) >= 40
    assert len(rows("named")) >= 25
    assert len(rows("dob_sample")) >= 500
    assert len(rows("dob_sample_2")) >= 400
    assert len(rows("dob_sample_3")) >= 250
    assert len(rows("dob_sample_4")) >= 100
    assert all(r["source"].strip() for r in rows())
    assert len({_key(r["address"]) for r in rows()}) == len(rows())  # no building twice, however it is spelled


# The floors below are the measured figures (README "Address search"), kept as regression guards.
def test_rules_group_at_least_95_percent() -> None:
    assert share("rules") >= 0.95, misses()


def test_named_group_at_least_80_percent() -> None:
    assert share("named") >= 0.80, misses()


def test_landmarks_at_least_90_percent() -> None:
    assert landmarks() >= 0.90, misses()


def test_dob_sample_at_least_95_percent() -> None:
    assert share("dob_sample") >= 0.95, misses()


def test_blind_dob_sample_at_least_90_percent() -> None:
    assert share("dob_sample_2") >= 0.90, misses()


def test_blind_third_sample_at_least_90_percent() -> None:
    assert share("dob_sample_3") >= 0.99, misses()


def test_blind_fourth_sample_at_least_97_percent() -> None:
    assert share("dob_sample_4") >= 0.97, misses()


def test_overall_at_least_95_percent() -> None:
    """The issue's bar over the set of 1,110 (README "Address search")."""
    chosen = [r for r in rows() if r["group"] in SET_1110]
    assert len(chosen) == 1110
    assert sum(r["address"] not in misses() for r in chosen) / len(chosen) >= 0.95, misses()


_WORDS = {"ST": "STREET", "STR": "STREET", "AVE": "AVENUE", "AV": "AVENUE", "E": "EAST", "W": "WEST", "PL": "PLACE",
          "BLVD": "BOULEVARD", "FIRST": "1", "SECOND": "2", "THIRD": "3", "FOURTH": "4", "FIFTH": "5", "SIXTH": "6",
          "SEVENTH": "7", "EIGHTH": "8", "NINTH": "9", "TENTH": "10", "ELEVENTH": "11", "TWELFTH": "12",
          "FT": "FORT", "CENTER": "CENTRE", "PENNSYLVANIA": "PENN"}  # fmt: skip
# a point-table address with a house number: "12 WALL STREET", and on a numbered avenue or street "1122 1 AVENUE"
_NUMBERED = re.compile(r"^\d+ (?:\D|\d+(?:ST|ND|RD|TH)? (?:AVE|AVENUE|AV|ST|STREET)\b)")


def _key(address: str) -> tuple[int, str]:
    """(number, street) in a plain spelling, e.g. '11 Wall St' -> (11, 'WALL STREET'), '5 E 47th St' and
    '5 EAST 47 STREET' -> (5, 'EAST 47 STREET')."""
    number, street = address.upper().split(" ", 1)
    words = [_WORDS.get(w, w) for w in re.split(r"[\s.]+", street) if w]
    return int(number), " ".join(re.sub(r"^(\d+)(?:ST|ND|RD|TH)$", r"\1", w) for w in words)


def test_held_out_no_test_address_is_an_anchor() -> None:
    tested = {_key(r["address"]) for r in rows()}
    with (REFERENCE / "manhattan_address_points.csv").open(newline="") as f:
        points = {_key(r["address"]) for r in csv.DictReader(f) if _NUMBERED.match(r["address"].upper())}
    with (REFERENCE / "manhattan_named_street_anchors.csv").open(newline="") as f:
        anchors = {_key(f"{r['house']} {r['street']}") for r in csv.DictReader(f)}
    assert tested.isdisjoint(points), tested & points
    assert tested.isdisjoint(anchors), tested & anchors


def test_held_out_no_sampled_building_is_in_the_point_table_under_any_address() -> None:
    """A DOB building can carry several addresses (3041 Broadway = 600 W 122nd St): the sample's BINs must not
    be in the point table at all, nor any table point stand exactly on a sampled building."""
    sample = [r for r in rows() if r["group"].startswith("dob_sample")]
    sampled = {r["what"].rsplit(" ", 1)[1] for r in sample}
    with (REFERENCE / "manhattan_address_points.csv").open(newline="") as f:
        table = {r["bin"] for r in csv.DictReader(f)}
    assert len(sampled) == len(sample)
    assert sampled.isdisjoint(table), sampled & table
    with (REFERENCE / "manhattan_address_points.csv").open(newline="") as f:
        spots = {(round(float(r["lat"]), 6), round(float(r["lon"]), 6)) for r in csv.DictReader(f)}
    on_spot = [r["address"] for r in sample if (round(float(r["lat"]), 6), round(float(r["lon"]), 6)) in spots]
    assert not on_spot, on_spot
