"""New York street-name normalisation: one canonical `Street` for every way of writing a street.

`W 52 St`, `West 52nd Street` and `w. fifty-second st` are the same street; `6 Ave`, `Sixth Avenue`
and `Avenue of the Americas` the same avenue. Station names of the catalogue and user input go through
the same function, so the gazetteer and the rules meet on one key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["street", "avenue", "named"]

_ORDINAL_WORDS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12,
}  # fmt: skip
_NUMBER = re.compile(r"^(\d{1,3})(?:st|nd|rd|th)?$")
_DIRECTIONS = {"e": "E", "east": "E", "w": "W", "west": "W", "n": "N", "north": "N", "s": "S", "south": "S"}
_TYPES = {
    "st": "St", "str": "St", "stret": "St", "street": "St", "ave": "Ave", "av": "Ave", "avenue": "Ave", "avn": "Ave",
    "blvd": "Blvd", "boulevard": "Blvd", "pl": "Pl", "place": "Pl", "dr": "Dr", "drive": "Dr", "rd": "Rd",
    "road": "Rd", "sq": "Sq", "square": "Sq", "pkwy": "Pkwy", "parkway": "Pkwy", "ter": "Ter",
    "terrace": "Ter", "ln": "Ln", "lane": "Ln", "plz": "Plz", "plaza": "Plz", "ct": "Ct", "court": "Ct",
    "slip": "Slip", "hwy": "Hwy", "highway": "Hwy", "row": "Row", "way": "Way", "loop": "Loop",
}  # fmt: skip
_ORDINAL_AVENUE = {1: "1st", 2: "2nd", 3: "3rd"}
_AVENUE_TYPES = {"", "Ave", "Blvd", "Dr"}  # the types an avenue alias may carry (Riverside Dr, Malcolm X Blvd)

# Manhattan's avenues under every other name, as canonical names of the key-number table.
_AVENUE_ALIASES = {
    "avenue of the americas": "6th Avenue",
    "lenox": "Lenox Avenue",
    "malcolm x": "Lenox Avenue",
    "adam clayton powell": "7th Avenue",
    "adam clayton powell jr": "7th Avenue",
    "ac powell": "7th Avenue",  # NYC DOB's own spelling ("2453 AC POWELL BOULEVARD")
    "a c powell": "7th Avenue",
    "frederick douglass": "8th Avenue",
    "fredrick douglass": "8th Avenue",  # a common misspelling, NYC DOB's too ("2070 FREDRICK DOUGLASS BOULEVARD")
    "central park west": "Central Park West",
    "central park w": "Central Park West",
    "park avenue south": "Park Avenue South",
    "park ave south": "Park Avenue South",
    "park ave s": "Park Avenue South",
    "broadway": "Broadway",
    "riverside": "Riverside Drive",
    "st nicholas": "St. Nicholas Avenue",
    "saint nicholas": "St. Nicholas Avenue",
    "fort washington": "Fort Washington Avenue",
    "ft washington": "Fort Washington Avenue",
    "west end": "West End Avenue",
    "loisaida": "Avenue C",  # designated Loisaida Avenue in 1987 (Wikipedia "Avenue C (Manhattan)")
    "east end": "East End Avenue",
}
_NAMED_AVENUES = {
    "amsterdam", "audubon", "columbus", "convent", "edgecombe", "lexington", "madison", "manhattan", "park",
    "pleasant", "vanderbilt", "wadsworth", "york",
}  # fmt: skip


@dataclass(frozen=True)
class Street:
    """A canonical street. `key` identifies it; `number`/`direction` are set for numbered streets."""

    kind: Kind
    key: str
    number: int | None = None
    direction: str = ""

    def __str__(self) -> str:
        return self.key


def _clean(text: str) -> list[str]:
    text = text.lower().replace("\u2019", "").replace("'", "")
    text = re.sub(r"[.,]", " ", text)
    text = re.sub(r"-", " ", text)
    # "E82 St", "W4 St": a direction letter run into the street number (NYC DOB writes "325 E48 ST")
    text = re.sub(r"\b([ew])(\d{1,3}(?:st|nd|rd|th)?)\b", r"\1 \2", text)
    return text.split()


def _ordinal(token: str) -> int | None:
    if token in _ORDINAL_WORDS:
        return _ORDINAL_WORDS[token]
    match = _NUMBER.match(token)
    return int(match.group(1)) if match else None


def avenue_name(number: int) -> str:
    return f"{_ORDINAL_AVENUE.get(number, f'{number}th')} Avenue"


def normalise(text: str) -> Street | None:
    """The canonical street for a written street name, or None when it names no street."""
    if re.search(r"[^\w .,'\u2019\-]", text):
        return None  # markup, punctuation: not a street name
    tokens = _clean(text)
    if not tokens:
        return None
    whole = " ".join(tokens[:-1] if len(tokens) > 1 and tokens[-1] in _TYPES else tokens)
    whole = re.sub(r"^(?:av|ave) of ", "avenue of ", whole)
    # "St Nicholas Terrace" and "St Nicholas Place" are streets of their own, not St. Nicholas Avenue.
    other_type = len(tokens) > 1 and _TYPES.get(tokens[-1], "Ave") not in _AVENUE_TYPES
    if whole in _AVENUE_ALIASES and not other_type:
        return Street("avenue", _AVENUE_ALIASES[whole])
    if whole in ("w broadway", "west broadway"):
        return Street("named", "West Broadway")
    if whole in ("e broadway", "east broadway"):
        return Street("named", "East Broadway")  # the Lower East Side's own street, not Broadway
    direction = ""
    if len(tokens) > 1 and tokens[0] in _DIRECTIONS and not (tokens[0] in ("n", "s") and len(tokens) == 2):
        direction = _DIRECTIONS[tokens[0]]
        tokens = tokens[1:]
    street_type = ""
    if len(tokens) > 1 and tokens[-1] in _TYPES:
        street_type = _TYPES[tokens[-1]]
        tokens = tokens[:-1]
    elif len(tokens) > 1 and tokens[0] in ("ave", "av", "avenue") and len(tokens) == 2 and len(tokens[1]) == 1:
        return Street("avenue", f"Avenue {tokens[1].upper()}")  # Avenue A..D
    if tokens[-1] in ("w", "west", "s", "south", "e", "east") and len(tokens) > 1:
        trailing = _DIRECTIONS[tokens[-1]]
        rest = " ".join(tokens[:-1]).replace("avenue", "ave")
        if rest == "central park" and trailing == "W":
            return Street("avenue", "Central Park West")
        if rest == "central park" and trailing == "S":
            return Street("street", "W 59 St", 59, "W")  # Central Park South is West 59th Street
        if rest == "park ave" and trailing == "S":
            return Street("avenue", "Park Avenue South")
    name = " ".join(tokens)
    if len(tokens) == 1 and (number := _ordinal(tokens[0])) is not None:
        if street_type == "St" or (not street_type and direction in ("E", "W")):
            return Street("street", f"{direction} {number} St".strip(), number, direction)
        if street_type == "Ave":
            return Street("avenue", avenue_name(number))
    if street_type == "Ave" and name in _NAMED_AVENUES:
        return Street("avenue", f"{name.title()} Avenue")
    for alias, canonical in _AVENUE_ALIASES.items():
        with_type = f"{name} {street_type.lower()}".strip()
        if (name == alias and street_type in _AVENUE_TYPES) or with_type == alias:
            return Street("avenue", canonical)
    if street_type == "Ave" and len(tokens) == 1 and len(tokens[0]) == 1:
        return Street("avenue", f"Avenue {tokens[0].upper()}")
    key = " ".join(part for part in (direction, name.title(), street_type) if part)
    return Street("named", key)
