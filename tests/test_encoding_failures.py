"""Whatever a run emits that a protocol cannot write ends the stream cleanly, in every protocol.

The contract, checked once for all protocols: the stream is byte for byte what a run that raised
at that point would have sent (what encoded before it, the protocol's generic error event and
its end), the run is stopped, and the log names the run.  Over a WebSocket the run's frames end
with ``end`` and the socket serves the next run, whatever the run emitted.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import streambridge as sb
from streambridge.asgi import StreamApp
from streambridge.protocols import protocol_names
from support.behaviour.protocol_table import request_body

pytestmark = pytest.mark.anyio


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


UNWRITABLE = {
    "nested deeper than the stack": _nested(100_000),
    "NaN": math.nan,
    "infinity": -math.inf,
    "an integer of 5,000 digits": 10**5000,
    "not JSON at all": object(),
}


async def _body(run: sb.RunFunction, protocol: str) -> bytes:
    run_input = sb.RunInput(run_id="run_fixed", thread_id="thread_fixed", created_at=0)
    out = b""
    async for data in sb.encode(sb.create_run(run, input=run_input), protocol):
        out += data
    return out


@pytest.mark.parametrize("protocol", protocol_names())
@pytest.mark.parametrize("value", UNWRITABLE.values(), ids=UNWRITABLE.keys())
async def test_an_unwritable_chunk_ends_the_stream_as_a_failed_run_would(
    protocol: str, value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    stopped = anyio.Event()

    async def run(controller: sb.RunController) -> None:
        controller.append_text("before")
        await anyio.lowlevel.checkpoint()  # "before" goes out on its own
        try:
            controller.add_data(value)
            await anyio.sleep(5)  # the consumer stops the run before this ends
        finally:
            stopped.set()

    async def failing(controller: sb.RunController) -> None:
        controller.append_text("before")
        await anyio.lowlevel.checkpoint()
        raise RuntimeError("secret")

    with anyio.fail_after(3), caplog.at_level(logging.ERROR, logger="streambridge"):
        body = await _body(run, protocol)
    assert stopped.is_set()
    assert body == await _body(failing, protocol)
    assert b"secret" not in body
    assert "run run_fixed: a data chunk could not be encoded" in caplog.text


ODD_OVER_A_SOCKET: dict[str, Callable[[sb.RunController], None]] = {
    "a lone surrogate in text": lambda controller: controller.append_text("a\ud800b"),
    "text that is None": lambda controller: controller.append_text(None),  # type: ignore[arg-type]
    "data nested 900 deep": lambda controller: controller.add_data(_nested(900)),
    "data nested deeper than the stack": lambda controller: controller.add_data(_nested(100_000)),
}


@pytest.mark.parametrize("protocol", protocol_names())
@pytest.mark.parametrize("emit", ODD_OVER_A_SOCKET.values(), ids=ODD_OVER_A_SOCKET.keys())
async def test_over_a_websocket_odd_output_ends_the_run_and_keeps_the_socket(
    protocol: str, emit: Callable[[sb.RunController], None]
) -> None:
    async def run(controller: sb.RunController) -> None:
        controller.append_text("before")
        emit(controller)

    app = StreamApp(run)
    to_app, inbox = anyio.create_memory_object_stream[dict[str, Any]](10)
    frames: list[dict[str, Any]] = []
    closed: list[dict[str, Any]] = []
    ends: dict[str, anyio.Event] = {}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            message["text"].encode()  # what a server does with a text frame: UTF-8 or fail
            frame = json.loads(message["text"])
            frames.append(frame)
            if frame["type"] == "end":
                ends[frame["requestId"]].set()
        elif message["type"] == "websocket.close":
            closed.append(message)

    async def ask(request_id: str) -> None:
        ends[request_id] = anyio.Event()
        frame = {"type": "send", "requestId": request_id, **request_body(protocol)}
        await to_app.send({"type": "websocket.receive", "text": json.dumps(frame)})
        await ends[request_id].wait()

    scope = {
        "type": "websocket",
        "path": "/",
        "headers": [],
        "query_string": b"protocol=" + protocol.encode(),
    }
    await to_app.send({"type": "websocket.connect"})
    with to_app, inbox, anyio.fail_after(5):
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(app, scope, inbox.receive, send)
            await ask("first")
            await ask("second")  # the same socket serves the next run
            await to_app.send({"type": "websocket.disconnect"})
    assert not closed
    assert next(f["type"] for f in frames if f["requestId"] == "first") == "start"
    assert not any(f["type"] == "error" for f in frames)
