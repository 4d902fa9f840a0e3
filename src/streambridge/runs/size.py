"""How much of a store's byte budget a chunk takes: its text, or its JSON's length, plus a
fixed share for the object around it."""

from __future__ import annotations

import json
from typing import Any

from ..chunks import Chunk, ReasoningDelta, TextDelta, ToolCallDelta

__all__ = ["chunk_size"]

_OVERHEAD = 64


def chunk_size(chunk: Chunk) -> int:
    # The deltas are nearly every chunk of a run: their text is their size.
    if isinstance(chunk, TextDelta):
        return _OVERHEAD + len(chunk.text_delta)
    if isinstance(chunk, ReasoningDelta):
        return _OVERHEAD + len(chunk.reasoning_delta)
    if isinstance(chunk, ToolCallDelta):
        return _OVERHEAD + len(chunk.args_text_delta)
    return _OVERHEAD + _json_size(chunk)


def _json_size(chunk: Chunk) -> int:
    fields: Any = getattr(chunk, "__slots__", ())
    total = 0
    for name in fields:
        value = getattr(chunk, name, None)
        if isinstance(value, str):
            total += len(value)
        elif value is not None and not isinstance(value, int | float | bool):
            try:
                total += len(json.dumps(value, default=str))
            except (TypeError, ValueError, RecursionError):
                total += 1024  # unwritable: the encoder refuses it anyway
    return total
