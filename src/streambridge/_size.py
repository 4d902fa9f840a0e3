"""What a chunk weighs in a stream's byte budget: roughly the bytes it takes on the wire.

A stream's memory is bounded in bytes (``max_buffered_bytes=`` on ``create_run`` and every
host), so each chunk is weighed when the run emits it: the characters of its text, the JSON of
its values, and :data:`OVERHEAD` for the protocol's framing around one event.  An estimate, made
once per chunk and cheaply (a token is weighed by ``len``): it need not match any one protocol's
bytes, only keep the budget in step with what the stream holds.  A run store's byte budget
(``runs/``) weighs the chunks it keeps the same way.
"""

from __future__ import annotations

from typing import Any

from ._jsonlib import json_text
from .chunks import (
    Annotations,
    Chunk,
    Data,
    Error,
    File,
    ReasoningDelta,
    Source,
    StateOperation,
    StateUpdate,
    TextDelta,
    ToolCallDelta,
    ToolResult,
)

__all__ = ["OVERHEAD", "chunk_size", "operation_size", "value_size"]

OVERHEAD = 64
"""Bytes counted for one event's framing: 5 in data-stream, about 200 in openai-chat."""


def value_size(value: Any) -> int:
    """The length of ``value`` as JSON; :data:`OVERHEAD` for a value JSON cannot hold (its
    chunk ends the stream when it is encoded, so it is never held for long)."""
    if type(value) is str:
        return len(value)
    if value is None:
        return 4
    try:
        return len(json_text(value))
    except (TypeError, ValueError, RecursionError):
        return OVERHEAD


def operation_size(op: StateOperation) -> int:
    """One state operation: its value, its path and its framing."""
    return OVERHEAD + value_size(op["value"]) + sum(len(str(key)) for key in op["path"])


def chunk_size(chunk: Chunk) -> int:
    """Any chunk's weight (the controller weighs its text deltas itself, on the hot path)."""
    if isinstance(chunk, TextDelta):
        return OVERHEAD + len(chunk.text_delta)
    if isinstance(chunk, ReasoningDelta):
        return OVERHEAD + len(chunk.reasoning_delta)
    if isinstance(chunk, ToolCallDelta):
        return OVERHEAD + len(chunk.args_text_delta)
    if isinstance(chunk, ToolResult):
        return OVERHEAD + value_size(chunk.result) + value_size(chunk.artifact)
    if isinstance(chunk, Data):
        return OVERHEAD + value_size(chunk.data)
    if isinstance(chunk, File):
        return OVERHEAD + len(chunk.data)
    if isinstance(chunk, Source):
        return OVERHEAD + len(chunk.url) + len(chunk.title or "")
    if isinstance(chunk, Annotations):
        return OVERHEAD + value_size(list(chunk.annotations))
    if isinstance(chunk, Error):
        return OVERHEAD + len(chunk.error)
    if isinstance(chunk, StateUpdate):
        return sum(operation_size(op) for op in chunk.operations)
    return OVERHEAD
