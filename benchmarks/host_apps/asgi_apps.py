"""``StreamApp(run)`` and the Starlette plugin's ``stream_view(run)``, for uvicorn."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route

from streambridge.asgi import StreamApp
from streambridge_starlette import stream_view

from .run import PATH, run

stream_app = StreamApp(run)
starlette_app = Starlette(routes=[Route(PATH, stream_view(run), methods=["POST"])])
