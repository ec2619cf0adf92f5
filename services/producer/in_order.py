"""Work handed to a thread of its own and done in the order it was given (the spill's fsyncs, the checkpoint's
saves): the caller goes on at once, and a failure is raised to it at its next hand-over or at `wait`."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class InOrder:
    def __init__(self, name: str) -> None:
        self.name = name
        self._thread: ThreadPoolExecutor | None = None
        self._pending: list[Future[Any]] = []

    def submit(self, work: Callable[..., Any], *args: Any) -> None:
        """Hand `work(*args)` over, after raising the failure of any earlier work that has finished."""
        done = [future for future in self._pending if future.done()]
        self._pending = [future for future in self._pending if not future.done()]
        for future in done:
            future.result()
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix=self.name)
        self._pending.append(self._thread.submit(work, *args))

    def wait(self, check: bool = True) -> None:
        """Wait for all the work handed over; with `check`, raise the first failure."""
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        pending, self._pending = self._pending, []
        if check:
            for future in pending:
                future.result()
