"""Websocket fan-out: how long after the NOTIFY 1,000 clients hold a batch, with one client stalled.

The web service runs as its own process over a Postgres of its own holding the full station set.
`--clients` websocket clients (aiohttp, spread over `--client-processes` processes) stay connected;
one more client connects with a 4 kB receive buffer and never reads. Every `--interval` seconds this
process commits a batch changing `--stations` stations and NOTIFYs, as the sink does; the clock
starts just before COMMIT (the NOTIFY is delivered at commit). Each client notes when each batch's
message arrived (wall clock, the same on one machine).

Reported: the latency distribution over every (client, batch), messages lost, and what the stalled
client cost the server: its backlog in bytes (bounded by BIKESHARE_WS_BACKLOG_BYTES, here
`--backlog-bytes`), the resyncs that replaced it, and the server's resident memory before and after.

    python -m bench.ws_fanout [--clients 1000] [--batches 30] [--stations 100] [--interval 0.3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.web_fixture import catalogue_stations, fill_contract_tables, start_postgres, web_process
from devstack.process import ManagedProcess
from shared.schema import NOTIFY_CHANNEL

_BATCH = re.compile(r'"batch_id":(\d+)')


def say(text: str) -> None:
    print(text, flush=True)  # noqa: T201 - a benchmark's report is its output


# ---- client processes -------------------------------------------------------------------------


async def _client(
    http: aiohttp.ClientSession, url: str, last: int, ready: list[int], seen: list[tuple[int, float]]
) -> None:
    async with http.ws_connect(url, max_msg_size=0) as ws:
        await ws.receive(timeout=60)  # hello
        ready.append(1)
        async for message in ws:
            now = time.time()
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            if match := _BATCH.search(message.data, 0, 200):
                seen.append((int(match.group(1)), now))
                if int(match.group(1)) == last:
                    return


async def clients_main(url: str, count: int, last: int) -> None:
    """Run `count` clients until each has the batch `last` (or 120 s passed); print READY once all are
    connected, then the arrivals as one JSON line."""
    ready: list[int] = []
    seen: list[list[tuple[int, float]]] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        seen = [[] for _ in range(count)]
        tasks = [asyncio.ensure_future(_client(http, url, last, ready, seen[i])) for i in range(count)]
        while len(ready) < count:
            failed = [t for t in tasks if t.done() and t.exception()]
            if failed:
                raise RuntimeError(f"a client failed: {failed[0].exception()!r}")
            await asyncio.sleep(0.05)
        print("READY", flush=True)  # noqa: T201 - the parent waits for this line
        await asyncio.wait(tasks, timeout=120)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(seen), flush=True)  # noqa: T201 - the parent reads this line


# ---- the run -------------------------------------------------------------------------------------


def covered_latencies(arrivals: list[tuple[int, float]], sent: dict[int, float]) -> list[float]:
    """Milliseconds from each batch's commit to the message that brought it. When NOTIFYs queue up the
    web reads them together and sends one message carrying the last batch id: that message covers
    every batch since the client's previous one, and each is timed from its own commit."""
    latencies, previous = [], -1
    for batch_id, arrived in sorted(arrivals):
        latencies += [(arrived - sent[b]) * 1000 for b in sorted(sent) if previous < b <= batch_id]
        previous = batch_id
    return latencies


def stalled_client(host: str, port: int) -> socket.socket:
    """A websocket client that completes the handshake and then never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert sock.recv(12).startswith(b"HTTP/1.1 101"), "the stalled client's handshake failed"
    return sock


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def health(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/health") as response:
        doc: dict[str, Any] = await response.json()
        return doc


async def commit(conn: Any, batch_id: int, stations: list[str], moment: datetime) -> float:
    """Change `stations` as one sink batch; returns the wall-clock time just before COMMIT."""
    transaction = conn.transaction()
    await transaction.start()
    await conn.executemany(
        "UPDATE availability SET bikes = (bikes + 1) % (coalesce(capacity, 20) + 1), batch_id = $2, "
        "last_event_time = $3 WHERE station_id = $1",
        [(s, batch_id, moment) for s in stations],
    )
    await conn.execute(
        "INSERT INTO sink_batches (batch_id, events, inserted, max_event_time) VALUES ($1, $2, $2, $3)",
        batch_id,
        len(stations),
        moment,
    )
    await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(batch_id))
    started = time.time()
    await transaction.commit()
    return started


async def run(args: argparse.Namespace) -> dict[str, Any]:
    postgres = await start_postgres("bench-ws")
    web: ManagedProcess | None = None
    procs: list[asyncio.subprocess.Process] = []
    try:
        await fill_contract_tables(postgres.dsn)
        ids = sorted(str(s["short_name"]) for s in catalogue_stations())
        web, url = web_process(
            postgres.web_dsn,
            postgres.state / "logs",
            rate_limit_per_s="0",
            ws_max_per_ip=str(args.clients + 10),
            ws_max_clients=str(args.clients + 10),
            ws_backlog_bytes=str(args.backlog_bytes),
            ws_backlog_messages="1000",
        )
        web.start()
        assert web.proc is not None
        deadline = time.monotonic() + 60
        while True:
            try:
                if (await health(url))["ok"]:
                    break
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline or web.death():
                raise RuntimeError(f"web did not become healthy: {web.death() or web.tail()}")
            await asyncio.sleep(0.2)
        host, port = url.removeprefix("http://").split(":")
        ws_url = f"{url.replace('http', 'ws', 1)}/ws"
        last = 100 + args.batches - 1
        per_process = [args.clients // args.client_processes] * args.client_processes
        per_process[0] += args.clients - sum(per_process)
        for count in per_process:
            procs.append(
                await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bench.ws_fanout", "--serve-clients", ws_url, str(count), str(last),
                    stdout=asyncio.subprocess.PIPE,
                )
            )  # fmt: skip
        for proc in procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 120)
            assert line.strip() == b"READY", line
        stalled = stalled_client(host, int(port))
        rss_before = rss_kib(web.proc.pid)
        cpu_before = cpu_seconds(web.proc.pid)
        say(f"{args.clients} clients + 1 stalled connected; {len(ids)} stations; load {os.getloadavg()[0]:.2f}")

        sent: dict[int, float] = {}
        conn = await asyncpg.connect(postgres.dsn)
        try:
            moment = datetime(2024, 9, 11, 8, 0, tzinfo=UTC)
            for i in range(args.batches):
                batch_id = 100 + i
                changed = [ids[(i * args.stations + k) % len(ids)] for k in range(args.stations)]
                sent[batch_id] = await commit(conn, batch_id, changed, moment + timedelta(seconds=5 * i))
                await asyncio.sleep(args.interval)
        finally:
            await conn.close()
        await asyncio.sleep(1)
        server_cpu = cpu_seconds(web.proc.pid) - cpu_before
        latencies: list[float] = []
        for proc in procs:
            out, _ = await proc.communicate()
            for client in json.loads(out.decode().strip().splitlines()[-1]):
                latencies += covered_latencies([(int(b), float(t)) for b, t in client], sent)
        # The clients are gone; now batches of every station (~0.5 MB each) until the stalled client's
        # backlog has passed the kernel's socket buffers (up to 4 MB) and reached its bound.
        conn = await asyncpg.connect(postgres.dsn)
        try:
            for i in range(args.stall_batches):
                batch_id = 10_000 + i
                await commit(conn, batch_id, ids, moment + timedelta(days=1, seconds=5 * i))
                await asyncio.sleep(0.2)
        finally:
            await conn.close()
        await asyncio.sleep(1)
        state = await health(url)
        rss_after = rss_kib(web.proc.pid)
        stalled.close()
        latencies.sort()
        expected = args.clients * args.batches
        return {
            "clients": args.clients,
            "batches": args.batches,
            "stations_per_batch": args.stations,
            "received": len(latencies),
            "expected": expected,
            "p50_ms": latencies[len(latencies) // 2],
            "p99_ms": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
            "max_ms": latencies[-1],
            "stalled_backlog_bytes": state["websocket_largest_backlog_bytes"],
            "backlog_bound_bytes": args.backlog_bytes,
            "resyncs": state["websocket_resyncs"],
            "stall_batches": args.stall_batches,
            "server_cpu_ms_per_batch": server_cpu * 1000 / args.batches,
            "rss_kib_before": rss_before,
            "rss_kib_after": rss_after,
        }
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        if web is not None:
            web.stop()
        postgres.remove()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ws_fanout", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--stations", type=int, default=100, help="stations changed per batch")
    parser.add_argument("--interval", type=float, default=0.3, help="seconds between batches")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--backlog-bytes", type=int, default=1_000_000)
    parser.add_argument("--stall-batches", type=int, default=20, help="batches of every station, clients gone")
    parser.add_argument("--serve-clients", nargs=3, metavar=("URL", "COUNT", "LAST"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_clients:
        url, count, last = args.serve_clients
        asyncio.run(clients_main(url, int(count), int(last)))
        return 0
    result = asyncio.run(run(args))
    say(
        "\n| clients | batches x stations | received / expected | p50 ms | p99 ms | max ms | server CPU ms/batch |\n"
        "|---:|---:|---:|---:|---:|---:|---:|\n"
        f"| {result['clients']} | {result['batches']} x {result['stations_per_batch']} | "
        f"{result['received']:,} / {result['expected']:,} | {result['p50_ms']:.1f} | {result['p99_ms']:.1f} | "
        f"{result['max_ms']:.1f} | {result['server_cpu_ms_per_batch']:.0f} |"
    )
    say(
        f"\nstalled client, after {result['stall_batches']} more batches of every station: "
        f"largest backlog {result['stalled_backlog_bytes']:,} bytes "
        f"(bound {result['backlog_bound_bytes']:,}), {result['resyncs']} resync(s); server RSS "
        f"{result['rss_kib_before'] / 1024:.0f} MiB before the batches, {result['rss_kib_after'] / 1024:.0f} MiB after"
    )
    say(f"load average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
