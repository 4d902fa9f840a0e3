"""What a client sent to start a run, in one shape for every wire protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["RunInput"]


@dataclass(slots=True)
class RunInput:
    """The request that started a run.

    Each protocol's request parser fills it from that protocol's POST body; ``raw`` keeps the
    decoded body for anything the common fields do not carry.
    """

    messages: list[Any] = field(default_factory=list)
    tools: list[Any] = field(default_factory=list)
    state: Any = None
    thread_id: str | None = None
    run_id: str | None = None
    raw: Any = None
