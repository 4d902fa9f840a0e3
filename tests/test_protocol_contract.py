"""What every wire protocol promises, checked once for each registered protocol.

An encoder is a pure function of the run's input and its chunks (no clock, no random ids, no
state shared between streams, the chunks left as they were); it writes every chunk kind, through
one dispatch table whose handlers are named after the chunk types; what it writes decodes back
the same whether the bytes arrive whole or in fragments; text with lone surrogates or line
separators, and values nested deep, survive; a value JSON cannot hold (NaN), in any chunk that
carries one, ends the stream as a failed run would.  What is particular to one protocol (its
exact frames, its official client) stays in its own test module.
"""

from __future__ import annotations

import copy
import importlib
import math
import random
import time
import typing
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import pytest

import streambridge as sb
from streambridge.chunks import (
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
from streambridge.client import Decoded, accumulate, decode
from streambridge.run import GENERIC_ERROR_MESSAGE
from support.scenarios import fixed_input

PROTOCOLS = [
    name
    for name in sb.protocol_names()
    if sb.get_protocol(name).new_encoder.__module__.startswith("streambridge.protocols.")
]
"""Every protocol streambridge registers (test modules may register stand-ins of their own)."""

EVERY_KIND: list[Chunk] = [
    StepStart("m1"),
    TextDelta("Hi\n"),
    TextDelta("there"),
    TextDelta(" grouped", parent_id="p"),
    ReasoningDelta("hmm"),
    ToolCallBegin("c1", "search"),
    ToolCallDelta("c1", '{"q":'),
    ToolCallDelta("c1", "1}"),
    ToolCallArgsFinish("c1"),
    ToolResult("c1", {"ok": True}, artifact=[1]),
    ToolCallBegin("c2", "clock"),  # no arguments: every protocol sends "{}"
    ToolCallArgsFinish("c2"),
    ToolResult("c2", "no clock", is_error=True),
    TextDelta(" after"),
    Source("s1", "https://example.com", title="Example"),
    File("aGk=", "text/plain"),
    Data({"a": 1}),
    Data({"b": 2}, name="weather"),
    Annotations(({"x": 1},)),
    StateUpdate(({"type": "set", "path": ["t"], "value": "x"},)),
    StateUpdate(({"type": "append-text", "path": ["t"], "value": "yz"},)),
    StepFinish("stop", 2, 3),
    Error("careful"),
]
TEXT = "Hi\nthere grouped after"


def encode_text(chunks: Iterable[Chunk], protocol: str, run_input: Any = None) -> str:
    encoder = sb.get_protocol(protocol).new_encoder(run_input or fixed_input())
    return "".join(encoder.encode(chunk) for chunk in chunks) + encoder.finish()


async def encode_stream(chunks: list[Chunk], protocol: str) -> bytes:
    """The bytes ``sb.encode`` sends for ``chunks`` (what a host writes)."""

    async def stream() -> AsyncIterator[Chunk]:
        for chunk in chunks:
            yield chunk

    body = sb.encode(stream(), protocol, input=fixed_input())
    return b"".join([data async for data in body])


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[at : at + size] for at in range(0, len(data), size)]


def decode_every_way(data: bytes, protocol: str) -> list[Decoded]:
    """The decoded stream, the same whether it arrives whole, a byte at a time or in 7s."""
    whole = decode(data, protocol)
    for size in (1, 7):
        assert decode(pieces(data, size), protocol) == whole, f"in pieces of {size}"
    return whole


# -- one dispatch table per encoder ---------------------------------------------------------


def test_every_kind_has_every_chunk_kind() -> None:
    assert {type(chunk) for chunk in EVERY_KIND} == set(typing.get_args(Chunk))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_handlers_are_named_after_the_chunk_types(protocol: str) -> None:
    """One naming for every protocol: the handler of ``tool-call-delta`` is
    ``_tool_call_delta``, in each encoder's table (``_ENCODERS``)."""
    encoder_class = sb.get_protocol(protocol).new_encoder
    table: dict[type, Callable[..., str]] = importlib.import_module(
        encoder_class.__module__
    )._ENCODERS
    assert set(table) == set(typing.get_args(Chunk))
    for kind, handler in table.items():
        name = "_" + kind.type.replace("-", "_")  # type: ignore[attr-defined]
        assert getattr(encoder_class, name, None) is handler, (kind.__name__, name)


# -- purity ----------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_encoding_is_a_pure_function_of_the_input_and_chunks(
    protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    chunks = copy.deepcopy(EVERY_KIND)
    first = encode_text(chunks, protocol)

    def forbidden(*args: Any) -> Any:
        raise AssertionError("an encoder must not read the clock or make random ids")

    for module, name in [
        (time, "time"),
        (time, "time_ns"),
        (uuid, "uuid4"),
        (random, "random"),
        (random, "choices"),
    ]:
        monkeypatch.setattr(module, name, forbidden)
    assert encode_text(chunks, protocol) == first
    assert chunks == EVERY_KIND  # the chunks are as they were (a replay encodes them again)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_two_streams_share_nothing(protocol: str) -> None:
    """Encoders made for two streams, fed in turn, write what each writes alone."""
    alone = encode_text(EVERY_KIND, protocol)
    wire = sb.get_protocol(protocol)
    first, second = wire.new_encoder(fixed_input()), wire.new_encoder(fixed_input())
    texts = ["", ""]
    for chunk in EVERY_KIND:
        texts[0] += first.encode(chunk)
        texts[1] += second.encode(chunk)
    assert [texts[0] + first.finish(), texts[1] + second.finish()] == [alone, alone]


# -- what comes back -------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_chunk_kind_decodes_back_whole_and_fragmented(protocol: str) -> None:
    message = accumulate(decode_every_way(encode_text(EVERY_KIND, protocol).encode(), protocol))
    assert message.text == TEXT
    calls = {call.tool_call_id: call for call in message.tool_calls}
    assert (calls["c1"].tool_name, calls["c1"].args) == ("search", {"q": 1})
    assert calls["c2"].args == {}  # "{}" for a call that streamed no arguments
    assert message.errors == ["careful"]
    assert message.finish_reason == "error"


@pytest.mark.anyio
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_lone_surrogates_are_escaped_not_fatal(protocol: str) -> None:
    """Half of a surrogate pair (a model's stream cut between two tokens) is sent escaped:
    the bytes are valid UTF-8 and the text decodes back."""
    chunks: list[Chunk] = [
        TextDelta("\ud83d"),
        TextDelta("\ude00"),
        ToolCallBegin("c1", "t"),
        ToolCallDelta("c1", '{"q":"\ud800"}'),
        ToolResult("c1", {"r": "\udfff"}),
        TextDelta(" end"),
    ]
    data = await encode_stream(chunks, protocol)
    data.decode("utf-8")  # strict: no lone surrogate encoded raw
    message = accumulate(decode_every_way(data, protocol))
    assert message.text == "\ud83d\ude00 end"
    assert message.errors == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_line_separators_in_text_do_not_break_the_framing(protocol: str) -> None:
    text = "one\u2028two\u2029three\x85four\r\nfive\rsix\n\nseven"
    data = encode_text([TextDelta(text), TextDelta(" and more")], protocol).encode()
    assert accumulate(decode_every_way(data, protocol)).text == text + " and more"


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for level in range(depth):
        value = {"level": level, "below": [value]}
    return value


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_values_nested_deep_are_written(protocol: str) -> None:
    """Far deeper than a request may nest (100), well within what JSON encoding recurses."""
    deep = _nested(150)
    chunks: list[Chunk] = [
        ToolCallBegin("c1", "t"),
        ToolCallArgsFinish("c1"),
        ToolResult("c1", deep),
        Data(deep),
        StateUpdate(({"type": "set", "path": ["deep"], "value": deep},)),
        TextDelta("ok"),
    ]
    message = accumulate(decode_every_way(encode_text(chunks, protocol).encode(), protocol))
    assert message.errors == []
    assert message.text == "ok"
    result = message.tool_calls[0].result
    assert result == deep or result is None  # None: the protocol carries no result


# -- a value JSON cannot hold ---------------------------------------------------------------

NAN_CARRIERS: dict[str, Chunk] = {
    "data": Data({"x": math.nan}),
    "tool result": ToolResult("c1", {"x": math.nan}),
    "tool artifact": ToolResult("c1", "ok", artifact=[math.inf]),
    "state": StateUpdate(({"type": "set", "path": ["x"], "value": math.nan},)),
    "annotations": Annotations(({"x": -math.inf},)),
}


@pytest.mark.anyio
@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("carrier", list(NAN_CARRIERS))
async def test_nan_in_any_chunk_ends_the_stream_as_a_failed_run(
    protocol: str, carrier: str, caplog: pytest.LogCaptureFixture
) -> None:
    chunks: list[Chunk] = [
        TextDelta("before"),
        ToolCallBegin("c1", "t"),
        ToolCallArgsFinish("c1"),
        NAN_CARRIERS[carrier],
        TextDelta("never sent"),
    ]
    data = await encode_stream(chunks, protocol)
    assert b"never sent" not in data
    message = accumulate(decode_every_way(data, protocol))
    assert message.text == "before"
    assert message.errors == [GENERIC_ERROR_MESSAGE]
    assert message.finish_reason == "error"
    assert "could not be encoded" in caplog.text
