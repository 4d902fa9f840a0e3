"""The demo assistant on Starlette: POST /api/chat (any protocol via ?protocol=), WebSocket
/api/ws.  FastAPI takes the same views (``app.add_route``, ``app.add_websocket_route``).

    uv run uvicorn --app-dir examples starlette_app:app

    curl -N localhost:8000/api/chat -d '{"messages": [{"role": "user", "content": "Hi"}]}'
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute

from streambridge.demo import demo_run
from streambridge_starlette import stream_view, websocket_view

app = Starlette(
    routes=[
        Route("/api/chat", stream_view(demo_run)),
        WebSocketRoute("/api/ws", websocket_view(demo_run)),
    ]
)
