"""The demo server: the demo page and its static files, and the demo assistant at /api/chat
(HTTP and WebSocket, every protocol through ``?protocol=``)."""

from __future__ import annotations

import json
import mimetypes
from importlib import resources
from typing import Any

from ..asgi import StreamMiddleware
from ..protocols import protocol_names
from .assistant import demo_run

__all__ = ["demo_app"]

STATIC = resources.files(__package__) / "static"


async def _respond(send: Any, status: int, body: bytes, content_type: str) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _page(scope: Any, receive: Any, send: Any) -> None:
    """Serves ``static/`` (``/`` is ``index.html``) and ``/api/protocols``."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/api/protocols":
        await _respond(send, 200, json.dumps(protocol_names()).encode(), "application/json")
        return
    name = "index.html" if path == "/" else path.lstrip("/")
    resource = STATIC / name
    if "/" in name or not resource.is_file():
        await _respond(send, 404, b'{"error": {"message": "not found"}}', "application/json")
        return
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    await _respond(send, 200, resource.read_bytes(), content_type + "; charset=utf-8")


def demo_app(*, protocol: str = "data-stream", heartbeat: float = 15.0) -> StreamMiddleware:
    """The demo as one ASGI app."""
    return StreamMiddleware(
        _page, routes={"/api/chat": demo_run}, protocol=protocol, heartbeat=heartbeat
    )
