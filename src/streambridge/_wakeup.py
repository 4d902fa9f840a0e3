"""Waiting that costs nothing until somebody waits: ``Wakeup`` and ``LazyEvent``.

``Wakeup``: one task sleeps until another wakes it, or until some seconds pass.  It is what a
stream's reader waits on between two batches, so an open stream holds one: a waiting task holds
a bare future (and a timer, if it waits with a timeout), and nothing at all between waits, where
an ``anyio.Event`` holds an ``asyncio.Event`` with its deque of waiters and ``move_on_after`` a
cancel scope per wait.  Under trio the waiting task is parked with trio's own
``wait_task_rescheduled`` and woken with ``reschedule``.

``LazyEvent``: an event that is mostly only read (``is_set()``), so its ``anyio.Event`` is made
when somebody first waits on it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import anyio.lowlevel

from ._spawn import BARE_CONTEXT, in_trio

__all__ = ["LazyEvent", "Wakeup"]


class Wakeup:
    __slots__ = ("_future", "_task", "_trio")

    def __init__(self) -> None:
        self._future: asyncio.Future[bool] | None = None
        self._task: Any = None  # the trio task parked in wait()
        self._trio = in_trio()

    def wake(self) -> None:
        """Wake the waiting task, if there is one."""
        future, task = self._future, self._task
        if future is not None:
            self._future = None
            if not future.done():  # e.g. cancelled with its task
                future.set_result(True)
        elif task is _CANCELLED or task is _WOKEN:  # on its way out of wait(): it was woken
            self._task = _WOKEN
        elif task is not None:
            self._task = None
            import trio

            trio.lowlevel.reschedule(task)

    async def wait(self, seconds: float | None = None) -> bool:
        """Wait for :meth:`wake`: ``True`` once woken, ``False`` after ``seconds``."""
        if self._trio:
            return await self._wait_trio(seconds)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._future = future
        if seconds is None:
            try:
                return await future
            finally:
                self._future = None
        timer = loop.call_later(seconds, _expire, future, context=BARE_CONTEXT)
        try:
            woken = await future
            # A wake() between the timer and this task resuming found the future done, and
            # only cleared it: it still counts.
            return woken or self._future is not future
        finally:
            self._future = None
            timer.cancel()

    async def _wait_trio(self, seconds: float | None) -> bool:
        import trio

        self._task = trio.lowlevel.current_task()
        try:
            if seconds is None:  # no cancel scope: the driver waits like this once a token
                await trio.lowlevel.wait_task_rescheduled(self._abort)
                return True
            with trio.move_on_after(seconds):
                await trio.lowlevel.wait_task_rescheduled(self._abort)
                return True  # rescheduled by wake()
            # Timed out.  A wake() after the timeout reached the task, before the task got
            # here, still counts, as on asyncio.
            return self._task is _WOKEN
        finally:
            self._task = None

    def _abort(self, _: object) -> Any:
        """The parked task is cancelled (or timed out): wake() must not reschedule it now."""
        import trio

        self._task = _CANCELLED
        return trio.lowlevel.Abort.SUCCEEDED


_CANCELLED = object()  # Wakeup._task: the waiting task was cancelled and is leaving wait()
_WOKEN = object()  # ... and wake() came meanwhile


def _expire(future: asyncio.Future[bool]) -> None:
    if not future.done():
        future.set_result(False)


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
