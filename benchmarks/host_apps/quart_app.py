"""The Quart plugin's ``stream_view(run)``, for hypercorn (asyncio worker)."""

from __future__ import annotations

from quart import Quart

from streambridge_quart import stream_view

from .run import PATH, run

app = Quart(__name__)
app.add_url_rule(PATH, view_func=stream_view(run), methods=["POST"])
