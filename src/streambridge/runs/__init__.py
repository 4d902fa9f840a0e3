"""Runs that outlive their connection: a store of runs' chunk logs, read by id, from any event.

A host given ``store=`` records every run it starts (:func:`record`) and serves its bytes from
the store (:func:`read_run`), so any other request can attach to the run by id, resume it after
the events it has, or stop it.  :class:`MemoryStore` keeps runs in this process,
:class:`RedisStore` in Redis, for many processes and hosts.
"""

from __future__ import annotations

from .memory import MemoryStore
from .reading import read_run
from .recording import record
from .redis import RedisStore
from .store import (
    LogCursor,
    LogTrimmedError,
    RunExistsError,
    RunRecord,
    RunStatus,
    RunStore,
    StoreUnavailableError,
)

__all__ = [
    "LogCursor",
    "LogTrimmedError",
    "MemoryStore",
    "RedisStore",
    "RunExistsError",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "StoreUnavailableError",
    "read_run",
    "record",
]
