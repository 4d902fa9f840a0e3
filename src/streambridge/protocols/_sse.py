"""Server-sent event framing for the SSE protocols."""

from __future__ import annotations

from typing import Any

from .._jsonlib import dumps

__all__ = ["DONE", "KEEPALIVE", "sse", "sse_json"]

DONE = "data: [DONE]\n\n"
KEEPALIVE = b": keepalive\n\n"
"""An SSE comment: every SSE parser skips it."""


def sse(data: str, event: str | None = None) -> str:
    """One event; ``data`` is JSON, so it never holds a newline."""
    if event is None:
        return "data: " + data + "\n\n"
    return "event: " + event + "\ndata: " + data + "\n\n"


def sse_json(value: Any, event: str | None = None) -> str:
    return sse(dumps(value), event)
