"""``Interruptible``: a block that another task can end at once.

``async with Interruptible() as block:`` runs the block; ``block.interrupt()``, from anywhere in
the same event loop, cancels whatever the block awaits and the block is left quietly.  It is how a
stream's delivery stops when the client leaves, a send takes too long or the host shuts down, and
how a quiet stream stops listening for its client when the run has something to send.

A server holds one or two per open stream, so on asyncio it cancels the task itself and counts
its own cancellation off again at the end of the block, as ``asyncio.timeout`` does, without a
timeout object, a loop callback or an anyio cancel scope.  Under trio, and on Python 3.10 (no
``Task.uncancel``), it is an anyio cancel scope.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

import anyio

from .._spawn import in_trio

__all__ = ["Interruptible"]

_UNCANCEL = hasattr(asyncio.Task, "uncancel")  # Python 3.11+


class Interruptible:
    __slots__ = ("_cancelling", "_scope", "_task", "interrupted")

    def __init__(self) -> None:
        self.interrupted = False
        """True once :meth:`interrupt` was called."""
        self._scope: anyio.CancelScope | None = None
        # The block's task while it runs (asyncio): Any, as mypy checks for Python 3.10, where
        # tasks lack cancelling() and uncancel() (and this path is not taken).
        self._task: Any = None
        self._cancelling = 0  # the task's pending cancellations when the block began

    async def __aenter__(self) -> Interruptible:
        if not _UNCANCEL or in_trio():
            scope = self._scope = anyio.CancelScope()
            scope.__enter__()
            if self.interrupted:
                scope.cancel()
            return self
        task: Any = asyncio.current_task()
        self._task = task
        self._cancelling = task.cancelling()
        if self.interrupted:
            task.cancel()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        scope, task = self._scope, self._task
        self._scope = self._task = None
        if scope is not None:
            return bool(scope.__exit__(exc_type, exc, tb))
        if task is None or not self.interrupted:
            return False
        # This block cancelled the task: take that back.  What comes out of the block is this
        # block's own cancellation only when no other one is pending (as asyncio.timeout).
        return bool(task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError)

    def interrupt(self) -> None:
        if self.interrupted:
            return
        self.interrupted = True
        if self._scope is not None:
            self._scope.cancel()
        elif self._task is not None:
            self._task.cancel()  # where the task waits, inside the block
