"""``OpenStreams``: the streams a host is serving, so a shutdown can end each one cleanly.

Servers wait for open responses before they shut an app down (uvicorn, hypercorn), and a chat
stream may stay open for minutes.  ``shutdown()`` asks every open stream to end now: each sends
its protocol's error event and end, then its connection finishes normally.  New requests are
refused while the host is closing.

Every event is created inside the stream or call that waits on it, never when the host is built,
so one host object serves any event loop (asyncio or trio) it is called from.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anyio

__all__ = ["OpenStreams"]


class OpenStreams:
    def __init__(self) -> None:
        self._stops: set[anyio.Event] = set()
        self._idle_waiters: list[anyio.Event] = []
        self.closing = False
        """True from ``shutdown()`` until the next ``reopen()``: new requests get a 503."""

    def __len__(self) -> int:
        return len(self._stops)

    @contextmanager
    def track(self) -> Iterator[anyio.Event]:
        """Register one stream for as long as the block runs; the event is set to end it."""
        stop = anyio.Event()
        if self.closing:
            stop.set()
        self._stops.add(stop)
        try:
            yield stop
        finally:
            self._stops.discard(stop)
            if not self._stops:
                for waiter in self._idle_waiters:
                    waiter.set()
                self._idle_waiters.clear()

    async def shutdown(self) -> None:
        """End every open stream cleanly and wait until they have ended; refuse new ones until
        :meth:`reopen`.  (To bound the wait, call it under ``anyio.move_on_after``: the streams
        still end, each within its send timeout.)"""
        self.closing = True
        for stop in list(self._stops):
            stop.set()
        if not self._stops:
            return
        idle = anyio.Event()
        self._idle_waiters.append(idle)
        await idle.wait()

    def reopen(self) -> None:
        """Accept streams again (a server starting the app anew, e.g. ``lifespan.startup``)."""
        self.closing = False
