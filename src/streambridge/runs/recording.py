"""The producer's side: a run's chunks copied into a store as they are made.

The run goes on in a task of its own, whoever reads it; a stop requested through the store
(by id, from any reader or process) closes its stream as a disconnect would: the run sees
``controller.is_cancelled`` and is cancelled after its grace.
"""

from __future__ import annotations

import logging

import anyio

from .._spawn import spawn_detached
from ..run import RunStream
from .store import RunRecord, RunStatus, RunStore

__all__ = ["record"]

logger = logging.getLogger("streambridge")


async def record(store: RunStore, stream: RunStream, protocol: str) -> RunRecord:
    """Register ``stream``'s run in ``store`` and start copying its chunks there; the run starts
    now and goes on until it ends or a stop is requested.  :class:`RunExistsError` if the
    run's id was used before."""
    run_input = stream.input
    assert run_input.run_id is not None  # create_run gives every run an id
    record = RunRecord(
        run_id=run_input.run_id, thread_id=run_input.thread_id, input=run_input, protocol=protocol
    )
    await store.create(record)
    stream.take_batch()  # starts the run in this task's context (its contextvars, its request)
    spawn_detached(_copy(store, stream, record.run_id))
    return record


async def _copy(store: RunStore, stream: RunStream, run_id: str) -> None:
    status = RunStatus.DONE
    try:
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(_stop_when_asked, store, stream, run_id, task_group.cancel_scope)
            while (batch := await stream.next_batch()) is not None:
                await store.append(run_id, batch)
            task_group.cancel_scope.cancel()
        if stream.cancelled:
            status = RunStatus.CANCELLED
        elif stream.failed:
            status = RunStatus.ERROR
    except BaseException as exc:
        # Nothing may escape a detached task (on trio it would end the event loop); the store
        # failing is the likely cause, and the run cannot go on without its log.
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


async def _stop_when_asked(
    store: RunStore, stream: RunStream, run_id: str, copying: anyio.CancelScope
) -> None:
    await store.wait_stop(run_id)
    if not stream.ended:
        await stream.aclose()  # the grace, then the cancellation; what it adds is dropped
        copying.cancel()
