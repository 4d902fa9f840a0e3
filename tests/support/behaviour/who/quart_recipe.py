"""Quart (on asyncio; QuartTrio on trio, ``trio_app``): a ``before_request`` hook puts the user
in ``g``, which the run reads, or refuses."""

from __future__ import annotations

from quart import Quart, g, request
from quart_trio import QuartTrio

import streambridge as sb
from streambridge_quart import stream_view

from .common import noted, user_of

DOC = ("docs/guide/frameworks-asgi.md", "async def who_is_calling():")


def recipe(app: Quart) -> Quart:
    async def run(controller: sb.RunController) -> None:
        controller.append_text(f"Hello, {g.user}")

    app.add_url_rule("/api/chat", view_func=stream_view(noted(run)))

    @app.before_request  # or the API blueprint's; before_websocket for the websocket route
    async def who_is_calling():
        g.user = user_of(request.headers.get("Authorization"))
        if g.user is None:
            return {"error": {"message": "sign in first"}}, 401
        return None

    return app


app = recipe(Quart(__name__))
trio_app = recipe(QuartTrio(__name__))
