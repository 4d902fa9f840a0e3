"""Django Channels (``daphne support.behaviour.who.channels_recipe:application``): a
middleware, written as Channels' own are, puts the user in the scope, or refuses."""

from __future__ import annotations

import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "support.behaviour.channels_host.settings")
django.setup()

from channels.middleware import BaseMiddleware  # noqa: E402  (after setup)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

import streambridge as sb  # noqa: E402
from streambridge_channels import StreamConsumer, StreamWebsocketConsumer  # noqa: E402

from .common import noted, user_of  # noqa: E402

DOC = ("docs/guide/frameworks-asgi.md", "class BearerAuthMiddleware(BaseMiddleware):")


class BearerAuthMiddleware(BaseMiddleware):
    """``scope["user"]`` from the bearer token; a connection without a known one is refused."""

    async def __call__(self, scope, receive, send):
        headers = dict(scope["headers"])
        user = user_of(headers.get(b"authorization", b"").decode("latin-1"))
        if user is not None:
            return await super().__call__({**scope, "user": user}, receive, send)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # daphne answers 403
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
        return None


async def run(controller: sb.RunController) -> None:
    controller.append_text(f"Hello, {controller.request['user']}")


application = ProtocolTypeRouter(
    {
        "http": BearerAuthMiddleware(
            URLRouter([path("api/chat", StreamConsumer.as_asgi(run=noted(run)))])
        ),
        "websocket": BearerAuthMiddleware(
            URLRouter([path("api/chat", StreamWebsocketConsumer.as_asgi(run=noted(run)))])
        ),
    }
)
