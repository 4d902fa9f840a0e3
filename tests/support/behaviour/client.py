"""The behaviour suite's client side: a client that leaves mid-stream, what the run's
``finally`` recorded in the server's process (see app.py), and the message a WebSocket
client builds from the envelope's chunk frames."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio

import streambridge as sb
from streambridge.client import Message, MessageAccumulator
from streambridge.transport import chunk_event

from .hosts import LiveHost


async def post_then_leave(host: LiveHost, body: Any, *, until: bytes, query: str = "") -> float:
    """POST over a plain socket, read until ``until`` arrives, then close the connection (as a
    browser tab that goes away); return the moment it started closing.

    (httpx leaves generators unclosed when a stream is abandoned mid-body, which trio reports.)
    """
    data = json.dumps(body).encode()
    target = f"{host.host.path}?{query}" if query else host.host.path
    head = (
        f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1:{host.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    received = b""
    with anyio.fail_after(10):
        async with await anyio.connect_tcp("127.0.0.1", host.port) as stream:
            await stream.send(head.encode() + data)
            while until not in received:
                received += await stream.receive()
            assert received.startswith(b"HTTP/1.1 200 "), received[:200]
            left = time.monotonic()
    return left


async def wait_for_marker(path: Path) -> dict[str, Any]:
    """What the run's ``finally`` recorded: the server's process writes it, so poll."""
    for _ in range(1000):
        if (found := read_marker(path)) is not None:
            return found
        await anyio.sleep(0.005)
    raise AssertionError(f"the run's finally did not run within 5 s ({path} is missing)")


def read_marker(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def envelope_message(chunks: list[dict[str, Any]], protocol: str = "data-stream") -> Message:
    """The message a client builds from the events ``chunks`` (the ``chunk`` frames of one run
    over the WebSocket envelope) carry in ``protocol``."""
    wire = sb.get_protocol(protocol)
    decoder = wire.new_decoder()
    accumulator = MessageAccumulator()
    for frame in chunks:
        event = chunk_event(frame, wire.framing)
        for item in decoder.decode(event.name, event.data):
            accumulator.add(item)
    for item in decoder.close():
        accumulator.add(item)
    return accumulator.message
