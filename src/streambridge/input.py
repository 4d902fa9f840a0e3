"""What a client sent to start a run, in one shape for every wire protocol."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RunInput", "new_run_id"]


def new_run_id() -> str:
    """``run_`` and 32 random hex digits (128 bits, as a UUID's; os.urandom is what uuid4
    draws from, without building a UUID)."""
    return "run_" + os.urandom(16).hex()


@dataclass(slots=True)
class RunInput:
    """The request that started a run.

    Each protocol's request parser fills it from that protocol's POST body; ``raw`` keeps the
    decoded body for anything the common fields do not carry.  ``run_id`` and ``created_at``
    give the encoders their ids and timestamps, so encoding the same chunks with the same input
    gives the same bytes (``create_run`` fills a missing ``run_id``).
    """

    messages: list[Any] = field(default_factory=list)
    tools: list[Any] = field(default_factory=list)
    state: Any = None
    thread_id: str | None = None
    run_id: str | None = None
    raw: Any = None
    system: str | None = None
    """System prompt or instructions, where the protocol's request carries one."""
    options: dict[str, Any] = field(default_factory=dict)
    """Protocol-specific request options an encoder honours (e.g. ``include_usage``, ``model``)."""
    created_at: int = field(default_factory=lambda: int(time.time()))
    """When the run was requested, in Unix seconds."""
