"""Numbered-street house numbers placed from known buildings of the neighbouring streets.

On the grid a crosstown number says how far the building is from Fifth Avenue (or Central Park West), and
the avenues are straight lines, so the buildings numbered 601 on West 176th, 177th and 178th Streets stand
one above the other. Where the arithmetic of `rules.py` has no anchor (west of Broadway above 155th St, east
of Pleasant Avenue) or is known only roughly, the NYC DOB building points of the street itself and of the
streets up to `REACH` blocks away give the crosstown position `v` of a number: interpolated between the two
nearest known numbers around it (at most `MAX_GAP` apart), placed on the street's own line `u` (from its known
buildings nearest in number, else the fitted grid). Only where the streets run with the grid: 14th St to Dyckman St
(~200th). Measured leave-one-out over the table's numbered-street buildings (`tests/unit/test_geo_named.py`,
figures in the README): better than the crosstown rule on the same buildings, so it answers before the rule.
"""

from __future__ import annotations

from shared.geo.frame import from_grid, to_grid
from shared.geo.grid import Grid
from shared.geo.named import Found, Table, street_key
from shared.geo.rules import NoRule, crosstown_anchors
from shared.geo.streets import Street

FIRST_STREET = 14  # below 14th St the Village's numbered streets bend: buildings of the next street mislead
LAST_STREET = 199  # above Dyckman St (~200th) Inwood's streets leave the grid's direction (W 204th runs diagonally)
REACH = 2  # streets either side: ~160 m, within which a diagonal avenue moves little across the grid
MAX_GAP = 100  # numbers between the two known ones: one avenue block
PRECISION_M = 80.0

Known = tuple[int, int, float, float]  # house number, streets away, u, v


def _system(number: int, direction: str) -> tuple[tuple[int, str], ...] | None:
    try:
        return crosstown_anchors(number, direction)
    except NoRule:
        return None


def _known(table: Table, street: Street) -> list[Known]:
    assert street.number is not None
    system = _system(street.number, street.direction)
    out: list[Known] = []
    for away in range(-REACH, REACH + 1):
        n = street.number + away
        # Only streets numbered from the same avenue: West 108th St counts from Central Park West, West 112th
        # from Fifth Avenue, so their 300s stand three avenues apart.
        if n < 1 or _system(n, street.direction) != system:
            continue
        numbers = table.get(street_key(Street("street", f"{street.direction} {n} St", n, street.direction)), {})
        out.extend((house, abs(away), *to_grid(p.lat, p.lon)) for house, p in numbers.items())
    return out


def across_streets(table: Table, grid: Grid, house: int, street: Street) -> Found | None:
    """`house` on numbered `street` from the buildings of it and its neighbours, or None without two known
    numbers close around it."""
    if street.kind != "street" or street.number is None or street.direction not in ("E", "W"):
        return None
    if not FIRST_STREET <= street.number <= LAST_STREET:
        return None
    known = _known(table, street)
    # The nearest number on each side; of equal numbers the one on the nearest street.
    below = max((k for k in known if k[0] <= house), key=lambda k: (k[0], -k[1]), default=None)
    above = min((k for k in known if k[0] >= house), key=lambda k: (k[0], k[1]), default=None)
    if below is None or above is None or above[0] - below[0] > MAX_GAP:
        return None
    t = 0.0 if above[0] == below[0] else (house - below[0]) / (above[0] - below[0])
    v = below[3] + (above[3] - below[3]) * t
    lat, lon = from_grid(_own_u(known, house) or grid.street_u(street.number), v)
    label = f"{house} {street} (between {below[0]} and {above[0]} of the streets around)"
    return Found(lat, lon, "named_street", PRECISION_M, label)


def _own_u(known: list[Known], house: int) -> float | None:
    """The street's own line `u` at `house`: from its known buildings nearest in number (interpolated between
    the nearest below and above), which follows a street that bends (125th St west of Amsterdam Avenue) and
    corrects the fitted grid where it strays (above 155th St); None without any."""
    own = sorted((k[0], k[2]) for k in known if k[1] == 0)
    if not own:
        return None
    below = [k for k in own if k[0] <= house]
    above = [k for k in own if k[0] >= house]
    if below and above and above[0][0] != below[-1][0]:
        (n0, u0), (n1, u1) = below[-1], above[0]
        return u0 + (u1 - u0) * (house - n0) / (n1 - n0)
    return (below[-1] if below else above[0])[1]
