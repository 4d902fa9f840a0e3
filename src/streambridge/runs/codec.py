"""A stored run's chunks and input as text, for a store outside the process (Redis).

A batch of chunks is one JSON array.  A text delta without a parent, nearly every chunk of a
run, is its bare string; any other chunk is ``[kind, field, ...]`` in its dataclass's field order,
trailing fields that hold their default left out.  JSON is exact for what a chunk may carry (the
encoders send it as JSON anyway), so a decoded batch encodes to the bytes the original did.

A run's input is its request body and the protocol that parses it, plus the fields a host or
``create_run`` set after parsing (its ids, its time): parsing the same body again is the exact
way back to the same messages, whatever types they hold.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from .._jsonlib import dumps, dumps_str, loads
from ..chunks import (
    Annotations,
    Chunk,
    Data,
    Error,
    File,
    ReasoningDelta,
    Source,
    StateUpdate,
    StepFinish,
    StepStart,
    TextDelta,
    ToolCallArgsFinish,
    ToolCallBegin,
    ToolCallDelta,
    ToolResult,
)
from ..input import RunInput

__all__ = ["decode_chunks", "decode_input", "encode_chunks", "encode_input"]

_KINDS: tuple[type[Any], ...] = (
    TextDelta,
    ReasoningDelta,
    ToolCallBegin,
    ToolCallDelta,
    ToolCallArgsFinish,
    ToolResult,
    Source,
    File,
    Data,
    Annotations,
    Error,
    StepStart,
    StepFinish,
    StateUpdate,
)
"""Each kind's number on the wire is its index here: append new kinds, never reorder."""

_NUMBER = {kind: number for number, kind in enumerate(_KINDS)}
_FIELDS = {kind: tuple(f.name for f in dataclasses.fields(kind)) for kind in _KINDS}
_DEFAULTS = {
    kind: tuple(f.default for f in dataclasses.fields(kind)) for kind in _KINDS
}  # MISSING for a required field: never equal to a value, so never left out
_TUPLES = {Annotations, StateUpdate}  # their one field is a tuple; JSON brings back a list


def encode_chunks(chunks: Sequence[Chunk]) -> str:
    """One batch as JSON text; ``TypeError`` or ``ValueError`` for a value JSON cannot hold."""
    # Item by item: a text delta's string is one C call, where the encoder's list walk costs
    # a token more than the rest of its way into the store.
    return "[" + ",".join(map(_item, chunks)) + "]"


def _item(chunk: Chunk) -> str:
    if type(chunk) is TextDelta and chunk.parent_id is None:
        return dumps_str(chunk.text_delta)
    return dumps(_compact(chunk))


def _compact(chunk: Chunk) -> Any:
    kind = type(chunk)
    if kind is TextDelta and chunk.parent_id is None:  # type: ignore[union-attr]
        return chunk.text_delta  # type: ignore[union-attr]
    values = [getattr(chunk, name) for name in _FIELDS[kind]]
    defaults = _DEFAULTS[kind]
    end = len(values)
    while (
        end
        and values[end - 1] == defaults[end - 1]
        and type(values[end - 1]) is type(defaults[end - 1])
    ):
        end -= 1
    return [_NUMBER[kind], *values[:end]]


def decode_chunks(text: str | bytes) -> list[Chunk]:
    """The batch :func:`encode_chunks` wrote."""
    return [_expand(item) for item in loads(text)]


def _expand(item: Any) -> Chunk:
    if isinstance(item, str):
        return TextDelta(item)
    kind = _KINDS[item[0]]
    if kind in _TUPLES:
        return kind(tuple(item[1]))  # type: ignore[no-any-return]
    return kind(*item[1:])  # type: ignore[no-any-return]


# -- the run's input ------------------------------------------------------------------------------

_SET_AFTER_PARSING = ("run_id", "thread_id", "created_at", "state", "system", "tools", "options")
"""What a host, ``create_run`` or the run's author may set on a parsed input: stored as is."""


def encode_input(run_input: RunInput, protocol: str) -> str:
    """The input as JSON text: the body ``protocol`` parses back, and the fields set after
    parsing.  A value JSON cannot hold (an input built in code, not parsed) is left out, and
    a reader sees the input without it."""
    names = ("raw", *_SET_AFTER_PARSING)
    fields: dict[str, Any] = {"protocol": protocol}
    fields.update((name, getattr(run_input, name)) for name in names)
    try:
        return dumps(fields)  # the usual case: one encoding, not one a field first
    except (TypeError, ValueError):
        pass
    for name in names:
        try:
            dumps(fields[name])
        except (TypeError, ValueError):
            del fields[name]
    return dumps(fields)


def decode_input(text: str | bytes) -> RunInput:
    """The input :func:`encode_input` wrote: its body parsed again, then the stored fields."""
    from ..protocols import get_protocol

    fields = loads(text)
    run_input = RunInput()
    raw = fields.get("raw")
    if raw is not None:
        try:
            run_input = get_protocol(fields["protocol"]).parse_request(raw)
        except Exception:  # an input built in code, not from this protocol: its fields only
            run_input = RunInput(raw=raw)
    for name in _SET_AFTER_PARSING:
        if name in fields:
            setattr(run_input, name, fields[name])
    return run_input
