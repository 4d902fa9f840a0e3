"""A local upstream model server: it answers every request with a recorded SSE body.

The SDKs under test (``openai``, ``anthropic``) talk to it over real HTTP, so their own parsers
build the events the bridges read.  A client's ``base_url`` picks the recording and the way it
is served: ``http://127.0.0.1:PORT/<recording>/<mode>``, where ``mode`` is

- ``whole``: the body in one piece;
- ``fragments``: the body cut in 1 to 7 byte pieces (lines, events and UTF-8 sequences split
  anywhere);
- ``hang``: the body, then the response stays open until the client goes away.

Each request's fate is recorded in ``Upstream.requests`` (``"complete"`` or ``"disconnected"``).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from support.ports import free_port

RECORDINGS = Path(__file__).parent / "recordings"


def recording(name: str) -> bytes:
    return (RECORDINGS / f"{name}.sse").read_bytes()


def fragments(data: bytes, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    i = 0
    while i < len(data):
        size = rng.randint(1, 7)
        yield data[i : i + size]
        i += size


@dataclass
class Upstream:
    port: int
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, name: str, mode: str = "whole") -> str:
        return f"http://127.0.0.1:{self.port}/{name}/{mode}"

    def outcome(self, name: str, timeout: float = 10.0) -> str:
        """The fate of the last request for ``name``, once it has one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                done = [r for r in self.requests if r["name"] == name and r["outcome"]]
            if done:
                return str(done[-1]["outcome"])
            time.sleep(0.01)
        raise AssertionError(f"no finished request for {name}")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        name, mode = scope["path"].strip("/").split("/")[:2]
        entry: dict[str, Any] = {"name": name, "mode": mode, "outcome": None}
        with self.lock:
            self.requests.append(entry)
        message = await receive()
        while message.get("more_body"):
            message = await receive()
        body = recording(name)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        pieces = fragments(body, seed=len(self.requests)) if mode == "fragments" else [body]
        try:
            for piece in pieces:
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            if mode == "hang":
                while (await receive())["type"] != "http.disconnect":
                    pass
                entry["outcome"] = "disconnected"
                return
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            entry["outcome"] = "disconnected"
            return
        entry["outcome"] = "complete"


def start_upstream() -> tuple[Upstream, uvicorn.Server, threading.Thread]:
    upstream = Upstream(free_port())
    config = uvicorn.Config(
        upstream, host="127.0.0.1", port=upstream.port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the upstream test server did not start")
        time.sleep(0.01)
    return upstream, server, thread
