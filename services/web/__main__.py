"""`python -m services.web`: serve the map with hypercorn.

`BIKESHARE_WEB_WORKERS=N` starts N serving processes on the same port (SO_REUSEPORT: the kernel spreads
connections over them). Each is a replica like any other: its own LISTEN connection and in-memory
state, its own per-address limits. Run more replicas behind a balancer to scale further.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import multiprocessing
import signal
import sys

from hypercorn.asyncio import serve
from hypercorn.config import Config

from services.web.app import create_app
from services.web.settings import WebSettings
from shared.logs import configure_logging
from shared.postgres import connect
from shared.settings import load_settings

logger = logging.getLogger(__name__)


async def run(settings: WebSettings) -> None:
    await (await connect(str(settings.postgres_dsn))).close()
    config = Config()
    config.bind = [f"{settings.web_host}:{settings.web_port}"]
    config.workers = settings.web_workers  # > 1: hypercorn binds with SO_REUSEPORT
    config.accesslog = None
    # Clients have nothing to send on the websocket: a small frame limit bounds what one can make us hold.
    config.websocket_max_message_size = 64 * 1024
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logger.info("serving the map on http://%s:%d/", settings.web_host, settings.web_port)
    try:
        await serve(create_app(settings), config, shutdown_trigger=stop.wait)
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise
        raise SystemExit(
            f"cannot listen on {settings.web_host}:{settings.web_port} ({exc.strerror}); stop what holds it "
            f"(`ss -ltnp 'sport = :{settings.web_port}'`) or set BIKESHARE_WEB_PORT / BIKESHARE_WEB_HOST"
        ) from None


def missing_assets(settings: WebSettings) -> list[str]:
    """The browser libraries the map page loads, served from local folders (no CDN): one line per missing one."""
    wanted = {"BIKESHARE_LEAFLET_DIR": settings.leaflet_dir / "leaflet.js"}
    wanted["BIKESHARE_UPLOT_DIR"] = settings.uplot_dir / "uPlot.esm.js"
    return [
        f"{path.name} is not in {path.parent}; run `./dev setup` (npm ci --prefix services/web) or fix {variable}"
        for variable, path in wanted.items()
        if not path.is_file()
    ]


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m services.web",
        description="The live map of docks with bikes (settings from BIKESHARE_* environment variables).",
    ).parse_args(argv)
    settings = load_settings(WebSettings)
    if missing := missing_assets(settings):
        raise SystemExit("\n".join(missing))
    if settings.web_workers > 1 and settings.web_port == 0:
        raise SystemExit("BIKESHARE_WEB_WORKERS > 1 needs a fixed BIKESHARE_WEB_PORT (0 would give each its own)")
    spawn = multiprocessing.get_context("spawn")
    others = [spawn.Process(target=serve_one, args=(settings,), daemon=True) for _ in range(settings.web_workers - 1)]
    for process in others:
        process.start()
    try:
        serve_one(settings)
    finally:
        for process in others:
            process.terminate()
            process.join(10)
    return 0


def serve_one(settings: WebSettings) -> None:
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(run(settings))


if __name__ == "__main__":
    sys.exit(main())
