"""Parse what a rider typed into a building address or a street crossing (usaddress + `streets.py`).

usaddress (a CRF model, offline) labels the parts; the labels are put back together per street and
normalised to New York's canonical names. Anything that is not "building number + street" or
"street & street" raises `BadAddress` with a sentence the web can show as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import usaddress

from shared.geo.streets import Street, normalise

MAX_QUERY = 200
EXPECTED = "Enter a building number and a street name, such as 1 Park Avenue"
_STREET_PARTS = ("StreetNamePreModifier", "StreetNamePreDirectional", "StreetNamePreType", "StreetName",
                 "StreetNamePostType", "StreetNamePostDirectional")  # fmt: skip
_BOROUGHS = {"manhattan": "Manhattan", "new york": "Manhattan", "nyc": "Manhattan", "brooklyn": "Brooklyn",
             "queens": "Queens", "bronx": "Bronx", "the bronx": "Bronx", "jersey city": "Jersey City",
             "hoboken": "Hoboken", "long island city": "Queens", "astoria": "Queens"}  # fmt: skip


# The side of a square, which usaddress sometimes takes for a building name: "30 Union Square West".
_SQUARE_SIDE = re.compile(r"^(\d{1,5})\s+([A-Za-z][A-Za-z .']*\s(?:square|sq)\.?\s(?:north|south|east|west))$", re.I)


class BadAddress(ValueError):
    """The text is not a building address or a crossing; `str()` is the message for the user."""


@dataclass(frozen=True)
class Address:
    number: int
    street: Street
    borough: str | None


@dataclass(frozen=True)
class Crossing:
    first: Street
    second: Street
    borough: str | None


def clean(text: str) -> str:
    """One line, single spaces, no control characters; BadAddress when empty or too long."""
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text)
    text = " ".join(text.split())
    if not text:
        raise BadAddress(EXPECTED)
    if len(text) > MAX_QUERY:
        raise BadAddress(f"That is longer than {MAX_QUERY} characters. {EXPECTED}.")
    return text


def _borough(parts: dict[str, str]) -> str | None:
    place = parts.get("PlaceName", "").lower().strip(" ,")
    return _BOROUGHS.get(place) if place else None


def _street(parts: dict[str, str], labels: tuple[str, ...]) -> Street | None:
    words = [parts[label] for label in labels if parts.get(label)]
    return normalise(" ".join(words)) if words else None


def _crossing(text: str) -> Crossing | None:
    """ "A & B" (also "and", "at", "@", "/"): each side normalised on its own, since usaddress often
    mistakes a numbered avenue ("1 Ave & E 94 St") for a building number."""
    head, _, place = text.partition(",")
    sides = re.split(r"\s*&\s*|\s+(?:and|at|@)\s+|\s*/\s*", head, flags=re.IGNORECASE)
    if len(sides) != 2:
        return None
    first, second = normalise(sides[0]), normalise(sides[1])
    if first is None or second is None:
        raise BadAddress(f"{EXPECTED}, or two crossing streets, such as W 52 St & 11 Ave.")
    borough = _BOROUGHS.get(place.split(",")[0].strip().lower()) if place else None
    return Crossing(first, second, borough)


def parse(text: str) -> Address | Crossing:
    text = clean(text)
    crossing = _crossing(text)
    if crossing is not None:
        return crossing
    try:
        tagged, kind = usaddress.tag(text)
    except usaddress.RepeatedLabelError:
        raise BadAddress(f"{EXPECTED}.") from None
    parts = {label: value.strip(" ,") for label, value in tagged.items()}
    if kind != "Street Address" or "AddressNumber" not in parts:
        side = _SQUARE_SIDE.match(text.partition(",")[0].strip())
        if side is not None and (street := normalise(side.group(2))) is not None and int(side.group(1)) > 0:
            return Address(int(side.group(1)), street, None)  # usaddress reads "30 Union Square West" as a name
        raise BadAddress(f"{EXPECTED}.")
    number = re.match(r"^(\d{1,5})(?:\s*-\s*\d+)?$", parts["AddressNumber"])
    street = _street(parts, _STREET_PARTS)
    if number is None or street is None or int(number.group(1)) == 0:
        raise BadAddress(f"{EXPECTED}.")
    return Address(int(number.group(1)), street, _borough(parts))
