"""The address parser: what it accepts (normalised to New York's canonical names) and what it rejects."""

from __future__ import annotations

import pytest

from shared.geo.parse import EXPECTED, Address, BadAddress, Crossing, parse
from shared.geo.streets import normalise


@pytest.mark.parametrize(
    ("text", "number", "street", "borough"),
    [
        ("1 Park Avenue", 1, "Park Avenue", None),
        ("1 Park Avenue, New York, NY 10016", 1, "Park Avenue", "Manhattan"),
        ("350 5th Ave", 350, "5th Avenue", None),
        ("350 Fifth Avenue", 350, "5th Avenue", None),
        ("200 W 42nd St", 200, "W 42 St", None),
        ("200 West 42nd Street", 200, "W 42 St", None),
        ("11 Wall Street", 11, "Wall St", None),
        ("1211 Avenue of the Americas", 1211, "6th Avenue", None),
        ("25 Central Park West", 25, "Central Park West", None),
        ("1 Central Park South", 1, "W 59 St", None),
        ("2090 Adam Clayton Powell Jr Blvd", 2090, "7th Avenue", None),
        ("100 Park Ave S", 100, "Park Avenue South", None),
        ("350-352 5th ave", 350, "5th Avenue", None),
        ("1 Park Ave Suite 400", 1, "Park Avenue", None),
        ("100 Broadway, Brooklyn, NY", 100, "Broadway", "Brooklyn"),
        ("30 Union Square West", 30, "Union Square West", None),  # usaddress alone calls this a building name
        # spellings of the NYC DOB's own files: a direction run into the number, "STRET", "FREDRICK"
        ("333 E82 ST", 333, "E 82 St", None),
        ("440 EAST 79 STRET", 440, "E 79 St", None),
        ("2070 FREDRICK DOUGLASS BOULEVARD", 2070, "8th Avenue", None),
    ],
)
def test_building_addresses(text: str, number: int, street: str, borough: str | None) -> None:
    parsed = parse(text)
    assert isinstance(parsed, Address)
    assert (parsed.number, parsed.street.key, parsed.borough) == (number, street, borough)


@pytest.mark.parametrize(
    ("text", "first", "second"),
    [
        ("W 52 St & 11 Ave", "W 52 St", "11th Avenue"),
        ("West 52nd Street and Eleventh Avenue", "W 52 St", "11th Avenue"),
        ("5th Ave at 23rd St", "5th Avenue", "23 St"),
        ("1 Ave & E 94 St", "1st Avenue", "E 94 St"),
        ("E 4 St & Ave B", "E 4 St", "Avenue B"),
        ("Broadway / W 60 St", "Broadway", "W 60 St"),
        ("Central Park W & W 72 St", "Central Park West", "W 72 St"),
    ],
)
def test_crossings(text: str, first: str, second: str) -> None:
    parsed = parse(text)
    assert isinstance(parsed, Crossing)
    assert (parsed.first.key, parsed.second.key) == (first, second)


@pytest.mark.parametrize(
    "text",
    ["hello", "Empire State Building", "42", "Park Avenue", "", "   ", "<script>alert(1)</script>",
     "0 Park Avenue", "x" * 201, "1 Park Avenue\x00 & <b>"],
)  # fmt: skip
def test_rejects_what_is_not_an_address_with_the_sentence_to_show(text: str) -> None:
    with pytest.raises(BadAddress) as error:
        parse(text)
    assert EXPECTED in str(error.value) or "longer than 200" in str(error.value)


@pytest.mark.parametrize(
    ("text", "key"),
    [("Sixth Avenue", "6th Avenue"), ("Av of the Americas", "6th Avenue"), ("Malcolm X Blvd", "Lenox Avenue"),
     ("Frederick Douglass Blvd", "8th Avenue"), ("West End Ave", "West End Avenue"), ("W Broadway", "West Broadway"),
     ("St. Nicholas Ave", "St. Nicholas Avenue"), ("E 4 St", "E 4 St"), ("Avenue A", "Avenue A")],
)  # fmt: skip
def test_street_names(text: str, key: str) -> None:
    street = normalise(text)
    assert street is not None
    assert street.key == key
