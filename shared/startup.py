"""Startup probes: a service given a wrong Kafka or Spark master address says so within seconds, in one
line naming the setting, the address and what to do, and exits 2 (instead of its client library
retrying for minutes with nothing said: faust and Spark's Kafka source wait for ever).

Each probe retries for `BIKESHARE_STARTUP_DEADLINE_S` (tenacity), so a dependency still starting
beside the service is waited for. They run once, at startup: a dependency lost after a good start is
left to the clients and the services' own retry loops (the recovery behaviour), never to these.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

KAFKA_VAR = "BIKESHARE_KAFKA_BOOTSTRAP_SERVERS"
SPARK_VAR = "BIKESHARE_SPARK_MASTER"


class StartupError(Exception):
    """A dependency a service was pointed at cannot be used; the message is the one line to show."""


class _NotYet(Exception):
    """One failed probe attempt (retried until the deadline)."""


async def _until_ready(once: Callable[[], Awaitable[None]], deadline_s: float, failure: str) -> None:
    """Run `once` until it stops raising `_NotYet` or `deadline_s` passes; then raise `StartupError`
    with `failure`, where `{why}` becomes the last reason."""
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(_NotYet),
        wait=wait_exponential(multiplier=0.2, max=2),
        stop=stop_after_delay(deadline_s),
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                await once()
    except _NotYet as exc:
        raise StartupError(failure.replace("{why}", str(exc))) from None


def _host_port(address: str) -> tuple[str, int] | None:
    host, sep, port = address.strip().rpartition(":")
    return (host.strip("[]"), int(port)) if sep and host and port.isdigit() else None


async def probe_kafka(bootstrap: str, deadline_s: float) -> None:
    """At least one broker of `bootstrap` accepts a connection and answers Kafka's metadata request (an
    open port that is not Kafka fails too) within `deadline_s`, or `StartupError`."""
    addresses = [a.strip() for a in bootstrap.split(",") if a.strip()]
    parsed = [_host_port(a) for a in addresses]
    if not addresses or None in parsed:
        raise StartupError(
            f"{KAFKA_VAR}={bootstrap!r} is not host:port[,host:port...]; give the Kafka brokers' addresses"
        )
    loop = asyncio.get_running_loop()
    give_up = loop.time() + deadline_s

    async def once() -> None:
        budget = max(0.5, min(3.0, give_up - loop.time()))
        answers = await asyncio.gather(*(_connect(host, port, budget) for host, port in filter(None, parsed)))
        open_ = [a for a, why in zip(addresses, answers, strict=True) if why is None]
        if not open_:
            raise _NotYet("; ".join(f"{a}: {why}" for a, why in zip(addresses, answers, strict=True)))
        admin = AIOKafkaAdminClient(bootstrap_servers=open_, request_timeout_ms=int(budget * 1000))
        try:
            with _quiet("aiokafka"):
                await asyncio.wait_for(admin.start(), budget)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise _NotYet(f"{', '.join(open_)} accepts connections but does not answer as a Kafka broker") from exc
        finally:
            with _quiet("aiokafka"):
                await admin.close()

    await _until_ready(
        once,
        deadline_s,
        f"kafka at {bootstrap} is unreachable ({{why}}; for {deadline_s:g}s); start the brokers or fix {KAFKA_VAR}",
    )


async def probe_spark_master(url: str, deadline_s: float) -> None:
    """`local[...]` needs nothing; a `spark://host:port[,host:port]` master must accept a connection."""
    if url == "local" or url.startswith("local["):
        return
    masters = [_host_port(m) for m in url.removeprefix("spark://").split(",")] if url.startswith("spark://") else []
    if not masters or None in masters:
        raise StartupError(f"{SPARK_VAR}={url!r} is not spark://host:port or local[N]; fix {SPARK_VAR}")

    async def once() -> None:
        found = [m for m in masters if m is not None]
        answers = await asyncio.gather(*(_connect(host, port, 3.0) for host, port in found))
        if all(answers):
            raise _NotYet("; ".join(f"{h}:{p}: {why}" for (h, p), why in zip(found, answers, strict=True)))

    await _until_ready(
        once,
        deadline_s,
        f"Spark master {url} is unreachable ({{why}}; for {deadline_s:g}s); start the master or fix {SPARK_VAR}",
    )


async def probe_postgres(dsn: str, deadline_s: float, variable: str = "BIKESHARE_POSTGRES_DSN") -> None:
    """Postgres at `dsn` accepts a login within `deadline_s`, or `StartupError` (asyncpg's own message)."""
    import asyncpg  # only the services that talk to Postgres have it

    loop = asyncio.get_running_loop()
    give_up = loop.time() + deadline_s

    async def once() -> None:
        try:
            conn = await asyncpg.connect(dsn, timeout=max(0.5, min(5.0, give_up - loop.time())))
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _NotYet(str(exc) or type(exc).__name__) from exc
        await conn.close(timeout=5)

    await _until_ready(
        once,
        deadline_s,
        f"postgres at {dsn.split('@')[-1]} is unreachable ({{why}}; for {deadline_s:g}s); "
        f"start it (`./dev up`) or fix {variable}",
    )


async def _connect(host: str, port: int, timeout_s: float) -> str | None:
    """None if a TCP connection opens, else why not (a few words)."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except socket.gaierror as exc:
        return f"unknown host ({exc.strerror})"
    except TimeoutError:
        return f"no answer within {timeout_s:g}s"
    except OSError as exc:
        return (os.strerror(exc.errno) if exc.errno else str(exc)).lower()
    writer.close()
    return None


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Silence a client library's own error lines while probing: the probe's one line says it all."""
    target = logging.getLogger(name)
    before = target.level
    target.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        target.setLevel(before)


def run_probes(*probes: Coroutine[Any, Any, None]) -> None:
    """Run probes side by side on a private event loop (the caller's loop, e.g. faust's, stays untouched);
    raises one `StartupError` naming every setting that failed."""

    async def together() -> None:
        results = await asyncio.gather(*probes, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, StartupError):
                raise result
        if failed := [str(r) for r in results if isinstance(r, StartupError)]:
            raise StartupError("\n".join(failed))  # one line per wrong setting

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(together())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
