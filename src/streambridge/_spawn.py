"""Start a task that outlives the call that starts it, on asyncio or trio.

A run must keep going between two reads of its stream, and its stream may be read without an
``async with`` (assistant-stream code does ``async for chunk in create_run(...)``), so there is no
task group to start it in.  The stream owns the task instead: closing the stream cancels it and
waits for it, which gives the same guarantee a task group would.

A detached task is also the cheapest task there is (an anyio task group's ``start_soon`` adds a
cancel scope, a task handle and its event), and a server holds one or two per open stream.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["BARE_CONTEXT", "in_trio", "spawn_detached"]

_running: set[asyncio.Task[None]] = set()  # asyncio keeps only weak references to tasks
BARE_CONTEXT = contextvars.Context()
"""For loop callbacks that read no context variable: spares each a copy of the current one."""
_forget = _running.discard  # made once: each running task would hold a bound method of its own


def in_trio() -> bool:
    """True when the caller runs under trio (else asyncio is assumed)."""
    trio = sys.modules.get("trio")
    if trio is None:
        return False
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True


def spawn_detached(coroutine: Coroutine[Any, Any, None]) -> Callable[[], object]:
    """Run ``coroutine`` in a new task of the current event loop, in a copy of the current
    context; return a function that cancels the task (it then ends at its next checkpoint).

    ``coroutine`` must not raise: on trio it runs as a system task, where an exception is fatal.
    """
    if in_trio():
        import trio

        scope = trio.CancelScope()

        async def call() -> None:
            with scope:
                await coroutine

        trio.lowlevel.spawn_system_task(call, context=contextvars.copy_context())
        return scope.cancel

    task = asyncio.get_running_loop().create_task(coroutine)
    _running.add(task)
    task.add_done_callback(_forget, context=BARE_CONTEXT)
    return task.cancel
