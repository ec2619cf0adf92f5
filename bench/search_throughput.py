"""Address-search throughput through the API, with the full station set, side by side in one run.

    .venv/bin/python -m bench.search_throughput [--requests 2000] [--concurrency 8]

Starts a Postgres of its own filled with the 2,226 catalogue stations (`bench/web_fixture.py`), then
the web service (`python -m services.web`, hypercorn, one process) three times in a row and drives
`GET /api/search` over HTTP with `--concurrency` clients:

* floor: `/api/search?q=` answered 400 at once: HTTP, routing, the limiters, JSON (the physical limit
  of this server on this machine: a search cannot be faster);
* grid index: real addresses (the accuracy set and station crossings), candidates from the buckets;
* naive scan: the same addresses, the block distance to every station (`BIKESHARE_SEARCH_INDEX=scan`).

Also times, in process, the candidate step alone (index vs scan) and the geocoder alone. Prints
searches/s and p50/p99 latency per variant, the machine and its load average.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import platform
import statistics
import time
from pathlib import Path
from urllib.parse import quote

import aiohttp

from bench.web_fixture import catalogue_stations, fill_contract_tables, made_up_counts, start_postgres, web_process
from services.web.search_index import StationIndex
from shared.geo import BlockMetric, Geocoder, Result

ADDRESSES = Path(__file__).resolve().parents[1] / "data" / "reference" / "manhattan_test_addresses.csv"


def queries() -> list[str]:
    with ADDRESSES.open(newline="") as f:
        found = [r["address"] for r in csv.DictReader(f) if r["group"] == "rules"]
    crossings = [str(s["name"]) for s in catalogue_stations() if " & " in str(s["name"])][::40]
    return found + crossings + ["W 52 St & 11 Ave", "Broadway and W 22nd St", "200 W 42nd St", "1 Park Avenue"]


async def drive(url: str, paths: list[str], total: int, concurrency: int) -> tuple[float, list[float], dict[int, int]]:
    latencies: list[float] = []
    codes: dict[int, int] = {}
    next_index = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:

        async def client() -> None:
            nonlocal next_index
            while next_index < total:
                path = paths[next_index % len(paths)]
                next_index += 1
                start = time.perf_counter()
                async with http.get(url + path) as response:
                    await response.read()
                latencies.append(time.perf_counter() - start)
                codes[response.status] = codes.get(response.status, 0) + 1

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return time.perf_counter() - began, latencies, codes


async def ready(url: str, deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < end:
            try:
                async with http.get(url + "/api/search", params={"q": "1 Park Avenue"}) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.25)
    raise SystemExit(f"the web service at {url} did not answer a search within {deadline_s:.0f}s")


def in_process(texts: list[str], repeat: int = 20) -> list[tuple[str, float]]:
    geocoder = Geocoder()
    index = StationIndex(BlockMetric(geocoder.grid))
    rows = []
    for i, s in enumerate(catalogue_stations()):
        bikes, _ = made_up_counts(i, int(str(s["capacity"])))
        rows.append(
            {"station_id": s["short_name"], "name": s["name"], "lat": s["lat"], "lon": s["lon"], "bikes": bikes}
        )
    index.replace_all(rows)
    points = []
    began = time.perf_counter()
    for _ in range(repeat):
        for text in texts:
            answer = geocoder.geocode(text)
            if isinstance(answer, Result):
                points.append(index.metric.point(answer.lat, answer.lon))
    geocode_us = (time.perf_counter() - began) / (repeat * len(texts)) * 1e6
    timings = [("geocode (offline)", geocode_us)]
    for name, within in (("candidates: grid index", index.within), ("candidates: naive scan", index.within_scan)):
        began = time.perf_counter()
        for point in points:
            within(point, 3.0)
        timings.append((name, (time.perf_counter() - began) / len(points) * 1e6))
    return timings


async def main(total: int, concurrency: int) -> None:
    texts = queries()
    search_paths = ["/api/search?q=" + quote(t, safe="") for t in texts]
    own = await start_postgres("bench-search")
    results: list[tuple[str, float, list[float], dict[int, int]]] = []
    try:
        stations = await fill_contract_tables(own.dsn)
        variants = [("floor: 400 at once", "grid", ["/api/search?q="]), ("grid index", "grid", search_paths),
                    ("naive scan", "scan", search_paths)]  # fmt: skip
        for label, mode, paths in variants:
            process, url = web_process(
                own.web_dsn,
                own.state / "logs",
                search_index=mode,
                search_burst="10000000",
                search_rate_per_minute="1000000000",
                rate_limit_per_s="0",
                log_level="WARNING",
            )
            process.start()
            try:
                await ready(url)
                await drive(url, paths, min(300, total), concurrency)  # warm up
                elapsed, latencies, codes = await drive(url, paths, total, concurrency)
                results.append((label, elapsed, latencies, codes))
            finally:
                process.stop()
    finally:
        own.remove()
    timings = in_process(texts)
    load = os.getloadavg()
    print(f"\nAddress search through the API: {stations} stations, {len(texts)} distinct addresses, "  # noqa: T201
          f"{total} requests, {concurrency} concurrent clients, one web process")  # fmt: skip
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "  # noqa: T201
          f"{platform.python_version()}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")  # fmt: skip
    print("\n| variant | searches/s | p50 ms | p99 ms | status codes |\n|---|---:|---:|---:|---|")  # noqa: T201
    for label, elapsed, latencies, codes in results:
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(f"| {label} | {len(latencies) / elapsed:,.0f} | {statistics.median(latencies) * 1e3:.1f} | "  # noqa: T201
              f"{p99 * 1e3:.1f} | {codes} |")  # fmt: skip
    print("\n| in process, per search | µs |\n|---|---:|")  # noqa: T201
    for name, micros in timings:
        print(f"| {name} | {micros:,.1f} |")  # noqa: T201


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.search_throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.concurrency))
