"""The offline house-number rules of Manhattan: which cross street (or which avenue) a number is at.

* Avenue addresses: the key-number rule, house / divisor + key = the (fractional) cross street, from
  `data/reference/manhattan_avenue_key_numbers.csv`, overridden where it is known wrong by
  `manhattan_avenue_exceptions.csv` (1 Park Avenue).
* Numbered-street addresses: numbers rise by 100 per avenue block away from Fifth Avenue (East Side;
  West Side below 59th and above 110th St, there out to Amsterdam Avenue and Broadway) or from Central Park
  West (West Side 60th-110th St).
  Below 14th St the rule holds only near Fifth Avenue (the Village's streets bend), so there it is used
  only for numbers under 100 on the West Side and not at all below 8th St.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[2] / "data" / "reference"

# (house number, avenue) anchors: the number at which a crosstown street meets each avenue.
# East of 1st Avenue the 500s are at York Avenue (from 60th St up) or Avenue A (up to 14th St), the 600s at
# Avenue B and so on (../shared/GEOCODING-FACTS.md); at any street only one of York and Avenue A runs. In East
# Harlem the avenue block east of 1st Avenue ends at Pleasant Avenue (114th-120th St), the next 100: the 500s.
EAST = ((1, "5th Avenue"), (50, "Madison Avenue"), (100, "Park Avenue"), (140, "Lexington Avenue"),
        (200, "3rd Avenue"), (300, "2nd Avenue"), (400, "1st Avenue"), (500, "York Avenue"), (500, "Avenue A"),
        (500, "Pleasant Avenue"), (600, "Avenue B"), (700, "Avenue C"), (800, "Avenue D"))  # fmt: skip
WEST_MIDTOWN = ((1, "5th Avenue"), (100, "6th Avenue"), (200, "7th Avenue"), (300, "8th Avenue"),
                (400, "9th Avenue"), (500, "10th Avenue"), (600, "11th Avenue"))  # fmt: skip
WEST_UPPER = ((1, "Central Park West"), (100, "Columbus Avenue"), (200, "Amsterdam Avenue"),
              (300, "West End Avenue"))  # fmt: skip
# From 110th St (Cathedral Parkway, Central Park North) up the numbers again count 100 per avenue line from Fifth
# Avenue, as in Midtown: 300 at the 8th Avenue line, 500 at the 10th (Amsterdam) and 600 at the 11th, which
# Broadway follows from 107th St north (West End Avenue merges into it there). The 9th Avenue line (400) has no
# avenue of its own up here (Manhattan Ave, Morningside Ave, Convent Ave are short and bend), so 300-500 is one
# straight stretch. Without Amsterdam and Broadway every address west of 8th Ave (Morningside Heights,
# Manhattanville, Hamilton Heights) was refused. The point table's building at 601 W 110th St, by Broadway, is
# where this numbering puts it (from Central Park West it would be past Riverside Drive).
WEST_HARLEM = ((1, "5th Avenue"), (100, "Lenox Avenue"), (200, "7th Avenue"), (300, "8th Avenue"),
               (500, "Amsterdam Avenue"), (600, "Broadway"))  # fmt: skip
# Washington Heights (W 155th-192nd St): Broadway bends away west of the 11th Avenue line (+280 m from Amsterdam at
# 160th St, +590 m at 190th), but the house numbers stay on the lines: measured on the point table's 83 DOB
# buildings of W 155th-192nd St numbered 500-899 (v - Amsterdam's v, medians): the 600s start ~315 m west of
# Amsterdam, the 700s ~510 m, the 800s ~740 m. "Avenue+metres" names a line that far west of the avenue.
HEIGHTS_FROM, HEIGHTS_TO = 155, 192
WEST_HEIGHTS = (*WEST_HARLEM[:-1], (600, "Amsterdam Avenue+315"), (700, "Amsterdam Avenue+510"),
                (800, "Amsterdam Avenue+740"))  # fmt: skip


# Where an avenue does not run, a segment of the key table cannot put a number: 7th Avenue stops at Central Park
# (59th St) and goes on as Adam Clayton Powell Jr Blvd from 110th St, whose numbers start at 1800 (1800 / 20 + 20
# = 110); the chart's first segment ("1-1800, +12") would put 1800 at 102nd St, inside the park.
_NOT_ON_AVENUE = {"7th Avenue": (59.5, 109.5)}


class NoRule(Exception):
    """No house-number rule covers this address; the message says why (shown to the user)."""


@dataclass(frozen=True)
class KeyRow:
    avenue: str
    house_from: int
    house_to: int | None
    divisor: int | None
    key: int | None


def _canonical(avenue: str) -> str:
    # "6th Avenue / Avenue of the Americas", "7th Avenue (Adam Clayton Powell Jr Blvd)" -> the first name
    return avenue.split(" / ")[0].split(" (")[0].strip()


def load_key_numbers(path: Path = REFERENCE / "manhattan_avenue_key_numbers.csv") -> list[KeyRow]:
    with path.open(newline="") as f:
        return [
            KeyRow(
                _canonical(row["avenue"]),
                int(row["house_from"]),
                int(row["house_to"]) if row["house_to"] else None,
                int(row["divisor"]) if row["divisor"] else None,
                int(row["key"]) if row["key"] else None,
            )
            for row in csv.DictReader(f)
        ]


KnownException = tuple[str, int, int, float, float]  # avenue, first and last number, cross street at each


def load_exceptions(path: Path = REFERENCE / "manhattan_avenue_exceptions.csv") -> list[KnownException]:
    with path.open(newline="") as f:
        return [
            (
                r["avenue"],
                int(r["house_from"]),
                int(r["house_to"]),
                float(r["street_at_from"]),
                float(r["street_at_to"]),
            )
            for r in csv.DictReader(f)
        ]


class AvenueRule:
    def __init__(self) -> None:
        self._rows = load_key_numbers()
        self._exceptions = load_exceptions()
        self.avenues = {row.avenue for row in self._rows}

    def cross_street(self, avenue: str, house: int) -> float:
        """The fractional cross street of `house` on `avenue` (33.5: midway between 33rd and 34th)."""
        for name, first, last, at_first, at_last in self._exceptions:
            if name == avenue and first <= house <= last:
                return at_first + (at_last - at_first) * (house - first) / (last - first)
        rows = [r for r in self._rows if r.avenue == avenue]
        if not rows:
            raise NoRule(f"no house-number rule for {avenue}; enter the nearest cross street, such as {avenue} & 20 St")
        gap = _NOT_ON_AVENUE.get(avenue)
        for row in rows:
            if row.house_from <= house and (row.house_to is None or house <= row.house_to):
                if row.divisor is None or row.key is None:
                    raise NoRule(
                        f"{house} {avenue} has no house-number rule (below 8th St); "
                        f"enter the nearest cross street, such as {avenue} & Houston St"
                    )
                street = house / row.divisor + row.key
                later = [r for r in rows if r.house_from > row.house_from and r.divisor and r.key is not None]
                if gap and gap[0] < street < gap[1] and later:
                    return house / later[0].divisor + later[0].key  # type: ignore[operator]
                return street
        raise NoRule(f"{avenue} has no house number {house}")


def crosstown_anchors(street: int, direction: str) -> tuple[tuple[int, str], ...]:
    """The anchors of a numbered street, or NoRule where Manhattan's numbering is irregular."""
    if direction not in ("E", "W"):
        raise NoRule(f"say East or West: {street} Street runs on both sides of Fifth Avenue")
    if street < 8:
        raise NoRule(
            f"{direction} {street} St has no house-number rule (the Village); enter the nearest cross street, "
            f"such as {direction} {street} St & 2 Ave"
        )
    if direction == "E":
        return EAST
    if 60 <= street < 110:
        return WEST_UPPER
    if HEIGHTS_FROM <= street <= HEIGHTS_TO and direction == "W":
        return WEST_HEIGHTS
    return WEST_HARLEM if street >= 110 else WEST_MIDTOWN


def crosstown_limit(street: int, direction: str) -> int | None:
    """The highest house number the rule trusts on this street (None: no limit)."""
    return 99 if street < 14 and direction == "W" else None
