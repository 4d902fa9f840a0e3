"""Hypothesis strategies for valid chunk sequences, and the round-trip check every protocol runs.

A valid sequence is one a run could make: a tool call's arguments and result come after its
begin, state operations apply to the state as it is, JSON values are finite.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from streambridge.chunks import (
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
from streambridge.client import accumulate, decode

from .scenarios import encode_chunks, summary

text = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12)
names = st.text("abcdefghij_", min_size=1, max_size=6)
json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def tool_call(draw: st.DrawFn, index: int) -> list[Chunk]:
    """Begin, the arguments (a JSON object cut at random points), finish, maybe a result."""
    call_id = f"call_{index}"
    args = draw(st.dictionaries(names, json_values, max_size=3))
    args_text = json.dumps(args) if args or draw(st.booleans()) else ""
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(args_text) - 1)), max_size=3)))
    pieces = [args_text[a:b] for a, b in zip([0, *cuts], [*cuts, len(args_text)], strict=True)]
    chunks: list[Chunk] = [ToolCallBegin(call_id, draw(names))]
    chunks += [ToolCallDelta(call_id, piece) for piece in pieces if piece]
    chunks.append(ToolCallArgsFinish(call_id))
    if draw(st.booleans()):
        chunks.append(ToolResult(call_id, draw(json_values), is_error=draw(st.booleans())))
    return chunks


@st.composite
def state_updates(draw: st.DrawFn) -> list[Chunk]:
    """Sets of fresh keys, then text appends to the keys that hold strings."""
    keys = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    chunks: list[Chunk] = []
    for key in keys:
        value = draw(text | json_values)
        chunks.append(StateUpdate(({"type": "set", "path": [key], "value": value},)))
        if isinstance(value, str):
            for piece in draw(st.lists(text, max_size=2)):
                op = {"type": "append-text", "path": [key], "value": piece}
                chunks.append(StateUpdate((op,)))
    return chunks


KINDS = ["text", "reasoning", "tool", "source", "file", "data", "state"]


@st.composite
def chunk_sequences(draw: st.DrawFn, *, errors: bool = True) -> list[Chunk]:
    """A run's chunks: a few steps of text, reasoning, tool calls, sources, files and data,
    state updates, and possibly an error at the end."""
    chunks: list[Chunk] = []
    calls = 0
    for _ in range(draw(st.integers(1, 2))):
        chunks.append(StepStart(draw(st.none() | names)))
        for _ in range(draw(st.integers(0, 5))):
            kind = draw(
                st.sampled_from(["text", "reasoning", "tool", "source", "file", "data", "state"])
            )
            if kind == "text":
                chunks += [TextDelta(t) for t in draw(st.lists(text, min_size=1, max_size=3))]
            elif kind == "reasoning":
                chunks += [ReasoningDelta(t) for t in draw(st.lists(text, min_size=1, max_size=3))]
            elif kind == "tool":
                calls += 1
                chunks += draw(tool_call(calls))
            elif kind == "source":
                chunks.append(
                    Source(
                        f"src_{len(chunks)}",
                        f"https://example.com/{draw(names)}",
                        draw(st.none() | text),
                    )
                )
            elif kind == "file":
                chunks.append(File("aGk=", draw(st.sampled_from(["image/png", "text/plain"]))))
            elif kind == "data":
                chunks.append(Data(draw(json_values), draw(st.none() | names)))
            else:
                chunks += draw(state_updates())
        chunks.append(
            StepFinish(
                draw(st.sampled_from(["stop", "length", "tool-calls"])),
                draw(st.integers(0, 10_000)),
                draw(st.integers(0, 10_000)),
            )
        )
    if errors and draw(st.booleans()):
        chunks.append(Error(draw(text)))
    return chunks


def round_trip(
    chunks: list[Chunk], protocol: str, project: Callable[[dict[str, Any]], dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what decoding the encoded chunks gives, what the chunks say), both projected to what
    ``protocol`` can express; a test asserts they are equal."""
    data = encode_chunks(chunks, protocol)
    got = summary(accumulate(decode(data, protocol)))
    want = summary(accumulate(chunks, complete=True))
    return project(got), project(want)
