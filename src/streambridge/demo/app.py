"""The demo server: the demo page and its static files, and the demo assistant at /api/chat
(HTTP and WebSocket, every protocol through ``?protocol=``)."""

from __future__ import annotations

import json
import mimetypes
from importlib import resources
from typing import Any

from ..asgi import StreamMiddleware, serve_lifespan
from ..protocols import protocol_names
from ..run import RunFunction
from ..runs import MemoryStore
from ..transport.shutdown import OpenStreams
from .assistant import demo_run

__all__ = ["demo_app"]

STATIC = resources.files(__package__) / "static"
CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "json": "application/json",
    "svg": "image/svg+xml",
}


async def _respond(
    send: Any, status: int, body: bytes, content_type: str, *, head: bool = False
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if status == 405:
        headers.append((b"allow", b"GET, HEAD"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


def _error(message: str) -> bytes:
    return json.dumps({"error": {"message": message}}).encode()


class _Page:
    """Serves ``static/`` (``/`` is ``index.html``) and ``/api/protocols``: the protocols this
    server speaks, and the one a request that names none gets (the page starts on it)."""

    def __init__(self, default_protocol: str) -> None:
        self.protocols = json.dumps(
            {"protocols": protocol_names(), "default": default_protocol}
        ).encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(OpenStreams(), receive, send)  # no streams of its own to end
            return
        if scope["type"] == "websocket":  # WebSockets are served at /api/chat only
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if method not in ("GET", "HEAD"):
            await _respond(send, 405, _error("the page takes GET"), "application/json")
            return
        head = method == "HEAD"
        if path == "/api/protocols":
            await _respond(send, 200, self.protocols, "application/json", head=head)
            return
        await _static(send, path, head)


async def _static(send: Any, path: str, head: bool) -> None:
    # A browser asks for /favicon.ico on its own, whatever the page links.
    name = {"/": "index.html", "/favicon.ico": "favicon.svg"}.get(path, path.removeprefix("/"))
    segments = name.split("/")
    resource = STATIC
    for segment in segments:  # one at a time: Python 3.10's joinpath takes one name
        resource = resource / segment
    # Only plain names below static/: no "..", no hidden files, no empty segments.
    if any(not s or s.startswith(".") for s in segments) or not resource.is_file():
        await _respond(send, 404, _error("not found"), "application/json", head=head)
        return
    await _respond(send, 200, resource.read_bytes(), _content_type(name), head=head)


def _content_type(name: str) -> str:
    # Fixed for the page's own files: a system MIME table may map .js to text/plain, which
    # browsers refuse for module scripts.
    known = CONTENT_TYPES.get(name.rpartition(".")[2])
    return known or mimetypes.guess_type(name)[0] or "application/octet-stream"


def demo_app(
    *, protocol: str = "data-stream", heartbeat: float = 15.0, assistant: RunFunction = demo_run
) -> StreamMiddleware:
    """The demo as one ASGI app.  It keeps its runs: a reloaded page or a second tab attaches
    to the run in progress, and Stop stops it in every tab.  ``assistant`` answers at
    ``/api/chat``: the scripted one, or a model's (:func:`.model.model_run`)."""
    return StreamMiddleware(
        _Page(protocol),
        routes={"/api/chat": assistant},
        protocol=protocol,
        heartbeat=heartbeat,
        store=MemoryStore(),
    )
