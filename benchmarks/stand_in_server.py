"""A stand-in ASGI server for in-process diagnostics (``idle_heap.py``, ``token_cpu.py``).

It drives an app the way a server does for one chat request: the body first, then a wait for a
disconnect that never comes; the response goes to ``on_send`` (default: dropped).  No sockets,
so what is measured is the app and nothing of a real server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

BODY = json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()

Message = dict[str, Any]


def scope() -> Message:
    return {
        "type": "http",
        "method": "POST",
        "path": "/",
        "query_string": b"",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
        ],
    }


async def serve_one(
    app: Callable[..., Awaitable[None]],
    on_send: Callable[[Message], object] | None = None,
) -> None:
    """One request through ``app``; it returns when the app does."""
    body_sent = False
    never = asyncio.Event()  # as servers wait: each receive() on a future of its own

    async def receive() -> Message:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": BODY, "more_body": False}
        await never.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if on_send is not None:
            on_send(message)

    await app(scope(), receive, send)
