"""``watch``: give up sends that take longer than their timeout, with one task per event loop.

A client that stops reading makes a send wait forever; its stream must then end within its
``send_timeout``.  A timer per send cost a sixth of a busy server's time (anyio's ``fail_after``),
and one watcher per stream a task per stream.  Here each send only notes when it began; one task
per event loop wakes every quarter of the shortest timeout it watches and gives up the sends that
have taken too long, so a stuck send ends within 1.25 times its timeout.  The task ends when the
loop has no stream left to watch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import anyio
import anyio.lowlevel

from .._spawn import spawn_detached

__all__ = ["Watched", "unwatch", "watch"]


class Watched(Protocol):
    send_started: float | None
    """When the send in progress began (``anyio.current_time()``); ``None`` between sends."""
    send_timeout: float

    def time_out(self) -> None:
        """Give up the send in progress."""


class _Watchdog:
    def __init__(self, key: object, tick: float, watched: set[Watched]) -> None:
        self.key = key
        self.tick = tick
        self.watched = watched
        self.cancel: Callable[[], object] = spawn_detached(self._run())

    async def _run(self) -> None:
        try:
            while True:
                await anyio.sleep(self.tick)
                now = anyio.current_time()
                for item in list(self.watched):
                    started = item.send_started
                    if started is not None and now - started >= item.send_timeout:
                        item.time_out()
        finally:
            if _watchdogs.get(self.key) is self:
                del _watchdogs[self.key]


_watchdogs: dict[object, _Watchdog] = {}  # by event loop


def watch(item: Watched) -> None:
    """Watch ``item``'s sends until :func:`unwatch`."""
    key = anyio.lowlevel.current_token()
    tick = item.send_timeout / 4
    dog = _watchdogs.get(key)
    if dog is None or tick < dog.tick:
        # None yet, or one that wakes too seldom for this timeout: start one that does.
        watched: set[Watched] = set()
        if dog is not None:
            dog.cancel()
            watched = dog.watched
        dog = _watchdogs[key] = _Watchdog(key, tick, watched)
    dog.watched.add(item)


def unwatch(item: Watched) -> None:
    """Stop watching ``item``; the loop's task ends with the last stream it watched."""
    key = anyio.lowlevel.current_token()
    dog = _watchdogs.get(key)
    if dog is None:
        return
    dog.watched.discard(item)
    if not dog.watched:
        del _watchdogs[key]
        dog.cancel()
