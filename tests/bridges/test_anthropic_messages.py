"""anthropic_messages: the real anthropic SDK parses recorded message streams from a local
server, as raw events and through its MessageStream (which adds derived events)."""

from __future__ import annotations

from typing import Any

import anthropic
import anyio
import pytest

import streambridge as sb
from streambridge.bridges import anthropic_messages
from streambridge.chunks import (
    ReasoningDelta,
    Source,
    StepStart,
    TextDelta,
    ToolCallBegin,
    ToolResult,
)

from .support import (
    SDK_ASYNCGEN_LEAK,
    args_by_call,
    chunks_of,
    data_parts,
    encoded,
    errors,
    message_of,
    official_clients,
    step_finishes,
    text_of,
)
from .upstream import Upstream

pytestmark = [pytest.mark.anyio, SDK_ASYNCGEN_LEAK]

REQUEST: dict[str, Any] = {"model": "claude-test", "max_tokens": 100, "messages": []}


def raw_run(upstream: Upstream, name: str, mode: str = "whole") -> sb.RunFunction:
    async def run(controller: sb.RunController) -> None:
        url = upstream.url(name, mode)
        async with anthropic.AsyncAnthropic(api_key="k", base_url=url, max_retries=0) as client:
            stream = await client.messages.create(**REQUEST, stream=True)
            await anthropic_messages(controller, stream)

    return run


def helper_run(upstream: Upstream, name: str, mode: str = "whole") -> sb.RunFunction:
    async def run(controller: sb.RunController) -> None:
        url = upstream.url(name, mode)
        client = anthropic.AsyncAnthropic(api_key="k", base_url=url, max_retries=0)
        # The MessageStream yields derived text/input_json/thinking/signature/citation events
        # besides the raw ones.
        async with client, client.messages.stream(**REQUEST) as stream:
            await anthropic_messages(controller, stream)

    return run


def sync_run(upstream: Upstream, name: str, mode: str = "whole") -> sb.RunFunction:
    async def run(controller: sb.RunController) -> None:
        url = upstream.url(name, mode)
        with anthropic.Anthropic(api_key="k", base_url=url, max_retries=0) as client:
            manager = client.messages.stream(**REQUEST)  # the manager: the bridge opens it
            await anthropic_messages(controller, manager)

    return run


RUNS = [raw_run, helper_run, sync_run]


@pytest.mark.parametrize("make_run", RUNS)
async def test_thinking_text_and_tools(upstream: Upstream, make_run: Any) -> None:
    chunks = await chunks_of(make_run(upstream, "anthropic_tools", "fragments"))
    assert chunks[0] == StepStart("msg_1")
    reasoning = "".join(c.reasoning_delta for c in chunks if isinstance(c, ReasoningDelta))
    assert reasoning == "The user wants the weather."
    # Derived events are not counted again: each text once.
    assert text_of(chunks) == "Let me check Zürich 🌦."
    begins = [(c.tool_call_id, c.tool_name) for c in chunks if isinstance(c, ToolCallBegin)]
    assert begins == [("toolu_1", "get_weather"), ("toolu_2", "get_time")]
    # A tool without parameters gets {}.
    assert args_by_call(chunks) == {"toolu_1": {"city": "Zürich"}, "toolu_2": {}}
    # The signature is kept, whole, for the next turn.
    assert data_parts(chunks, "anthropic-thinking") == [{"signature": "EqQBCgIYAhIM"}]
    [finish] = step_finishes(chunks)
    # Input: 25 + 5 cache reads; output: the cumulative count of the last message_delta.
    assert (finish.finish_reason, finish.input_tokens, finish.output_tokens) == (
        "tool-calls",
        30,
        42,
    )


async def test_raw_events_and_the_message_stream_give_the_same_chunks(
    upstream: Upstream,
) -> None:
    for name in ("anthropic_tools", "anthropic_citations"):
        raw = await chunks_of(raw_run(upstream, name))
        helped = await chunks_of(helper_run(upstream, name))
        assert raw == helped, name


async def test_citations_server_tools_and_redacted_thinking(upstream: Upstream) -> None:
    chunks = await chunks_of(raw_run(upstream, "anthropic_citations", "fragments"))
    assert data_parts(chunks, "anthropic-thinking") == [{"redacted_thinking": "EmwKAhgBEgy3va"}]
    [begin] = [c for c in chunks if isinstance(c, ToolCallBegin)]
    assert (begin.tool_call_id, begin.tool_name) == ("srvtoolu_1", "web_search")
    [result] = [c for c in chunks if isinstance(c, ToolResult)]
    assert result.tool_call_id == "srvtoolu_1"
    assert result.result[0]["url"] == "https://anyio.readthedocs.io/"
    assert not result.is_error
    # The same URL cited twice is one source; a document citation is kept as data.
    sources = [c for c in chunks if isinstance(c, Source)]
    assert [(s.url, s.title) for s in sources] == [("https://anyio.readthedocs.io/", "AnyIO")]
    [citation] = data_parts(chunks, "anthropic-citation")
    assert citation["type"] == "char_location"
    assert citation["cited_text"] == "asyncio"
    assert text_of(chunks) == "AnyIO runs on asyncio and trio."
    [finish] = step_finishes(chunks)
    assert (finish.finish_reason, finish.input_tokens, finish.output_tokens) == ("stop", 30, 12)


async def test_the_official_clients_build_the_message(upstream: Upstream) -> None:
    out = await official_clients(helper_run(upstream, "anthropic_tools"))
    parts = out["assistant-stream"]["parts"]
    assert [p["type"] for p in parts] == ["reasoning", "data", "text", "tool-call", "tool-call"]
    assert [p["args"] for p in parts[3:]] == [{"city": "Zürich"}, {}]
    ai = out["ai"]["message"]["parts"]
    assert [p["type"] for p in ai] == [
        "step-start",
        "reasoning",
        "data-anthropic-thinking",
        "text",
        "tool-get_weather",
        "tool-get_time",
    ]
    assert ai[5]["input"] == {}
    assert out["ai"]["finish"]["finishReason"] == "tool-calls"


async def test_an_upstream_error_event_ends_the_run_without_its_text(
    upstream: Upstream,
) -> None:
    for make_run in RUNS:
        run = make_run(upstream, "anthropic_error")
        chunks = await chunks_of(run)
        assert text_of(chunks) == "Partial"
        assert errors(chunks) == [sb.run.GENERIC_ERROR_MESSAGE]
        assert b"secret" not in await encoded(run, "data-stream")
    # The same event as a plain dict: the bridge raises it, with the same end.
    events = [
        {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 1}}},
        {"type": "error", "error": {"type": "overloaded_error", "message": "secret"}},
    ]

    async def from_dicts(controller: sb.RunController) -> None:
        await anthropic_messages(controller, events)

    message = await message_of(from_dicts, "ui-message-stream")
    assert message.finish_reason == "error"
    assert message.errors == [sb.run.GENERIC_ERROR_MESSAGE]


@pytest.mark.parametrize("make_run", [raw_run, sync_run])
async def test_a_cancelled_run_closes_the_upstream_response(
    upstream: Upstream, make_run: Any
) -> None:
    async with sb.create_run(make_run(upstream, "anthropic_long", "hang")) as stream:
        async for chunk in stream:
            if isinstance(chunk, TextDelta) and chunk.text_delta == "word19 ":
                break
    outcome = await anyio.to_thread.run_sync(lambda: upstream.outcome("anthropic_long"))
    assert outcome == "disconnected"


async def test_stop_reasons_and_unknown_events_from_dicts() -> None:
    for reason, expected in [
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("refusal", "content-filter"),
        ("pause_turn", "other"),
    ]:
        events = [
            {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 2}}},
            {"type": "some_new_event", "x": 1},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "new_block"}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "new_delta"}},
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": reason},
                "usage": {"output_tokens": 3},
            },
        ]

        async def run(controller: sb.RunController, events: Any = events) -> None:
            await anthropic_messages(controller, events)

        chunks = await chunks_of(run)
        assert [c.type for c in chunks] == ["step-start", "step-finish"]
        [finish] = step_finishes(chunks)
        assert (finish.finish_reason, finish.input_tokens, finish.output_tokens) == (
            expected,
            2,
            3,
        )
