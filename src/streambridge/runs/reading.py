"""The readers' side: a stored run's log, encoded in any protocol from its start.

Encoders are pure, so a reader gets the bytes the run's first reader got, in its own protocol:
the log replayed through a fresh encoder, the events the reader already has left out.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio

from ..chunks import Chunk, Error
from ..encoding import EncodedStream
from ..input import RunInput
from ..protocols import WireProtocol
from .store import LogCursor, LogTrimmedError, RunRecord, RunStore

__all__ = ["TRIMMED_MESSAGE", "read_run", "refusal"]

TRIMMED_MESSAGE = "This answer is too long to be replayed from here; reload the conversation."
"""What a reader sees when the run's log no longer holds what it needs (see the store's
limits): the start, for a new reader, or the next chunks, for one that fell behind."""


async def read_run(
    store: RunStore,
    record: RunRecord,
    protocol: WireProtocol,
    *,
    heartbeat: float | None,
    skip_events: int = 0,
    stop_on_close: bool = False,
) -> EncodedStream:
    """The run's bytes in ``protocol``, from its start, without its first ``skip_events``
    events.  ``stop_on_close``: closing the stream before the run's end stops the run (the
    reader that started it, when a disconnect cancels runs).

    A log whose start was trimmed, or a reader that fell behind a trimmed log, gets an error
    and the protocol's end: never a replay with a gap.
    """
    cursor: LogCursor | None
    try:
        cursor = await store.read(record.run_id)
    except (LogTrimmedError, KeyError):  # KeyError: expired since the record was looked up
        cursor = None
    reader = _Reader(
        cursor,
        store if stop_on_close else None,
        record.run_id,
        TRIMMED_MESSAGE if cursor is None else None,
    )
    return EncodedStream(
        reader,
        protocol,
        heartbeat,
        record.input,
        skip_events=skip_events,
        event_ids=protocol.event_ids,
    )


def refusal(protocol: WireProtocol, run_input: RunInput, message: str) -> EncodedStream:
    """A stream of one error and the protocol's end, for a host that has sent its headers
    before it learns that the run cannot be served."""
    return EncodedStream(_Reader(None, None, "", message), protocol, None, run_input)


class _Reader:
    """A cursor as an encoded stream reads it: a gap becomes an error and the end, and an early
    close may stop the run."""

    __slots__ = ("_cursor", "_ended", "_error", "_run_id", "_stopping")

    def __init__(
        self,
        cursor: LogCursor | None,
        stopping: RunStore | None,
        run_id: str,
        error: str | None = None,
    ) -> None:
        self._cursor = cursor
        self._stopping = stopping
        self._run_id = run_id
        self._ended = False
        self._error = error  # without a cursor: the error the stream ends with

    def take_batch(self) -> list[Chunk] | None:
        cursor = self._cursor
        if cursor is not None:
            try:
                batch = cursor.take_batch()
            except LogTrimmedError:  # it fell behind: the chunks it needs are gone
                self._cursor, self._error = None, TRIMMED_MESSAGE
        if self._cursor is None:
            batch = None if self._error is None else [Error(self._error)]
            self._error = None
        self._ended = batch is None
        return batch

    def when_ready(self, callback: Callable[[], object]) -> None:
        if self._cursor is None:
            callback()
        else:
            self._cursor.when_ready(callback)

    async def next_batch(self, idle_timeout: float | None = None) -> list[Chunk] | None:
        # The cursor's own wait (the Wakeup it keeps), not a new anyio.Event and cancel scope
        # for every batch: they were a large part of a reader's CPU per token.
        cursor = self._cursor
        if cursor is not None:
            try:
                batch = await cursor.next_batch(idle_timeout)
            except LogTrimmedError:  # it fell behind: the chunks it needs are gone
                self._cursor, self._error = None, TRIMMED_MESSAGE
            else:
                self._ended = batch is None
                return batch
        return self.take_batch()

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            if self._cursor is not None:
                await self._cursor.aclose()
            if self._stopping is not None and not self._ended:
                await self._stopping.request_stop(self._run_id)
