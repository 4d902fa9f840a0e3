"""Serve a streambridge run from Starlette and FastAPI.

>>> from starlette.applications import Starlette
>>> from starlette.routing import Route, WebSocketRoute
>>> app = Starlette(routes=[
...     Route("/api/chat", stream_view(run)),
...     WebSocketRoute("/api/chat", websocket_view(run)),
... ])

With ``store=``, the routes of its runs (attach, status, stop: see
:mod:`streambridge.transport.attach`) sit below the view's path; ``view.routes(path)`` mounts
both (``Route(path, view)`` and ``Route(path + "/{run_path:path}", view)``)::

    app = Starlette(routes=[*stream_view(run, store=sb.MemoryStore()).routes("/api/chat")])

In a handler that has read the request itself, assistant-stream's idiom works as it is:
``return DataStreamResponse(create_run(run))`` (see :mod:`.responses`; ``RunResponse`` takes any
protocol).

``controller.request`` is Starlette's :class:`~starlette.requests.Request` (or
:class:`~starlette.websockets.WebSocket`).  Every behaviour (protocols, heartbeats, disconnects,
errors, shutdown) is streambridge's own: this package only hands Starlette's objects over.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketState

from streambridge import RunFunction
from streambridge.asgi import serve_http, serve_websocket
from streambridge.transport import (
    RUN_PATH_PARAM,
    ClientDisconnected,
    StreamEndpoint,
    StreamOptions,
)

from .responses import (
    AssistantTransportResponse,
    DataStreamResponse,
    OpenAIStreamResponse,
    RunResponse,
    shutdown_responses,
)

__all__ = [
    "AssistantTransportResponse",
    "DataStreamResponse",
    "OpenAIStreamResponse",
    "RunResponse",
    "StreamView",
    "WebSocketView",
    "shutdown_responses",
    "stream_view",
    "websocket_view",
]


class StreamView:
    """A Starlette endpoint (an ASGI app) that streams ``run`` back to a POST.

    Mount it with ``Route(path, view)``: leaving ``methods`` unset lets the view answer a wrong
    method itself, with a JSON 405.  In a FastAPI path operation, ``return view.response(request)``.
    """

    def __init__(self, run: RunFunction, **options: Any) -> None:
        self.endpoint = StreamEndpoint(run, StreamOptions.from_kwargs(**options))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _serve(self.endpoint, Request(scope, receive, send), receive, send)

    def routes(self, path: str) -> list[Route]:
        """``Route(path, self)`` and, below it, the route of its stored runs' requests
        (``path/{run_path:path}``: attach, status, stop)."""
        return [Route(path, self), Route(f"{path.rstrip('/')}/{{{RUN_PATH_PARAM}:path}}", self)]

    def response(self, request: Request) -> Response:
        """The stream as a Starlette response, for a framework endpoint (e.g. FastAPI's
        ``@app.post``) that returns one; the body is read from ``request``, even if the
        endpoint has read it already."""
        return _StreamResponse(self.endpoint, request)

    async def shutdown(self) -> None:
        """End this view's open streams cleanly (call it from the app's lifespan shutdown)."""
        await self.endpoint.shutdown()


class WebSocketView:
    """A Starlette WebSocket endpoint serving ``run`` in streambridge's envelope.

    Mount it with ``WebSocketRoute(path, view)``; in a FastAPI WebSocket endpoint,
    ``await view.serve(websocket)``.
    """

    def __init__(self, run: RunFunction, **options: Any) -> None:
        self.endpoint = StreamEndpoint(run, StreamOptions.from_kwargs(**options))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        await serve_websocket(self.endpoint, scope, receive, send, request=websocket)

    async def serve(self, websocket: WebSocket) -> None:
        """Serve an endpoint's ``WebSocket``, accepted already or not."""
        await serve_websocket(
            self.endpoint,
            websocket.scope,
            websocket.receive,
            websocket.send,
            request=websocket,
            accepted=websocket.application_state is WebSocketState.CONNECTED,
        )

    async def shutdown(self) -> None:
        """End this view's open connections cleanly (close 1001 after the run's end)."""
        await self.endpoint.shutdown()


def stream_view(run: RunFunction, **options: Any) -> StreamView:
    """A Starlette/FastAPI endpoint streaming ``run``; ``options`` as for ``StreamApp``."""
    return StreamView(run, **options)


def websocket_view(run: RunFunction, **options: Any) -> WebSocketView:
    """A Starlette/FastAPI WebSocket endpoint serving ``run``; ``options`` as for ``StreamApp``."""
    return WebSocketView(run, **options)


class _StreamResponse(Response):
    """A response whose sending is the whole exchange: read the body, then stream the run."""

    def __init__(self, endpoint: StreamEndpoint, request: Request) -> None:
        super().__init__()
        self._endpoint = endpoint
        self._request = request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _serve(self._endpoint, self._request, receive, send)


async def _serve(endpoint: StreamEndpoint, request: Request, receive: Receive, send: Send) -> None:
    below = RUN_PATH_PARAM in request.path_params  # routed here by the sub-route of routes()
    await serve_http(
        endpoint, request.scope, receive, send, request=request, body=_body(request), below=below
    )


async def _body(request: Request) -> AsyncIterator[bytes]:
    """The request body through Starlette, which remembers a body an endpoint has read."""
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect:
        raise ClientDisconnected from None
