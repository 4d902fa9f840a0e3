"""openai_responses: the real openai SDK parses recorded Responses API streams from a local
server."""

from __future__ import annotations

from typing import Any

import anyio
import openai
import pytest

import streambridge as sb
from streambridge import client
from streambridge.bridges import openai_responses
from streambridge.chunks import ReasoningDelta, Source, StepStart, ToolCallBegin

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


def async_run(upstream: Upstream, name: str, mode: str = "whole") -> sb.RunFunction:
    async def run(controller: sb.RunController) -> None:
        url = upstream.url(name, mode)
        async with openai.AsyncOpenAI(api_key="test", base_url=url, max_retries=0) as client:
            stream = await client.responses.create(model="m", input="hi", stream=True)
            await openai_responses(controller, stream)

    return run


def sync_run(upstream: Upstream, name: str, mode: str = "whole") -> sb.RunFunction:
    async def run(controller: sb.RunController) -> None:
        url = upstream.url(name, mode)
        with openai.OpenAI(api_key="test", base_url=url, max_retries=0) as client:
            stream = await anyio.to_thread.run_sync(
                lambda: client.responses.create(model="m", input="hi", stream=True)
            )
            await openai_responses(controller, stream)

    return run


@pytest.mark.parametrize("make_run", [async_run, sync_run])
async def test_text_reasoning_calls_sources_and_usage(upstream: Upstream, make_run: Any) -> None:
    chunks = await chunks_of(make_run(upstream, "responses_tools", "fragments"))
    assert chunks[0] == StepStart("resp_1")
    reasoning = "".join(c.reasoning_delta for c in chunks if isinstance(c, ReasoningDelta))
    assert reasoning == "Look it up.\n\nThen answer."
    assert text_of(chunks) == "Streams are fün ✨."
    # Calls begin with their call_id; interleaved argument deltas follow their item id.
    begins = [(c.tool_call_id, c.tool_name) for c in chunks if isinstance(c, ToolCallBegin)]
    assert begins == [("call_1", "get_weather"), ("call_2", "get_weather"), ("call_3", "now")]
    assert args_by_call(chunks) == {
        "call_1": {"city": "Oslo"},
        "call_2": {"city": "Lima"},
        "call_3": {},
    }
    sources = [(c.url, c.title) for c in chunks if isinstance(c, Source)]
    assert sources == [("https://example.com/a", "A")]
    [annotation] = data_parts(chunks, "openai-annotation")
    assert annotation["file_id"] == "file_1"
    [finish] = step_finishes(chunks)
    assert (finish.finish_reason, finish.input_tokens, finish.output_tokens) == (
        "tool-calls",
        40,
        60,
    )


async def test_the_stream_helper_gives_the_same_chunks(upstream: Upstream) -> None:
    async def run(controller: sb.RunController) -> None:
        url = upstream.url("responses_tools")
        async with openai.AsyncOpenAI(api_key="test", base_url=url, max_retries=0) as client:
            await openai_responses(controller, client.responses.stream(model="m", input="hi"))

    assert await chunks_of(run) == await chunks_of(async_run(upstream, "responses_tools"))


async def test_the_official_clients_build_the_message(upstream: Upstream) -> None:
    out = await official_clients(async_run(upstream, "responses_tools"))
    parts = out["assistant-stream"]["parts"]
    assert [p["type"] for p in parts] == [
        "reasoning",
        "text",
        "source",
        "data",
        "tool-call",
        "tool-call",
        "tool-call",
    ]
    assert [p["args"] for p in parts[4:]] == [{"city": "Oslo"}, {"city": "Lima"}, {}]
    ai = out["ai"]
    assert [p["type"] for p in ai["message"]["parts"]][:4] == [
        "step-start",
        "reasoning",
        "text",
        "source-url",
    ]
    assert ai["finish"]["finishReason"] == "tool-calls"


async def test_an_incomplete_response_ends_as_length(upstream: Upstream) -> None:
    message = await message_of(async_run(upstream, "responses_incomplete"), "ui-message-stream")
    assert message.text == "Cut sh"
    assert message.finish_reason == "length"
    assert message.usage == client.Usage(5, 16)


@pytest.mark.parametrize("name", ["responses_failed", "responses_error"])
async def test_failed_and_error_events_end_the_run_without_their_text(
    upstream: Upstream, name: str
) -> None:
    run = async_run(upstream, name)
    chunks = await chunks_of(run)
    assert errors(chunks) == [sb.run.GENERIC_ERROR_MESSAGE]
    assert b"secret" not in await encoded(run, "openai-responses")
    message = await message_of(run, "data-stream")
    assert message.finish_reason == "error"


async def test_whole_calls_and_unknown_events_from_dicts() -> None:
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {"id": "r"}},
        {"type": "response.brand_new_event", "item_id": "x"},
        {"type": "response.output_item.added", "item": {"type": "image_generation_call"}},
        # A call seen only when it is done, and one whose arguments come whole at the end.
        {
            "type": "response.output_item.done",
            "item": {
                "type": "function_call",
                "id": "fc",
                "call_id": "c1",
                "name": "f",
                "arguments": '{"a": 1}',
            },
        },
        {
            "type": "response.output_item.added",
            "item": {"type": "function_call", "id": "fc2", "call_id": "c2", "name": "g"},
        },
        {"type": "response.function_call_arguments.done", "item_id": "fc2", "arguments": '{"b":2}'},
        {"type": "response.completed", "response": {"usage": {"input_tokens": 1}}},
    ]

    async def run(controller: sb.RunController) -> None:
        await openai_responses(controller, events)

    chunks = await chunks_of(run)
    assert args_by_call(chunks) == {"c1": {"a": 1}, "c2": {"b": 2}}
    [finish] = step_finishes(chunks)
    assert (finish.finish_reason, finish.input_tokens, finish.output_tokens) == (
        "tool-calls",
        1,
        0,
    )
