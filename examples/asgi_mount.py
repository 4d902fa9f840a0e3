"""streambridge in front of another ASGI app: ``StreamMiddleware`` serves the demo assistant at
/api/chat (POST, any protocol via ?protocol=) and /api/ws (WebSocket) and passes every other
request, and the lifespan, to a small Starlette app with a home page.

    uv run uvicorn --app-dir examples asgi_mount:app

    curl -N localhost:8000/api/chat -d '{"messages": [{"role": "user", "content": "Hi"}]}'
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from streambridge.asgi import StreamMiddleware
from streambridge.demo import demo_run


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse("The demo assistant streams at POST /api/chat and over /api/ws.")


site = Starlette(routes=[Route("/", home)])
app = StreamMiddleware(site, routes={"/api/chat": demo_run, "/api/ws": demo_run})
