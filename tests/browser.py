"""Headless Chromium (Debian's) for the map's tests: a page at a given viewport whose document is served
under a strict Content-Security-Policy, with every console error, uncaught exception, CSP violation and
dialog (`alert`) recorded so a test can assert that nothing ran that should not have."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, Route, async_playwright

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# Issue 7's policy, used when the server does not send one itself: no inline script or style, no eval.
CSP = "default-src 'self'; img-src 'self' data: http://127.0.0.1:9; style-src 'self'"
# Failed tile loads are expected: the tests' tile server does not exist.


def screenshot(name: str) -> str:
    """Where a test's screenshot goes: `.local/screenshots/` (never a tracked file), or the folder
    `BIKESHARE_SCREENSHOT_DIR` names (`BIKESHARE_SCREENSHOT_DIR=docs` refreshes the README's pictures)."""
    folder = Path(
        os.environ.get("BIKESHARE_SCREENSHOT_DIR") or Path(__file__).resolve().parents[1] / ".local" / "screenshots"
    )
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / name)


EXPECTED_ERRORS = ("ERR_UNSAFE_PORT", "ERR_CONNECTION_REFUSED", "favicon.ico", "status of 404")


@dataclass
class Watched:
    page: Page
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    csp: str = ""

    def assert_clean(self) -> None:
        assert self.dialogs == [], f"a dialog opened (script ran): {self.dialogs}"
        assert self.errors == [], f"console errors or exceptions: {self.errors}"


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            # A document fulfilled by the test (to add the CSP) counts as a public page for Chromium's
            # local-network checks, which would then block its websocket to 127.0.0.1.
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-features=LocalNetworkAccessChecks",
            ],
        )
        try:
            yield browser
        finally:
            await browser.close()


async def open_page(
    browser: Browser,
    url: str,
    viewport: dict[str, int],
    before_goto: Callable[[Page], Awaitable[None]] | None = None,
) -> Watched:
    page = await browser.new_page(viewport=viewport)  # type: ignore[arg-type]
    watched = Watched(page)

    def on_console(message: Any) -> None:
        if message.type == "error" and not any(e in message.text for e in EXPECTED_ERRORS):
            watched.errors.append(message.text)

    async def on_dialog(dialog: Any) -> None:
        watched.dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()

    async def with_csp(route: Route) -> None:
        response = await route.fetch()
        headers = dict(response.headers)
        headers.setdefault("content-security-policy", CSP)
        watched.csp = headers["content-security-policy"]
        await route.fulfill(response=response, headers=headers)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: watched.errors.append(f"uncaught: {exc}"))
    page.on("dialog", on_dialog)
    await page.route(url.rstrip("/") + "/", with_csp)
    if before_goto is not None:
        await before_goto(page)
    await page.goto(url.rstrip("/") + "/")
    return watched


async def wait_for_js(page: Page, expression: str, deadline_s: float = 30) -> Any:
    """Poll a JS expression until truthy. (Playwright's wait_for_function evals its predicate, which
    the page's CSP rightly forbids; evaluate() runs through the debugging protocol instead.)"""
    from tests.conftest import eventually

    return await eventually(expression, lambda: page.evaluate(expression), deadline_s=deadline_s, poll_s=0.1)
