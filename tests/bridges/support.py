"""Running a bridge: its chunks, and the final message as the Python client and the official
frontend clients decode it from the encoded bytes."""

from __future__ import annotations

import json
from typing import Any

import anyio
import anyio.to_thread
import pytest

import streambridge as sb
from streambridge import client
from streambridge.chunks import Chunk, Data, Error, StepFinish, TextDelta, ToolCallDelta
from support.oracle import run_oracle


async def chunks_of(run: sb.RunFunction) -> list[Chunk]:
    async with sb.create_run(run) as stream:
        return [chunk async for chunk in stream]


async def encoded(run: sb.RunFunction, protocol: str) -> bytes:
    async with sb.encode(sb.create_run(run), protocol=protocol) as body:
        return b"".join([data async for data in body])


async def message_of(run: sb.RunFunction, protocol: str = "data-stream") -> client.Message:
    """The message the Python client decodes from the run encoded in ``protocol``."""
    return client.accumulate(client.decode(await encoded(run, protocol), protocol))


def args_by_call(chunks: list[Chunk]) -> dict[str, Any]:
    """Each tool call's arguments, parsed from all its deltas."""
    texts: dict[str, str] = {}
    for chunk in chunks:
        if isinstance(chunk, ToolCallDelta):
            texts[chunk.tool_call_id] = texts.get(chunk.tool_call_id, "") + chunk.args_text_delta
    return {call_id: json.loads(text) for call_id, text in texts.items()}


def text_of(chunks: list[Chunk]) -> str:
    return "".join(c.text_delta for c in chunks if isinstance(c, TextDelta))


def step_finishes(chunks: list[Chunk]) -> list[StepFinish]:
    return [c for c in chunks if isinstance(c, StepFinish)]


def errors(chunks: list[Chunk]) -> list[str]:
    return [c.error for c in chunks if isinstance(c, Error)]


def data_parts(chunks: list[Chunk], name: str) -> list[Any]:
    return [c.data for c in chunks if isinstance(c, Data) and c.name == name]


async def official_clients(run: sb.RunFunction) -> dict[str, Any]:
    """What assistant-stream (data-stream) and the AI SDK (UI message stream) build from the
    run: each fails the test if it rejects the stream."""
    data_stream = await encoded(run, "data-stream")
    ui_stream = await encoded(run, "ui-message-stream")
    return {
        "assistant-stream": await anyio.to_thread.run_sync(
            lambda: run_oracle("data-stream.mjs", data_stream)
        ),
        "ai": await anyio.to_thread.run_sync(
            lambda: run_oracle("ui-message-stream.mjs", ui_stream)
        ),
    }


SDK_ASYNCGEN_LEAK = pytest.mark.filterwarnings(
    # openai's AsyncStream stops reading its SSE generators at "[DONE]" without closing them;
    # trio's finalizer reports each one (and the HTTP byte iterators below them) when collected.
    # streambridge.bridges has no async generator of its own.  The SDK's, not the bridge's:
    # the bridge closes the stream (and so the HTTP response) it was given.
    r"ignore:Exception ignored in. <async_generator object "
    ":pytest.PytestUnraisableExceptionWarning"
)
