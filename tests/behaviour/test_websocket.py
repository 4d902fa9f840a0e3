"""The WebSocket envelope every host serves on its stream path, with a real client (httpx-ws)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, aconnect_ws

from streambridge.run import GENERIC_ERROR_MESSAGE
from streambridge.transport import StreamOptions
from streambridge.transport.session import RESUME_UNSUPPORTED
from support.behaviour.client import envelope_message, wait_for_marker
from support.behaviour.figures import record
from support.behaviour.hosts import LiveHost
from support.behaviour.protocol_table import request_body
from support.scenarios import SCENARIOS, expected, produce, summary

pytestmark = pytest.mark.anyio

DEFAULT = StreamOptions().protocol
Frame = dict[str, Any]


@asynccontextmanager
async def connect(host: LiveHost) -> AsyncIterator[AsyncWebSocketSession]:
    async with (
        httpx.AsyncClient() as client,
        aconnect_ws(host.ws_url, client, keepalive_ping_interval_seconds=None) as ws,
    ):
        yield ws


async def send(ws: AsyncWebSocketSession, request_id: str, **body: Any) -> None:
    await ws.send_json({"type": "send", "requestId": request_id, **request_body(DEFAULT, **body)})


async def receive(ws: AsyncWebSocketSession) -> Frame:
    with anyio.fail_after(10):
        frame: Frame = await ws.receive_json()
    return frame


async def run_frames(ws: AsyncWebSocketSession, request_id: str) -> list[Frame]:
    """The frames of one run, up to its ``end``; checks the envelope on the way."""
    frames = [await receive(ws)]
    while frames[-1]["type"] not in ("end", "error"):
        frames.append(await receive(ws))
    assert [f["requestId"] for f in frames] == [request_id] * len(frames)
    assert frames[0]["type"] == "start"
    assert frames[-1]["type"] == "end", frames[-1]
    chunks = frames[1:-1]
    assert {f["type"] for f in chunks} <= {"chunk"}
    assert [f["sequence"] for f in chunks] == list(range(len(chunks)))  # gapless, from 0
    return chunks


async def test_runs_follow_one_another_on_one_socket(ws_host: LiveHost) -> None:
    async with connect(ws_host) as ws:
        # The first as the AI SDK's WebSocketChatTransport frames it: the request body's
        # fields beside the envelope's, and the app's extra body in `body`.
        await ws.send_json(
            {
                "type": "send",
                "requestId": "r0",
                "id": "chat-1",
                "trigger": "submit-message",
                "messages": [{"id": "m1", "role": "user", "parts": []}],
                "headers": {"x-client": "test"},
                "body": {"scenario": "one_tool_call"},
                "metadata": None,
            }
        )
        names = ["one_tool_call", "steps_with_usage", "error_mid_stream"]
        for index, name in enumerate(names):
            if index:
                await send(ws, f"r{index}", scenario=name)
            chunks = await run_frames(ws, f"r{index}")
            scenario = SCENARIOS[name]
            want = expected(scenario, await produce(scenario))
            assert summary(envelope_message(chunks)) == summary(want), name
            assert "secret" not in json.dumps(chunks)
        assert envelope_message(chunks).errors == [GENERIC_ERROR_MESSAGE]


async def test_abort_cancels_the_run_and_the_socket_goes_on(
    ws_host: LiveHost, tmp_path: Path
) -> None:
    marker = tmp_path / "run.json"
    async with connect(ws_host) as ws:
        await send(ws, "slow", scenario="hang", marker=str(marker))
        assert (await receive(ws))["type"] == "start"
        assert (await receive(ws))["type"] == "chunk"
        aborted = time.monotonic()
        await ws.send_json({"type": "abort", "requestId": "slow"})
        assert await receive(ws) == {"type": "end", "requestId": "slow"}
        run = await wait_for_marker(marker)
        await send(ws, "next", scenario="plain_text")
        assert envelope_message(await run_frames(ws, "next")).text.startswith("Hello, wörld")
    delay = run["ended"] - aborted
    record("websocket: abort -> run finally", delay)
    assert run["outcome"] == "cancelled"
    assert run["request"] == ws_host.host.websocket_request_type
    assert delay < ws_host.host.cancel_within


async def test_disconnect_cancels_the_run(ws_host: LiveHost, tmp_path: Path) -> None:
    marker = tmp_path / "run.json"
    async with connect(ws_host) as ws:
        await send(ws, "slow", scenario="hang", marker=str(marker))
        assert (await receive(ws))["type"] == "start"
        assert (await receive(ws))["type"] == "chunk"
        left = time.monotonic()
    run = await wait_for_marker(marker)
    delay = run["ended"] - left
    record("websocket: disconnect -> run finally", delay)
    assert run["outcome"] == "cancelled"
    assert delay < ws_host.host.cancel_within


async def test_frames_it_cannot_serve_get_error_frames(ws_host: LiveHost) -> None:
    async with connect(ws_host) as ws:

        async def error_for(frame: Any) -> Frame:
            if isinstance(frame, str):
                await ws.send_text(frame)
            else:
                await ws.send_json(frame)
            reply = await receive(ws)
            assert reply["type"] == "error", reply
            assert isinstance(reply["errorText"], str)
            assert reply["errorText"]
            return reply

        resumed = await error_for({"type": "resume", "requestId": "r1", "id": "chat"})
        assert resumed == {
            "type": "error",
            "requestId": "r1",
            "errorText": RESUME_UNSUPPORTED,  # these hosts keep no runs
        }
        assert (await error_for("{not json"))["requestId"] == ""
        assert (await error_for({"type": "bogus", "requestId": "r2"}))["requestId"] == "r2"
        shape = await error_for({"type": "send", "requestId": "r3", "messages": "oops"})
        assert shape["requestId"] == "r3"
        assert "messages" in shape["errorText"]
        unknown = await error_for({"type": "send", "requestId": "r4", "protocol": "nope"})
        assert "nope" in unknown["errorText"]

        # One run at a time: a second send while one streams is refused, the first goes on.
        await send(ws, "first", scenario="hang")
        assert (await receive(ws))["type"] == "start"
        assert (await receive(ws))["type"] == "chunk"
        assert (await error_for({"type": "send", "requestId": "second"}))["requestId"] == "second"
        await ws.send_json({"type": "abort", "requestId": "first"})
        assert await receive(ws) == {"type": "end", "requestId": "first"}

        await send(ws, "after", scenario="plain_text")
        assert envelope_message(await run_frames(ws, "after")).text.startswith("Hello, wörld")
