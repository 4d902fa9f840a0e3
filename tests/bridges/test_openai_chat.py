"""openai_chat: the real openai SDK parses recorded chat-completion streams from a local server."""

from __future__ import annotations

import itertools
import json
from typing import Any

import anyio
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import streambridge as sb
from streambridge.bridges import openai_chat
from streambridge.chunks import ReasoningDelta, StepStart, TextDelta, ToolCallBegin

from .support import (
    SDK_ASYNCGEN_LEAK,
    args_by_call,
    chunks_of,
    encoded,
    errors,
    message_of,
    official_clients,
    step_finishes,
    text_of,
)
from .upstream import Upstream

pytestmark = [pytest.mark.anyio, SDK_ASYNCGEN_LEAK]


def async_run(upstream: Upstream, name: str, mode: str = "whole") -> sb.RunFunction:
    async def run(controller: sb.RunController) -> None:
        url = upstream.url(name, mode)
        async with openai.AsyncOpenAI(api_key="test", base_url=url, max_retries=0) as client:
            stream = await client.chat.completions.create(model="m", messages=[], stream=True)
            await openai_chat(controller, stream)

    return run


def sync_run(upstream: Upstream, name: str, mode: str = "whole") -> sb.RunFunction:
    async def run(controller: sb.RunController) -> None:
        url = upstream.url(name, mode)
        with openai.OpenAI(api_key="test", base_url=url, max_retries=0) as client:
            stream = await anyio.to_thread.run_sync(
                lambda: client.chat.completions.create(model="m", messages=[], stream=True)
            )
            await openai_chat(controller, stream)

    return run


@pytest.mark.parametrize("mode", ["whole", "fragments"])
@pytest.mark.parametrize("make_run", [async_run, sync_run])
async def test_parallel_tool_calls_keep_their_own_arguments(
    upstream: Upstream, mode: str, make_run: Any
) -> None:
    chunks = await chunks_of(make_run(upstream, "chat_parallel_tools", mode))
    assert isinstance(chunks[0], StepStart)
    assert chunks[0].message_id == "chatcmpl-1"
    assert text_of(chunks) == "Checking both cities."
    # The first call began in the chunk that ended the text: after the text, not lost.
    begins = [c for c in chunks if isinstance(c, ToolCallBegin)]
    assert [(c.tool_call_id, c.tool_name) for c in begins] == [
        ("call_paris", "get_weather"),
        ("call_tokyo", "get_weather"),
    ]
    assert chunks.index(begins[0]) > max(
        i for i, c in enumerate(chunks) if isinstance(c, TextDelta)
    )
    assert args_by_call(chunks) == {
        "call_paris": {"city": "Paris"},
        "call_tokyo": {"city": "Tōkyō 東京"},
    }
    # The usage came in a chunk after the finish reason: it is on the step's finish.
    [finish] = step_finishes(chunks)
    assert (finish.finish_reason, finish.input_tokens, finish.output_tokens) == (
        "tool-calls",
        31,
        57,
    )
    assert chunks[-1] is finish


async def test_the_official_clients_build_the_message(upstream: Upstream) -> None:
    out = await official_clients(async_run(upstream, "chat_parallel_tools", "fragments"))
    parts = out["assistant-stream"]["parts"]
    assert [p["type"] for p in parts] == ["text", "tool-call", "tool-call"]
    assert [p["args"] for p in parts[1:]] == [{"city": "Paris"}, {"city": "Tōkyō 東京"}]
    assert out["assistant-stream"]["metadata"]["steps"][0]["usage"] == {
        "inputTokens": 31,
        "outputTokens": 57,
    }
    ai = out["ai"]
    assert [p["type"] for p in ai["message"]["parts"]] == [
        "step-start",
        "text",
        "tool-get_weather",
        "tool-get_weather",
    ]
    assert ai["message"]["parts"][3]["input"] == {"city": "Tōkyō 東京"}
    assert ai["finish"]["finishReason"] == "tool-calls"


async def test_late_ids_whole_calls_and_empty_arguments(upstream: Upstream) -> None:
    chunks = await chunks_of(async_run(upstream, "chat_late_id", "fragments"))
    begins = [(c.tool_call_id, c.tool_name) for c in chunks if isinstance(c, ToolCallBegin)]
    assert begins == [("call_late", "search"), ("call_whole", "lookup"), ("call_empty", "now")]
    # The arguments that came before the id are the late call's, sent right after its begin.
    assert args_by_call(chunks) == {
        "call_late": {"query": "streams"},
        "call_whole": {"id": 7},
        "call_empty": {},
    }
    [finish] = step_finishes(chunks)
    assert (finish.finish_reason, finish.input_tokens, finish.output_tokens) == ("tool-calls", 0, 0)
    message = await message_of(async_run(upstream, "chat_late_id"), "ui-message-stream")
    assert [(c.tool_call_id, c.args) for c in message.tool_calls] == [
        ("call_late", {"query": "streams"}),
        ("call_whole", {"id": 7}),
        ("call_empty", {}),
    ]


@pytest.mark.parametrize("make_run", [async_run, sync_run])
async def test_reasoning_fields_unicode_and_usage_after_finish(
    upstream: Upstream, make_run: Any
) -> None:
    chunks = await chunks_of(make_run(upstream, "chat_reasoning", "fragments"))
    reasoning = "".join(c.reasoning_delta for c in chunks if isinstance(c, ReasoningDelta))
    assert reasoning == "First, think. Then decide."
    assert text_of(chunks) == "Héllo 🌍, 世界 — \u2028done"
    [finish] = step_finishes(chunks)
    assert (finish.finish_reason, finish.input_tokens, finish.output_tokens) == ("stop", 31, 57)
    for protocol in ("data-stream", "ui-message-stream", "openai-chat"):
        message = await message_of(make_run(upstream, "chat_reasoning"), protocol)
        assert message.text == "Héllo 🌍, 世界 — \u2028done", protocol
        assert message.finish_reason == "stop", protocol


async def test_the_stream_helper_is_not_counted_twice(upstream: Upstream) -> None:
    async def run(controller: sb.RunController) -> None:
        url = upstream.url("chat_parallel_tools")
        async with openai.AsyncOpenAI(api_key="test", base_url=url, max_retries=0) as client:
            # The manager of .stream(): its derived content/tool events repeat the chunks.
            await openai_chat(controller, client.chat.completions.stream(model="m", messages=[]))

    chunks = await chunks_of(run)
    assert text_of(chunks) == "Checking both cities."
    assert args_by_call(chunks) == {
        "call_paris": {"city": "Paris"},
        "call_tokyo": {"city": "Tōkyō 東京"},
    }


async def test_an_upstream_error_ends_the_run_without_its_text(upstream: Upstream) -> None:
    run = async_run(upstream, "chat_error")
    chunks = await chunks_of(run)
    assert text_of(chunks) == "Partial "
    assert errors(chunks) == [sb.run.GENERIC_ERROR_MESSAGE]
    body = await encoded(run, "ui-message-stream")
    assert b"secret" not in body
    message = await message_of(run)
    assert message.finish_reason == "error"


async def test_a_cancelled_run_closes_the_upstream_response(upstream: Upstream) -> None:
    run = async_run(upstream, "chat_long", "hang")
    async with sb.create_run(run) as stream:
        async for chunk in stream:
            if isinstance(chunk, TextDelta) and chunk.text_delta == "word19 ":
                break  # everything was sent; the upstream stays open
    # Leaving the block cancelled the run: its bridge closed the upstream response.
    outcome = await anyio.to_thread.run_sync(lambda: upstream.outcome("chat_long"))
    assert outcome == "disconnected"


# -- plain dicts: any way a server may cut the same calls ------------------------------------


def _pieces(draw: st.DrawFn, text: str) -> list[str]:
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=8)))
    bounds = [0, *[c for c in cuts if c < len(text)], len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@st.composite
def parallel_calls(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Chunks of 1-3 parallel calls: arguments cut anywhere, the calls' deltas interleaved
    in any order, each call's id and name in any one of its deltas (or all of them)."""
    count = draw(st.integers(1, 3))
    expected: dict[str, Any] = {}
    streams: list[list[dict[str, Any]]] = []
    for index in range(count):
        args = draw(
            st.dictionaries(
                st.text(min_size=1, max_size=5),
                st.text(max_size=8) | st.integers(),
                max_size=3,
            )
        )
        call_id = f"call_{index}"
        expected[call_id] = args
        pieces = _pieces(draw, json.dumps(args, ensure_ascii=False))
        where = draw(st.integers(0, len(pieces) - 1))
        repeat = draw(st.booleans())
        deltas = []
        for position, piece in enumerate(pieces):
            delta: dict[str, Any] = {"index": index, "function": {"arguments": piece}}
            if position == where or repeat:
                delta["id"] = call_id
                delta["function"]["name"] = "tool"
            deltas.append(delta)
        streams.append(deltas)
    order = draw(st.permutations([i for i, s in enumerate(streams) for _ in s]))
    cursors = [0] * count
    chunks = [{"id": "c", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}]
    for index in order:
        delta = streams[index][cursors[index]]
        cursors[index] += 1
        chunks.append({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [delta]}}]})
    chunks.append(
        {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}
    )
    return chunks, expected


@settings(max_examples=60, deadline=None)
@given(case=parallel_calls())
async def test_any_cut_and_interleaving_gives_each_call_its_arguments(
    case: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    events, expected = case

    async def run(controller: sb.RunController) -> None:
        await openai_chat(controller, events)

    chunks = await chunks_of(run)
    assert args_by_call(chunks) == expected
    assert [c.tool_call_id for c in chunks if isinstance(c, ToolCallBegin)] == sorted(
        expected, key=lambda call_id: next(i for i, e in enumerate(events) if call_id in str(e))
    )
    assert step_finishes(chunks)[0].finish_reason == "tool-calls"


async def test_refusals_choices_and_unknown_fields_from_dicts() -> None:
    events = [
        {"id": "c", "choices": [{"index": 0, "delta": {"refusal": "I can't help with that."}}]},
        {"id": "c", "choices": [{"index": 1, "delta": {"content": "Second choice", "x": 1}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "content_filter"}]},
        {"id": "c", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}},
    ]

    async def run(controller: sb.RunController) -> None:
        await openai_chat(controller, events)

    chunks = await chunks_of(run)
    texts = [(c.text_delta, c.parent_id) for c in chunks if isinstance(c, TextDelta)]
    assert texts == [("I can't help with that.", None), ("Second choice", "choice-1")]
    [finish] = step_finishes(chunks)
    assert (finish.finish_reason, finish.input_tokens, finish.output_tokens) == (
        "content-filter",
        3,
        4,
    )
