"""Run functions that record how they ended, when, and what ``controller.request`` was.

Shared by the host tests: ASGI reads ``ended`` from its own event loop, WSGI waits for ``done``
from a request thread (the run's ``finally`` runs on the event loop's thread).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

import streambridge as sb


class Runs:
    def __init__(self) -> None:
        self.ended: list[tuple[str, float, Any]] = []  # (outcome, time.monotonic(), request)
        self.done = threading.Event()

    def recorded(self, body: Callable[[sb.RunController], Awaitable[None]]) -> sb.RunFunction:
        async def run(controller: sb.RunController) -> None:
            outcome = "raised"
            try:
                await body(controller)
                outcome = "returned"
            except anyio.get_cancelled_exc_class():
                outcome = "cancelled"
                raise
            finally:
                self.ended.append((outcome, time.monotonic(), controller.request))
                self.done.set()

        return run

    @property
    def hang(self) -> sb.RunFunction:
        async def hang(controller: sb.RunController) -> None:
            controller.append_text("waiting")
            await anyio.sleep_forever()

        return self.recorded(hang)

    @property
    def hello(self) -> sb.RunFunction:
        async def hello(controller: sb.RunController) -> None:
            controller.append_text("hello")

        return self.recorded(hello)

    def wait(self, seconds: float = 2) -> tuple[str, float, Any]:
        """The last run's ending, waiting (blocking) for its ``finally`` to run."""
        assert self.done.wait(seconds), "the run's finally did not run"
        return self.ended[-1]
