"""Plain ASGI: a middleware puts the user in the scope, or refuses."""

from __future__ import annotations

import json

import streambridge as sb
from streambridge.asgi import ASGIApp, Receive, Scope, Send, StreamApp

from .common import noted, user_of

DOC = ("docs/guide/serving.md", "def require_user(app: ASGIApp) -> ASGIApp:")


def require_user(app: ASGIApp) -> ASGIApp:
    """``app`` for requests with a known token (``scope["user"]``); a 401 for the others."""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):  # lifespan
            await app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        user = user_of(headers.get(b"authorization", b"").decode("latin-1"))
        if user is not None:
            await app({**scope, "user": user}, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # the server answers 403
        else:
            body = json.dumps({"error": {"message": "sign in first"}}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})

    return guarded


async def run(controller: sb.RunController) -> None:
    controller.append_text(f"Hello, {controller.request['user']}")


app = require_user(StreamApp(noted(run)))
