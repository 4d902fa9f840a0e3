"""Flask: a ``before_request`` hook puts the user in ``g``, which the run reads, or refuses."""

from __future__ import annotations

from flask import Flask, g, request

import streambridge as sb
from streambridge_flask import stream_view

from .common import noted, user_of

DOC = ("docs/guide/frameworks.md", "def who_is_calling():")

app = Flask(__name__)


async def run(controller: sb.RunController) -> None:
    controller.append_text(f"Hello, {g.user}")


app.add_url_rule("/api/chat", view_func=stream_view(noted(run)))


@app.before_request  # or the API blueprint's: bp.before_request
def who_is_calling():
    g.user = user_of(request.headers.get("Authorization"))
    if g.user is None:
        return {"error": {"message": "sign in first"}}, 401
    return None
