"""The producer's side: a run's chunks copied into a store as they are made.

The run goes on in a task of its own, whoever reads it; a stop requested through the store
(by id, from any reader or process) closes its stream as a disconnect would: the run sees
``controller.is_cancelled`` and is cancelled after its grace.  So does the host's shutdown.

A stopped run's log ends with a step that finished as ``"cancelled"``: the log, not only the
run's status, says how it ended, so every reader (one following it now, one attaching or
resuming later, in any protocol) gets its protocol's own stopped end from the chunks alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from types import TracebackType
from typing import Protocol

import anyio

from .._spawn import spawn_detached
from ..chunks import StepFinish
from ..run import RunStream
from ..tally import CANCELLED
from .store import RunRecord, RunStatus, RunStore

__all__ = ["Signal", "record"]

logger = logging.getLogger("streambridge")


class Signal(Protocol):
    """A host's shutdown signal (``OpenStreams.track()``): entered while the run is copied, so
    the host's shutdown waits for it, and set when the host shuts down."""

    def on_set(self, callback: Callable[[], object]) -> None: ...

    def __enter__(self) -> object: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


async def record(
    store: RunStore, stream: RunStream, protocol: str, *, shutdown: Signal | None = None
) -> RunRecord:
    """Register ``stream``'s run in ``store`` and start copying its chunks there; the run starts
    now and goes on until it ends, a stop is requested, or ``shutdown`` is set (the process is
    going away, and its runs with it).  :class:`RunExistsError` if the run's id was used
    before."""
    run_input = stream.input
    assert run_input.run_id is not None  # create_run gives every run an id
    record = RunRecord(
        run_id=run_input.run_id, thread_id=run_input.thread_id, input=run_input, protocol=protocol
    )
    await store.create(record)
    stopping = _ShutDown()
    open_until_copied = ExitStack()
    if shutdown is not None:  # entered now: a shutdown from here on waits for this run
        open_until_copied.enter_context(shutdown)
        shutdown.on_set(stopping.set)
    stream.take_batch()  # starts the run in this task's context (its contextvars, its request)
    spawn_detached(_copy(store, stream, record.run_id, stopping, open_until_copied))
    return record


async def _copy(
    store: RunStore, stream: RunStream, run_id: str, stopping: _ShutDown, open: ExitStack
) -> None:
    with open:
        status = RunStatus.DONE
        try:
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(
                    _stop_when_asked, store, stream, run_id, stopping, task_group.cancel_scope
                )
                while (batch := await stream.next_batch()) is not None:
                    await store.append(run_id, batch)
                task_group.cancel_scope.cancel()
            if stream.cancelled:
                status = RunStatus.CANCELLED
                await store.append(run_id, [StepFinish(CANCELLED)])
            elif stream.failed:
                status = RunStatus.ERROR
        except BaseException as exc:
            # Nothing may escape a detached task (on trio it would end the event loop); the
            # store failing is the likely cause, and the run cannot go on without its log.
            status = RunStatus.ERROR
            if not isinstance(exc, anyio.get_cancelled_exc_class()):
                logger.exception("run %s: its chunks could not be stored; stopping it", run_id)
            with anyio.CancelScope(shield=True):
                await stream.aclose()
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await store.finish(run_id, status)
                except Exception:
                    logger.exception("run %s: the store could not record its end", run_id)


class _ShutDown:
    """The host's shutdown, for one run: it ends the run's wait for a stop request (a callback,
    not a task per run that waits for an event)."""

    __slots__ = ("scope", "set_already")

    def __init__(self) -> None:
        self.set_already = False
        self.scope: anyio.CancelScope | None = None  # the wait for a stop request, under way

    def set(self) -> None:
        self.set_already = True
        if self.scope is not None:
            self.scope.cancel()


async def _stop_when_asked(
    store: RunStore,
    stream: RunStream,
    run_id: str,
    shutdown: _ShutDown,
    copying: anyio.CancelScope,
) -> None:
    """Close the run's stream when a stop is requested or the host shuts down: the grace, then
    the cancellation; what the run adds meanwhile is dropped, and the copy loop sees the end."""
    with anyio.CancelScope() as shutdown.scope:
        if not shutdown.set_already:
            await store.wait_stop(run_id)
    shutdown.scope = None
    if not stream.ended:
        await stream.aclose()
        copying.cancel()  # a closed stream wakes no reader: stop copying here
