"""The run store's interface: what a backend (memory, Redis) keeps per run and how it is read.

A run's log is the protocol-neutral chunk sequence, each chunk at a gapless position from 0.
Encoders are pure functions of the run's input and its chunks, so a reader in any protocol
replays the log through a fresh encoder and skips what it already has.  One producer appends to
a run (the process that runs it); any number of readers, anywhere, follow it with a
:class:`LogCursor`, which reads without waiting (``take_batch``) and says when to read again
(``when_ready``), as a run's own stream does, so every host delivers both the same way.

Every method of a store may be called from any task of the event loop the store serves; a
backend that talks to a server does its I/O there and keeps what readers need close at hand.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..chunks import Chunk
from ..encoding import BatchSource
from ..input import RunInput

__all__ = [
    "LogCursor",
    "LogTrimmedError",
    "RunExistsError",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "StoreUnavailableError",
]


class RunStatus(str, enum.Enum):
    """Where a run is: ``running`` until its producer finishes it one of the other three ways."""

    RUNNING = "running"
    DONE = "done"
    ERROR = "error"
    CANCELLED = "cancelled"


@dataclass(slots=True)
class RunRecord:
    """What a store knows of one run besides its log."""

    run_id: str
    thread_id: str | None
    input: RunInput
    protocol: str
    """The protocol of the request that started it (a reader may use another)."""
    status: RunStatus = RunStatus.RUNNING
    length: int = 0
    """How many chunks the log holds so far (the next chunk's position)."""
    trimmed: int = 0
    """How many chunks at the log's start were dropped to bound its size (0: complete)."""
    created_at: float = field(default_factory=time.time)

    @property
    def finished(self) -> bool:
        return self.status is not RunStatus.RUNNING


class RunExistsError(Exception):
    """A run with this id was already started: a run has one producer, ever."""


class LogTrimmedError(Exception):
    """The start of a run's log was dropped to bound its size, so it cannot be replayed."""


class StoreUnavailableError(Exception):
    """The store cannot be reached or fails (its server is down): a host answers 503 and the
    client may try again later."""


LogCursor = BatchSource
"""One reader's place in a run's log: read the way a run's own stream is read, so an encoded
stream reads either (see :class:`~streambridge.encoding.BatchSource`)."""


class RunStore(Protocol):
    """Where runs that outlive their connection live: :class:`~streambridge.MemoryStore` in one
    process, a Redis-backed store across many."""

    async def create(self, record: RunRecord) -> None:
        """Register a new run; :class:`RunExistsError` if its id was used before."""

    async def append(self, run_id: str, chunks: Sequence[Chunk]) -> None:
        """Add a ready batch at the end of the run's log (its producer only)."""

    async def finish(self, run_id: str, status: RunStatus) -> None:
        """The run ended: readers get the end of its log, and it expires after the store's
        time to live."""

    async def get(self, run_id: str) -> RunRecord | None:
        """The run's record, or ``None`` for an unknown (or expired) id."""

    async def active_run(self, thread_id: str) -> str | None:
        """The id of the thread's running run, if it has one."""

    async def read(self, run_id: str, position: int = 0) -> LogCursor:
        """A cursor from ``position`` (the number of chunks the reader has); ``KeyError`` for an
        unknown run, :class:`LogTrimmedError` when ``position`` was dropped."""

    async def request_stop(self, run_id: str) -> bool:
        """Ask the run's producer to stop it (as a disconnect would); ``False`` if it has
        already finished."""

    async def wait_stop(self, run_id: str) -> None:
        """Return once a stop of the run was requested (its producer waits here)."""
