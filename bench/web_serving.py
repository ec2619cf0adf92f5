"""Requests/s and latency of `/gbfs/2.3/station_status.json` and `/api/stations` with the full Citi Bike
station set (2,226 stations), side by side in one run:

* `query`    the per-request path before this change (a query and a JSON encoding per request);
* `state`    the web service as shipped: the in-memory state, encoded and gzipped once per batch;
* `state 304` the same with If-None-Match (a client that polls and already holds the current version);
* `state, 2 workers` the service with BIKESHARE_WEB_WORKERS=2 (two processes on one port);
* `raw`       the ceiling: a bare asyncio server writing the same gzipped response bytes.

50 concurrent keep-alive clients (a small HTTP/1.1 client on asyncio streams, in this process; every
server is a process of its own), each target for `--seconds` after a short warm-up. Every client
sends `Accept-Encoding: gzip`, as browsers and GBFS consumers do.

    python -m bench.web_serving [--seconds 5] [--clients 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.web_fixture import fill_contract_tables, start_postgres, web_process
from devstack import paths
from devstack.process import ManagedProcess, free_port

_LENGTH = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")


@dataclass
class Result:
    target: str
    path: str
    requests: int
    seconds: float
    latencies: list[float]
    statuses: Counter[int]
    body_bytes: int
    server_cpu_s: float = 0.0

    @property
    def cpu_us_per_request(self) -> float:
        """Server CPU (user + system) per request: the cost that does not depend on other load."""
        return self.server_cpu_s / max(self.requests, 1) * 1e6

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


async def _client(port: int, request: bytes, until: float, out: list[float], statuses: Counter[int]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    size = 0
    try:
        while (start := time.perf_counter()) < until:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = _LENGTH.search(head)
            if length:
                size = len(await reader.readexactly(int(length.group(1))))
            out.append(time.perf_counter() - start)
            statuses[int(head[9:12])] += 1
    finally:
        writer.close()
    return size


def cpu_seconds(group: int) -> float:
    """User + system CPU so far of every process in a process group (a service and its workers)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # fields[2] is the process group id
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def load(target: str, port: int, path: str, clients: int, seconds: float, etag: str = "", pid: int = 0) -> Result:
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept-Encoding: gzip"]
    if etag:
        lines.append(f"If-None-Match: {etag}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    warm: list[float] = []
    await asyncio.gather(*(_client(port, request, time.perf_counter() + 0.5, warm, Counter()) for _ in range(clients)))
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    cpu = cpu_seconds(pid)
    start = time.perf_counter()
    sizes = await asyncio.gather(
        *(_client(port, request, start + seconds, latencies, statuses) for _ in range(clients))
    )
    elapsed = time.perf_counter() - start
    result = Result(target, path, len(latencies), elapsed, latencies, statuses, max(sizes))
    result.server_cpu_s = cpu_seconds(pid) - cpu
    return result


async def fetch_raw_response(url: str) -> tuple[bytes, str]:
    """The live service's gzipped response as complete HTTP bytes (for the raw server), and its ETag."""
    async with (
        aiohttp.ClientSession(auto_decompress=False) as http,
        http.get(url, headers={"Accept-Encoding": "gzip"}) as response,
    ):
        body = await response.read()
        etag = response.headers["ETag"]
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        f"ETag: {etag}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body, etag


async def wait_http(url: str, process: ManagedProcess) -> None:
    async def up() -> bool:
        if process.death():
            raise RuntimeError(f"{process.name}: {process.death()}")
        try:
            async with aiohttp.ClientSession() as http, http.get(url) as response:
                return response.status < 500
        except aiohttp.ClientError:
            return False

    end = time.monotonic() + 30
    while not await up():
        if time.monotonic() > end:
            raise RuntimeError(f"{process.name}: not answering {url} after 30 s")
        await asyncio.sleep(0.2)


def baseline(kind: str, port: int, arg: str, logs: Path) -> ManagedProcess:
    argv = [sys.executable, "-m", "bench.web_baseline", kind, str(port), arg]
    return ManagedProcess(f"baseline-{kind}", argv, logs / f"baseline-{kind}.log", cwd=paths.ROOT)


async def run(seconds: float, clients: int) -> list[Result]:
    postgres = await start_postgres("bench-web")
    processes: list[ManagedProcess] = []
    results: list[Result] = []
    try:
        stations = await fill_contract_tables(postgres.dsn)
        logs = postgres.state / "logs"
        web, url = web_process(postgres.web_dsn, logs, rate_limit_per_s="0")
        web2, url2 = web_process(postgres.web_dsn, logs, rate_limit_per_s="0", web_workers="2")
        web2.name = "web-2-workers"
        web2.log_path = logs / "web2.log"
        query_port = free_port()
        query = baseline("query", query_port, postgres.web_dsn, logs)
        processes += [web, web2, query]
        for process in processes:
            process.start()
        await wait_http(f"{url}/health", web)
        await wait_http(f"{url2}/health", web2)
        await wait_http(f"http://127.0.0.1:{query_port}/api/stations", query)
        web_port, web2_port = int(url.rsplit(":", 1)[1]), int(url2.rsplit(":", 1)[1])
        say(f"{stations} stations; {clients} concurrent clients; {seconds:g} s per target")
        for path in ("/gbfs/2.3/station_status.json", "/api/stations"):
            response, etag = await fetch_raw_response(url + path)
            with tempfile.NamedTemporaryFile(delete=False, dir=postgres.state) as file:
                file.write(response)
            raw_port = free_port()
            raw = baseline("raw", raw_port, file.name, logs)
            processes.append(raw)
            raw.start()
            await wait_http(f"http://127.0.0.1:{raw_port}/", raw)
            for target, process, port, tag in (
                ("query", query, query_port, ""),
                ("state", web, web_port, ""),
                ("state 304", web, web_port, etag),
                ("state, 2 workers", web2, web2_port, ""),
                ("raw", raw, raw_port, ""),
            ):
                assert process.proc is not None
                results.append(await load(target, port, path, clients, seconds, tag, process.proc.pid))
                say(row(results[-1]))
            raw.stop()
    finally:
        for process in processes:
            process.stop()
        postgres.remove()
    return results


def say(text: str) -> None:
    print(text, flush=True)  # noqa: T201 - a benchmark's report is its output


def row(r: Result) -> str:
    codes = ",".join(f"{k}x{v}" for k, v in sorted(r.statuses.items()))
    return (
        f"| {r.path} | {r.target} | {r.per_s:,.0f} | {r.pct(50):.1f} | {r.pct(99):.1f} | "
        f"{r.cpu_us_per_request:,.0f} | {r.body_bytes:,} | {codes} |"
    )


def table(results: list[Result]) -> str:
    lines = [
        "| path | server | requests/s | p50 ms | p99 ms | body bytes | statuses |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    lines += [row(r) for r in results]
    for path in sorted({r.path for r in results}):
        by = {r.target: r.per_s for r in results if r.path == path}
        lines.append(
            f"\n{path}: state = {by['state'] / by['query']:.1f}x query, "
            f"{by['state'] / by['raw']:.2f}x raw; state 304 = {by['state 304'] / by['query']:.1f}x query"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web_serving", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args(argv)
    results = asyncio.run(run(args.seconds, args.clients))
    say("\n" + table(results))
    say(f"\nload average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
