"""``watch``: heartbeats and send timeouts for every open stream, from one task per event loop.

A stream sends a keepalive after ``heartbeat`` idle seconds and gives a send up after
``send_timeout``.  A timer per stream would cost every idle stream its memory, and a timer per
send every token its time; instead each stream only notes when its send under way began and when
its last send ended, and one task per event loop looks at all of them every eighth of the
shortest interval it watches.  So a keepalive comes within 1.125 heartbeats of the last send and
a stuck send is given up within 1.125 times its timeout.  A stream that sent nothing for a whole
tick is told it is quiet.  The task ends with the loop's last stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from time import monotonic
from typing import Protocol

import anyio
import anyio.lowlevel

from .._spawn import in_trio, spawn_detached

__all__ = ["Timed", "monotonic", "unwatch", "watch"]


class Timed(Protocol):
    send_started: float | None
    """When the send under way began (``time.monotonic()``); ``None`` between sends."""
    last_sent: float
    """When the last send ended (or the stream began)."""
    send_timeout: float
    """Seconds a send may take (``math.inf``: any)."""
    heartbeat: float
    """Idle seconds before a keepalive (``math.inf``: never)."""

    def time_out(self) -> None:
        """Give up the send under way."""

    def idle(self) -> None:
        """Nothing was sent for a heartbeat."""

    def quiet(self) -> None:
        """Nothing was sent for a tick (called each tick until something is)."""


class _Clock:
    def __init__(self, key: object, tick: float, watched: set[Timed]) -> None:
        self.key = key
        self.tick = tick
        self.watched = watched
        self.cancel: Callable[[], object] = spawn_detached(self._run())

    async def _run(self) -> None:
        try:
            while True:
                await anyio.sleep(self.tick)
                now = monotonic()
                for item in list(self.watched):
                    started = item.send_started
                    if started is not None:
                        if now - started >= item.send_timeout:
                            item.time_out()
                    elif now - item.last_sent >= item.heartbeat:
                        item.idle()
                    elif now - item.last_sent >= self.tick:
                        item.quiet()
        finally:
            if _clocks.get(self.key) is self:
                del _clocks[self.key]


_clocks: dict[object, _Clock] = {}  # by event loop


def _loop() -> object:
    """The running event loop (trio's token for it): cheaper than anyio's current_token()."""
    if in_trio():
        import trio

        return trio.lowlevel.current_trio_token()
    return asyncio.get_running_loop()


def watch(item: Timed) -> None:
    """Time ``item``'s sends and idleness until :func:`unwatch`."""
    tick = min(item.send_timeout, item.heartbeat) / 8
    if tick == float("inf"):
        return  # nothing to time
    key = _loop()
    clock = _clocks.get(key)
    if clock is None or tick < clock.tick:
        # None yet, or one that looks too seldom for this stream: start one that does.
        watched: set[Timed] = set()
        if clock is not None:
            clock.cancel()
            watched = clock.watched
        clock = _clocks[key] = _Clock(key, tick, watched)
    clock.watched.add(item)


def unwatch(item: Timed) -> None:
    """Stop timing ``item``; the loop's task ends with the last stream it watched."""
    key = _loop()
    clock = _clocks.get(key)
    if clock is None or item not in clock.watched:
        return
    clock.watched.discard(item)
    if not clock.watched:
        del _clocks[key]
        clock.cancel()
