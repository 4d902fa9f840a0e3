"""How much of a store's byte budget a chunk takes: its text, or its JSON's length, plus a
fixed share for the object around it."""

from __future__ import annotations

import json
from typing import Any

from ..chunks import Chunk, ReasoningDelta, TextDelta, ToolCallArgsDelta

__all__ = ["chunk_size"]

_OVERHEAD = 64


def chunk_size(chunk: Chunk) -> int:
    # The deltas are nearly every chunk of a run: their text is their size.
    if isinstance(chunk, TextDelta | ReasoningDelta):
        return _OVERHEAD + len(chunk.text)
    if isinstance(chunk, ToolCallArgsDelta):
        return _OVERHEAD + len(chunk.text)
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
