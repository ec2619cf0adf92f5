"""`python -m shared.geo ADDRESS...`: one JSON object per address; `-` reads addresses from stdin.

Prints `{"query", "lat", "lon", "method", "precision_m", "label"}` or `{"query", "error", "reason"}`
per line; exits 0 when every address resolved, 1 otherwise, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator

from shared.geo import Geocoder, OnlineConfig, OnlineGeocoder, Result


def _queries(args: list[str]) -> Iterator[str]:
    for arg in args:
        if arg == "-":
            yield from (line.rstrip("\n") for line in sys.stdin if line.strip())
        else:
            yield arg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.geo", description=__doc__.splitlines()[0])
    parser.add_argument("addresses", nargs="+", help="addresses to geocode; '-' reads one per line from stdin")
    parser.add_argument("--nominatim", metavar="HOST[:PORT]", help="online fallback server (off by default)")
    parser.add_argument("--scheme", default="https", choices=("http", "https"))
    parser.add_argument("--user-agent", default="bikeshare-stream-geocoder", help="sent to the online server")
    args = parser.parse_args(argv)
    online = None
    if args.nominatim:
        online = OnlineGeocoder(OnlineConfig(args.nominatim, args.user_agent, scheme=args.scheme))
    geocoder = Geocoder(online=online)
    ok = True
    for query in _queries(args.addresses):
        answer = geocoder.geocode(query)
        ok = ok and isinstance(answer, Result)
        sys.stdout.write(json.dumps(answer.json()) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
