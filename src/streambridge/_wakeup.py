"""Waiting that costs nothing until somebody waits: ``Wakeup`` and ``LazyEvent``.

``Wakeup``: one task sleeps until another wakes it, or until some seconds pass; or, instead of a
sleeping task, a callback is called then.

It is what a stream's reader waits on between two batches, so an idle open stream holds one of
them.  An ``anyio.Event`` costs about 2 KB on asyncio (an ``asyncio.Event`` with its deque of
waiters) and ``move_on_after`` a cancel scope per wait; here a waiting reader holds a bare future
and a timer, and nothing at all between waits.  Under trio, whose events and cancel scopes are
cheap, it uses them.

``LazyEvent``: an event that is mostly only read (``is_set()``), so its ``anyio.Event`` is made
when somebody first waits on it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable

import anyio
import anyio.lowlevel

from ._spawn import in_trio, spawn_detached

__all__ = ["LazyEvent", "Wakeup"]

logger = logging.getLogger("streambridge")


class Wakeup:
    __slots__ = ("_callback", "_event", "_future", "_timer", "_trio", "waiting")

    def __init__(self) -> None:
        self.waiting = False
        """True while a task or a callback waits (so a producer can skip :meth:`wake`)."""
        self._future: asyncio.Future[bool] | None = None
        self._event: anyio.Event | None = None
        self._callback: Callable[[bool], object] | None = None
        self._timer: asyncio.TimerHandle | Callable[[], object] | None = None  # or its cancel
        self._trio = in_trio()

    def wake(self) -> None:
        """Wake the waiting task, or call the waiting callback, if there is one."""
        self.waiting = False
        future, event = self._future, self._event
        self._future = self._event = None
        if future is not None:
            if not future.done():  # e.g. cancelled with its task
                future.set_result(True)
        elif event is not None:
            event.set()
        elif self._callback is not None:
            self._call(True)

    def call_on_wake(self, callback: Callable[[bool], object], seconds: float | None) -> None:
        """Call ``callback(True)`` at the next :meth:`wake`, or ``callback(False)`` once
        ``seconds`` have passed, whichever comes first, once; no task waits meanwhile.

        ``callback`` runs in the caller of :meth:`wake` (or in a timer) and must not raise.
        """
        if self._future is not None or self._event is not None:
            raise RuntimeError("a task waits for this wake-up; a callback cannot too")
        self.forget()
        self._callback = callback
        self.waiting = True
        if seconds is None:
            return
        if self._trio:
            self._timer = spawn_detached(_call_later_trio(seconds, self._expire))
        else:
            self._timer = asyncio.get_running_loop().call_later(
                seconds, self._expire, context=_BARE
            )

    def forget(self) -> None:
        """Undo :meth:`call_on_wake` (the callback is not called)."""
        if self._callback is not None:
            self.waiting = False
            self._callback = None
        self._stop_timer()

    def _expire(self) -> None:
        self._timer = None  # it has fired: nothing left to cancel
        if self._callback is not None:
            self.waiting = False
            self._call(False)

    def _call(self, woken: bool) -> None:
        callback = self._callback
        assert callback is not None
        self._callback = None
        self._stop_timer()
        try:
            callback(woken)
        except Exception:  # it runs inside the run's own call, or in a timer: log, go on
            logger.exception("a callback waiting for a run's chunks raised")

    def _stop_timer(self) -> None:
        timer = self._timer
        if timer is not None:
            self._timer = None
            if isinstance(timer, asyncio.TimerHandle):
                timer.cancel()
            else:
                timer()

    async def wait(self, seconds: float | None = None) -> bool:
        """Wait for :meth:`wake`: ``True`` once woken, ``False`` after ``seconds``."""
        if self._callback is not None:
            raise RuntimeError("a callback waits for this wake-up (on_ready); a task cannot too")
        if self._trio:
            return await self._wait_trio(seconds)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._future = future
        self.waiting = True
        timer = None
        if seconds is not None:
            timer = loop.call_later(seconds, _expire, future, context=_BARE)
        try:
            woken = await future
            # A wake() between the timer and this task resuming found the future done, and
            # only cleared it: it still counts.
            return woken or self._future is not future
        finally:
            self.waiting = False
            self._future = None
            if timer is not None:
                timer.cancel()

    async def _wait_trio(self, seconds: float | None) -> bool:
        event = self._event = anyio.Event()
        self.waiting = True
        try:
            with anyio.move_on_after(seconds):
                await event.wait()
            return event.is_set()
        finally:
            self.waiting = False
            self._event = None


_BARE = contextvars.Context()  # _expire reads no context variable: spare each timer a copy


class LazyEvent:
    __slots__ = ("_event", "_is_set")

    def __init__(self, is_set: bool = False) -> None:
        self._is_set = is_set
        self._event: anyio.Event | None = None

    def is_set(self) -> bool:
        return self._is_set

    def set(self) -> None:
        self._is_set = True
        if self._event is not None:
            self._event.set()

    async def wait(self) -> None:
        if self._is_set:
            await anyio.lowlevel.checkpoint()
            return
        if self._event is None:
            self._event = anyio.Event()
        await self._event.wait()


async def _call_later_trio(seconds: float, callback: Callable[[], object]) -> None:
    await anyio.sleep(seconds)
    callback()


def _expire(future: asyncio.Future[bool]) -> None:
    if not future.done():
        future.set_result(False)
