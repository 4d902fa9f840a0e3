"""The demo assistant on Quart: POST /api/chat (any protocol via ?protocol=), websocket /api/ws.

uv run hypercorn examples/quart_app.py:app --bind 127.0.0.1:8000

curl -N localhost:8000/api/chat -d '{"messages": [{"role": "user", "content": "Hi"}]}'
"""

from __future__ import annotations

from quart import Quart

from streambridge.demo import demo_run
from streambridge_quart import stream_view, websocket_view

app = Quart(__name__)
app.add_url_rule("/api/chat", view_func=stream_view(demo_run))
app.add_websocket("/api/ws", view_func=websocket_view(demo_run))


@app.get("/")
async def home() -> str:
    return "The demo assistant streams at POST /api/chat and over the websocket /api/ws."
