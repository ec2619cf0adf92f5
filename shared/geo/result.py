"""What the geocoder answers: a `Result` (a point, how it was found, how precise) or a `Rejection`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Method = Literal["avenue_key_number", "crosstown_number", "gazetteer_crossing", "grid_crossing", "station_name",
                 "address_point", "named_street", "named_place", "nominatim"]  # fmt: skip
Reason = Literal["format", "not_found", "outside"]


@dataclass(frozen=True)
class Result:
    query: str
    lat: float
    lon: float
    method: Method
    precision_m: float  # expected error radius of this method (see README "Address search")
    label: str  # what was understood, e.g. "1 Park Avenue (32.5 St)"

    def json(self) -> dict[str, object]:
        out = asdict(self)
        out["lat"], out["lon"] = round(self.lat, 6), round(self.lon, 6)
        return out


@dataclass(frozen=True)
class Rejection:
    query: str
    error: str  # a sentence for the user
    reason: Reason

    def json(self) -> dict[str, object]:
        return {"query": self.query, "error": self.error, "reason": self.reason}
