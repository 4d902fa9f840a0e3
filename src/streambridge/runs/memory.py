"""``MemoryStore``: the run store inside one process (the embedded default).

Each run keeps its log as a list of chunks; a reader is an index into it, so a slow or gone
reader costs nothing, and the log's size is bounded by the store's limits whoever reads it.
Readers wait on callbacks the producer's ``append`` calls, not by polling.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence

import anyio

from .._size import chunk_size
from .._wakeup import LazyEvent, Wakeup
from ..chunks import Chunk
from .store import LogTrimmedError, RunExistsError, RunRecord, RunStatus

__all__ = ["MemoryStore"]


class _Log:
    __slots__ = ("bytes", "chunks", "expires", "record", "stop", "waiters")

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        self.chunks: deque[Chunk] = deque()
        self.bytes = 0
        self.stop = LazyEvent()
        self.waiters: dict[object, Callable[[], object]] = {}
        self.expires = float("inf")

    def wake(self) -> None:
        waiters, self.waiters = self.waiters, {}
        for callback in waiters.values():
            callback()


class MemoryStore:
    """Runs that outlive their connection, kept in this process.

    ``max_events`` and ``max_bytes`` bound each run's log: past either, its oldest chunks are
    dropped, and the run can no longer be attached from its start (readers already following it
    go on).  A finished run is kept ``ttl`` seconds for late readers, then forgotten.

    One store serves one event loop (the WSGI hosts share one through their portal).
    """

    def __init__(
        self, *, max_events: int = 100_000, max_bytes: int = 16 << 20, ttl: float = 300.0
    ) -> None:
        if max_events < 1 or max_bytes < 1:
            raise ValueError("max_events= and max_bytes= must be at least 1")
        if not ttl >= 0:
            raise ValueError(f"ttl= must be a number of seconds >= 0, got {ttl!r}")
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.ttl = ttl
        self._logs: dict[str, _Log] = {}
        self._active: dict[str, str] = {}  # thread id -> its running run's id
        self._expiring: deque[tuple[float, str]] = deque()

    def __repr__(self) -> str:
        return f"<MemoryStore: {len(self._logs)} runs>"

    # -- the producer's side ---------------------------------------------------------------------

    async def create(self, record: RunRecord) -> None:
        self._expire()
        if record.run_id in self._logs:
            raise RunExistsError(f"run {record.run_id!r} was already started")
        self._logs[record.run_id] = _Log(record)
        if record.thread_id is not None:
            self._active[record.thread_id] = record.run_id

    async def append(self, run_id: str, chunks: Sequence[Chunk]) -> None:
        log = self._logs[run_id]
        if log.record.finished:
            raise RuntimeError(f"run {run_id!r} has finished; its log takes no more chunks")
        log.chunks.extend(chunks)
        log.record.length += len(chunks)
        log.bytes += sum(map(chunk_size, chunks))
        self._bound(log)
        log.wake()

    def _bound(self, log: _Log) -> None:
        chunks = log.chunks
        while len(chunks) > self.max_events or (log.bytes > self.max_bytes and len(chunks) > 1):
            log.bytes -= chunk_size(chunks.popleft())
            log.record.trimmed += 1

    async def finish(self, run_id: str, status: RunStatus) -> None:
        log = self._logs.get(run_id)
        if log is None or log.record.finished:
            return
        log.record.status = status
        thread_id = log.record.thread_id
        if thread_id is not None and self._active.get(thread_id) == run_id:
            del self._active[thread_id]
        log.expires = time.monotonic() + self.ttl
        self._expiring.append((log.expires, run_id))
        log.stop.set()  # nothing left to stop
        log.wake()

    async def wait_stop(self, run_id: str) -> None:
        log = self._logs.get(run_id)
        if log is not None:
            await log.stop.wait()

    # -- anybody's side --------------------------------------------------------------------------

    async def get(self, run_id: str) -> RunRecord | None:
        self._expire()
        log = self._logs.get(run_id)
        return None if log is None else log.record

    async def active_run(self, thread_id: str) -> str | None:
        self._expire()
        return self._active.get(thread_id)

    async def read(self, run_id: str, position: int = 0) -> MemoryCursor:
        self._expire()
        log = self._logs.get(run_id)
        if log is None:
            raise KeyError(run_id)
        return MemoryCursor(log, position)

    async def request_stop(self, run_id: str) -> bool:
        log = self._logs.get(run_id)
        if log is None or log.record.finished:
            return False
        log.stop.set()
        return True

    def _expire(self) -> None:
        """Forget finished runs whose time is up (checked as the store is used: no timer task)."""
        expiring = self._expiring
        now = time.monotonic()
        while expiring and expiring[0][0] <= now:
            _, run_id = expiring.popleft()
            log = self._logs.get(run_id)
            if log is not None and log.expires <= now:
                del self._logs[run_id]


class MemoryCursor:
    """A reader's place in a :class:`MemoryStore` log."""

    __slots__ = ("_closed", "_log", "_position", "_wakeup")

    def __init__(self, log: _Log, position: int) -> None:
        if position < 0 or position > log.record.length:
            raise ValueError(
                f"position {position} is outside run {log.record.run_id!r}'s log "
                f"(0 to {log.record.length})"
            )
        self._log = log
        self._position = position
        self._closed = False
        self._wakeup: Wakeup | None = None
        self._check()

    def _check(self) -> None:
        record = self._log.record
        if self._position < record.trimmed:
            raise LogTrimmedError(
                f"run {record.run_id!r} kept only its last {record.length - record.trimmed} "
                f"chunks (the store's max_events= or max_bytes=), so it cannot be read from "
                f"chunk {self._position}"
            )

    def take_batch(self) -> list[Chunk] | None:
        if self._closed:
            return None
        log = self._log
        record = log.record
        if self._position < record.length:
            self._check()
            start = self._position - record.trimmed
            chunks = log.chunks
            batch = list(chunks) if start == 0 else [chunks[i] for i in range(start, len(chunks))]
            self._position = record.length
            return batch
        return None if record.finished else []

    def when_ready(self, callback: Callable[[], object]) -> None:
        log = self._log
        if self._closed or self._position < log.record.length or log.record.finished:
            callback()
        else:
            log.waiters[self] = callback

    async def next_batch(self, idle_timeout: float | None = None) -> list[Chunk] | None:
        while True:
            batch = self.take_batch()
            if batch is None or batch:
                return batch
            wakeup = self._wakeup = self._wakeup or Wakeup()
            self._log.waiters[self] = wakeup.wake
            if not await wakeup.wait(idle_timeout):
                self._log.waiters.pop(self, None)
                return []

    async def aclose(self) -> None:
        self._closed = True
        self._log.waiters.pop(self, None)
        await anyio.lowlevel.checkpoint()
