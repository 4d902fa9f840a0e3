"""streambridge_starlette's responses called as ASGI apps in process: what they accept, the
shutdown and the send timeout.  (Streaming, disconnects and the official clients are judged on
real servers: tests/behaviour/test_starlette_responses.py.)"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import streambridge as sb
from streambridge import chunks
from streambridge.client import accumulate, decode
from streambridge.transport import SHUTDOWN_MESSAGE
from streambridge.transport.shutdown import OpenStreams
from streambridge_starlette import (
    AssistantTransportResponse,
    DataStreamResponse,
    OpenAIStreamResponse,
    RunResponse,
    shutdown_responses,
)

SCOPE = {"type": "http", "method": "POST", "path": "/", "headers": [], "query_string": b""}


class Exchange:
    """The server's side of one response: what it sent, and a client that stays until told."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.leave = anyio.Event()
        self.streaming = anyio.Event()

    async def receive(self) -> dict[str, Any]:
        await self.leave.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        if message.get("body"):
            self.streaming.set()

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages[1:])

    @property
    def ended(self) -> bool:
        return self.messages[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


async def serve(response: RunResponse) -> Exchange:
    exchange = Exchange()
    with anyio.fail_after(5):
        await response(dict(SCOPE), exchange.receive, exchange.send)  # type: ignore[arg-type]
    return exchange


async def hello(controller: sb.RunController) -> None:
    controller.append_text("hello")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("response_class", "protocol"),
    [
        (DataStreamResponse, "data-stream"),
        (AssistantTransportResponse, "assistant-transport"),
        (OpenAIStreamResponse, "openai-chat"),
    ],
)
async def test_each_alias_streams_its_protocol(
    response_class: type[DataStreamResponse], protocol: str
) -> None:
    exchange = await serve(response_class(sb.create_run(hello)))
    start = exchange.messages[0]
    assert start["status"] == 200
    assert (b"content-type", sb.get_protocol(protocol).media_type.encode()) in start["headers"]
    assert accumulate(decode(exchange.body, protocol)).text == "hello"
    assert exchange.ended


@pytest.mark.anyio
async def test_headers_the_handler_sets_follow_the_protocols() -> None:
    response = RunResponse(sb.create_run(hello), "ui-message-stream")
    response.headers["x-conversation"] = "c1"
    response.set_cookie("seen", "1")
    response.headers["content-type"] = "text/html"  # the stream's own type wins
    headers = (await serve(response)).messages[0]["headers"]
    assert (b"x-conversation", b"c1") in headers
    assert any(name == b"set-cookie" and value.startswith(b"seen=1") for name, value in headers)
    assert [value for name, value in headers if name == b"content-type"] == [b"text/event-stream"]
    assert (b"x-vercel-ai-ui-message-stream", b"v1") in headers
    assert not any(name == b"content-length" for name, _ in headers)


@pytest.mark.anyio
async def test_a_run_function_and_a_chunk_iterable_stream_as_runs() -> None:
    async def upstream() -> AsyncIterator[sb.chunks.Chunk]:
        yield chunks.TextDelta("from ")
        yield chunks.TextDelta("upstream")

    for stream in (hello, upstream()):
        exchange = await serve(RunResponse(stream, "ui-message-stream"))
        got = accumulate(decode(exchange.body, "ui-message-stream")).text
        assert got == ("hello" if stream is hello else "from upstream")


@pytest.mark.anyio
async def test_shutdown_ends_an_open_response_with_the_protocols_error() -> None:
    finished = anyio.Event()

    async def hang(controller: sb.RunController) -> None:
        controller.append_text("waiting")
        try:
            await anyio.sleep_forever()
        finally:
            finished.set()

    exchange = Exchange()
    response = DataStreamResponse(sb.create_run(hang), heartbeat=False)
    async with anyio.create_task_group() as tg:
        tg.start_soon(response, dict(SCOPE), exchange.receive, exchange.send)
        with anyio.fail_after(5):
            await exchange.streaming.wait()
            await shutdown_responses()  # returns once the stream has ended
    assert finished.is_set()
    assert accumulate(decode(exchange.body, "data-stream")).errors == [SHUTDOWN_MESSAGE]
    assert exchange.ended
    # shutdown_responses() leaves later responses streaming (the handler accepted them)
    assert accumulate(decode((await serve(DataStreamResponse(hello))).body, "data-stream")).text


@pytest.mark.anyio
async def test_a_client_that_stops_reading_is_given_up_after_the_send_timeout() -> None:
    finished = anyio.Event()

    async def chatty(controller: sb.RunController) -> None:
        try:
            while True:
                controller.append_text("x" * 1000)
                await controller.drain()
                await anyio.lowlevel.checkpoint()
        finally:
            finished.set()

    async def receive() -> dict[str, Any]:
        await anyio.sleep_forever()
        raise AssertionError

    sends = 0

    async def stuck_send(message: dict[str, Any]) -> None:
        nonlocal sends
        sends += 1
        if sends > 3:
            await anyio.sleep_forever()  # the client stopped reading

    response = RunResponse(sb.create_run(chatty), send_timeout=0.2, streams=OpenStreams())
    with anyio.fail_after(5):
        await response(dict(SCOPE), receive, stuck_send)
    assert finished.is_set()


def test_mistakes_raise_in_the_handler_naming_the_option() -> None:
    with pytest.raises(ValueError, match=r"protocol=.*nope"):
        RunResponse(hello, "nope")
    with pytest.raises(ValueError, match="heartbeat="):
        DataStreamResponse(hello, heartbeat=-1)
    with pytest.raises(ValueError, match="heartbeat="):
        DataStreamResponse(hello, heartbeat=math.nan)
    with pytest.raises(ValueError, match="send_timeout="):
        DataStreamResponse(hello, send_timeout=0)
    with pytest.raises(TypeError, match="create_run"):
        DataStreamResponse(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("heartbeat", "seconds"), [(True, 15.0), (False, None), (None, None), (0, None), (2.5, 2.5)]
)
def test_heartbeat_takes_assistant_streams_values(heartbeat: Any, seconds: float | None) -> None:
    assert DataStreamResponse(hello, heartbeat).options.heartbeat == seconds
