"""langgraph with a real chat model node: langchain-openai's ``ChatOpenAI`` (streaming, usage on)
reads recorded chat-completions streams from the local upstream inside a LangGraph agent with a
ToolNode, and the graph's stream goes through the bridge.

The first turn streams text, then two parallel tool calls whose arguments interleave (keyed by
``index``; id and name only on each call's first chunk), then the finish reason, then a
usage-only chunk; the second turn is the reasoning recording (reasoning, unicode text, usage).
On the Responses API (``use_responses_api=True``), ChatOpenAI streams a reasoning summary, text
and a function call as content blocks, the first chunk under the response's id.

LangGraph runs on asyncio only: the graph's stream is recorded on asyncio in a worker thread and
the bridge reads it on each backend; the live test, where the run drives the graph itself, runs
on asyncio alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
import openai
import pytest

import streambridge as sb
from streambridge.bridges import langgraph
from streambridge.chunks import (
    Chunk,
    ReasoningDelta,
    StepStart,
    TextDelta,
    ToolCallBegin,
    ToolResult,
)

from .graphs import INPUT, MODES, chat_openai_graph, responses_graph
from .support import (
    SDK_ASYNCGEN_LEAK,
    args_by_call,
    chunks_of,
    data_parts,
    official_clients,
    step_finishes,
    text_of,
)
from .upstream import Upstream

pytestmark = [pytest.mark.anyio, SDK_ASYNCGEN_LEAK]

TURNS = ["chat_parallel_tools", "chat_reasoning"]
FIRST = "Checking both cities."
SECOND = "Héllo 🌍, 世界 — \u2028done"
ARGS = {"call_paris": {"city": "Paris"}, "call_tokyo": {"city": "Tōkyō 東京"}}


def urls(upstream: Upstream, mode: str = "fragments") -> list[str]:
    return [upstream.url(name, mode) for name in TURNS]


def bridged(items: Any) -> sb.RunFunction:
    async def run(controller: sb.RunController) -> None:
        await langgraph(controller, items)

    return run


def record_graph(base_urls: list[str], source: str) -> list[Any]:
    return record(lambda http_client: chat_openai_graph(base_urls, http_client), source)


def record(graph_on: Callable[[Any], Any], source: str) -> list[Any]:
    """The items of ``astream`` or ``astream_events`` of the graph ``graph_on(http_client)``
    makes, recorded on asyncio."""

    async def collect() -> list[Any]:
        async with openai.DefaultAsyncHttpxClient() as http_client:
            graph = graph_on(http_client)
            if source == "astream":
                return [item async for item in graph.astream(INPUT, stream_mode=MODES)]
            return [item async for item in graph.astream_events(INPUT, version="v2")]

    return asyncio.run(collect())


async def recorded(upstream: Upstream, source: str) -> list[Any]:
    return await anyio.to_thread.run_sync(lambda: record_graph(urls(upstream), source))


def check_run(chunks: list[Chunk], *, custom: bool) -> None:
    # Each AI message is a step of its own, with its text once (the whole AIMessage that
    # LangGraph sends after the chunks adds nothing).
    texts: list[str] = []
    for chunk in chunks:
        if isinstance(chunk, StepStart):
            texts.append("")
        elif isinstance(chunk, TextDelta):
            assert chunk.parent_id is None
            texts[-1] += chunk.text_delta
    assert texts == [FIRST, SECOND]
    begins = [c for c in chunks if isinstance(c, ToolCallBegin)]
    assert [(c.tool_call_id, c.tool_name) for c in begins] == [
        ("call_paris", "get_weather"),
        ("call_tokyo", "get_weather"),
    ]
    # The first call began in the chunk that ended the text: after that text.
    assert chunks.index(begins[0]) > chunks.index(
        next(c for c in chunks if isinstance(c, TextDelta) and c.text_delta == "cities.")
    )
    assert args_by_call(chunks) == ARGS
    results = {c.tool_call_id: c.result for c in chunks if isinstance(c, ToolResult)}
    assert results == {"call_paris": "sunny in Paris", "call_tokyo": "sunny in Tōkyō 東京"}
    # The usage-only chunk that follows the finish reason is on each step's finish.
    assert [(f.finish_reason, f.input_tokens, f.output_tokens) for f in step_finishes(chunks)] == [
        ("tool-calls", 31, 57),
        ("stop", 31, 57),
    ]
    # ChatOpenAI keeps only the official chat-completions fields: the recording's
    # reasoning_content / reasoning never reach the AIMessageChunks, so there is none to send.
    assert not [c for c in chunks if isinstance(c, ReasoningDelta)]
    expected = [{"progress": "looking up Paris"}, {"progress": "looking up Tōkyō 東京"}]
    assert data_parts(chunks, "langgraph-custom") == (expected if custom else [])


@pytest.mark.parametrize("source", ["astream", "astream_events"])
async def test_a_chat_openai_node_streams_text_tool_calls_and_usage(
    upstream: Upstream, source: str
) -> None:
    items = await recorded(upstream, source)
    check_run(await chunks_of(bridged(items)), custom=source == "astream")


async def test_the_official_clients_build_the_message(upstream: Upstream) -> None:
    items = await recorded(upstream, "astream")
    out = await official_clients(bridged(items))
    parts = out["assistant-stream"]["parts"]
    assert [p["type"] for p in parts] == ["text", "tool-call", "tool-call", "data", "data", "text"]
    assert parts[0]["text"] == FIRST
    assert [(p["toolCallId"], p["args"], p["result"]) for p in parts[1:3]] == [
        ("call_paris", ARGS["call_paris"], "sunny in Paris"),
        ("call_tokyo", ARGS["call_tokyo"], "sunny in Tōkyō 東京"),
    ]
    assert parts[5]["text"] == SECOND
    steps = out["assistant-stream"]["metadata"]["steps"]
    assert [s["usage"] for s in steps] == [{"inputTokens": 31, "outputTokens": 57}] * 2
    ai = out["ai"]["message"]["parts"]
    assert [p["type"] for p in ai] == [
        "step-start",
        "text",
        "tool-get_weather",
        "tool-get_weather",
        "data-langgraph-custom",
        "data-langgraph-custom",
        "step-start",
        "text",
    ]
    assert [(p["input"], p["state"], p["output"]) for p in ai[2:4]] == [
        (ARGS["call_paris"], "output-available", "sunny in Paris"),
        (ARGS["call_tokyo"], "output-available", "sunny in Tōkyō 東京"),
    ]
    assert ai[7]["text"] == SECOND
    assert out["ai"]["finish"]["finishReason"] == "stop"


def record_responses_graph(base_url: str, source: str) -> list[Any]:
    return record(lambda http_client: responses_graph(base_url, http_client), source)


@pytest.mark.parametrize("source", ["astream", "astream_events"])
async def test_reasoning_summaries_from_chat_openai_on_the_responses_api(
    upstream: Upstream, source: str
) -> None:
    url = upstream.url("responses_reasoning_call", "fragments")
    items = await anyio.to_thread.run_sync(lambda: record_responses_graph(url, source))
    chunks = await chunks_of(bridged(items))
    # ChatOpenAI sends each summary delta as a reasoning content block with its part's index:
    # each summary part is a paragraph, as the openai_responses bridge makes it.
    reasoning = "".join(c.reasoning_delta for c in chunks if isinstance(c, ReasoningDelta))
    assert reasoning == "The user wants the weather.\n\nAsk the tool."
    assert text_of(chunks) == "Checking Zürich 🌦."
    begins = [(c.tool_call_id, c.tool_name) for c in chunks if isinstance(c, ToolCallBegin)]
    assert begins == [("call_zurich", "get_weather")]
    assert args_by_call(chunks) == {"call_zurich": {"city": "Zürich"}}
    results = {c.tool_call_id: c.result for c in chunks if isinstance(c, ToolResult)}
    assert results == {"call_zurich": "sunny in Zürich"}
    [finish] = step_finishes(chunks)
    assert (finish.finish_reason, finish.input_tokens, finish.output_tokens) == (
        "tool-calls",
        40,
        60,
    )
    custom = source == "astream"  # the tool's stream writes (astream_events has none)
    out = await official_clients(bridged(items))
    parts = out["assistant-stream"]["parts"]
    assert [p["type"] for p in parts] == ["reasoning", "text", "tool-call"] + ["data"] * custom
    assert parts[0]["text"] == reasoning
    ai = out["ai"]["message"]["parts"]
    assert [p["type"] for p in ai] == [
        "step-start",
        "reasoning",
        "text",
        "tool-get_weather",
    ] + ["data-langgraph-custom"] * custom
    assert ai[1]["text"] == reasoning
    assert ai[3]["output"] == "sunny in Zürich"


# LangGraph's astream needs an asyncio loop: the run drives the graph itself only there.
@pytest.mark.parametrize("anyio_backend", ["asyncio"], indirect=True)
async def test_a_run_drives_a_live_graph(upstream: Upstream) -> None:
    async def run(controller: sb.RunController) -> None:
        async with openai.DefaultAsyncHttpxClient() as http_client:
            graph = chat_openai_graph(urls(upstream, "whole"), http_client)
            await langgraph(controller, graph.astream(INPUT, stream_mode=MODES))

    check_run(await chunks_of(run), custom=True)


@pytest.mark.parametrize("anyio_backend", ["asyncio"], indirect=True)  # as above
async def test_a_cancelled_run_closes_the_model_response(upstream: Upstream) -> None:
    async def run(controller: sb.RunController) -> None:
        async with openai.DefaultAsyncHttpxClient() as http_client:
            graph = chat_openai_graph([upstream.url("chat_long", "hang")], http_client)
            await langgraph(controller, graph.astream(INPUT, stream_mode=MODES))

    async with sb.create_run(run) as stream:
        async for chunk in stream:
            if isinstance(chunk, TextDelta) and chunk.text_delta == "word19 ":
                break
    outcome = await anyio.to_thread.run_sync(lambda: upstream.outcome("chat_long"))
    assert outcome == "disconnected"
