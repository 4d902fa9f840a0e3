"""Serve a streambridge run from Quart.

>>> app = Quart(__name__)
>>> app.add_url_rule("/api/chat", view_func=stream_view(run))
>>> app.add_websocket("/api/chat", view_func=websocket_view(run))

With ``store=``, the routes of its runs (attach, status, stop: see
:mod:`streambridge.transport.attach`) sit below the view's path; :func:`add_stream_rules` routes
both::

    add_stream_rules(app, "/api/chat", stream_view(run, store=sb.MemoryStore()))

``controller.request`` is Quart's :class:`~quart.wrappers.Request` (or
:class:`~quart.wrappers.Websocket`), and the request (or websocket) context is active while the
run streams, so ``quart.request``, ``current_app`` and ``g`` work in the run too.  Every behaviour
(protocols, heartbeats, disconnects, errors, shutdown) is streambridge's own: this package only
hands Quart's objects over.

Two things Quart does that a stream must not suffer:

- it cuts every response at ``RESPONSE_TIMEOUT`` (60 s by default) without a word; a stream's
  response lifts that limit (``response.timeout = None``), and streambridge's ``send_timeout``
  gives up on a client that stopped reading instead;
- it writes a streaming response itself, pulling the body, and cancels it when the client goes
  away: the body is :func:`streambridge.transport.pull_stream`, which turns that cancellation
  into the run's, and keeps heartbeats, the send timeout and clean shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Protocol, cast

from quart import Blueprint, Quart
from quart.ctx import AppContext
from quart.globals import app_ctx, current_app, request_ctx, websocket_ctx
from quart.wrappers import Request, Response, Websocket
from quart.wrappers.response import ResponseBody
from werkzeug.datastructures import Headers
from werkzeug.exceptions import RequestEntityTooLarge

from streambridge import RunFunction
from streambridge.encoding import EncodedStream
from streambridge.transport import (
    RUN_PATH_PARAM,
    TRY_AGAIN_LATER,
    HTTPError,
    Reply,
    StreamEndpoint,
    StreamHead,
    StreamOptions,
    close_session,
    protocol_from_query,
    pull_stream,
    serve_session,
)

__all__ = [
    "METHODS",
    "StreamView",
    "WebSocketView",
    "add_stream_rules",
    "stream_view",
    "websocket_view",
]

METHODS = ("POST", "HEAD", "GET", "PUT", "PATCH", "DELETE")
"""What a stream view's rule accepts, so that a wrong method gets streambridge's JSON 405 rather
than Quart's HTML one.  (``OPTIONS`` stays Quart's, for CORS preflights.)"""


class StreamView(Protocol):
    """What :func:`stream_view` returns: a Quart view function with its rule's methods."""

    __name__: str
    methods: tuple[str, ...]
    endpoint: StreamEndpoint
    shutdown: Callable[[], Awaitable[None]]
    """End this view's open streams cleanly (e.g. from ``@app.after_serving``)."""

    async def __call__(self, **view_args: Any) -> Response: ...


class WebSocketView(Protocol):
    """What :func:`websocket_view` returns: a Quart websocket view function."""

    __name__: str
    endpoint: StreamEndpoint
    shutdown: Callable[[], Awaitable[None]]

    async def __call__(self, **view_args: Any) -> None: ...


def stream_view(run: RunFunction, **options: Any) -> StreamView:
    """A view streaming ``run`` back to a POST; ``options`` as for ``StreamApp``.

    Route it with ``app.add_url_rule(rule, view_func=view)`` (the rule takes the view's
    ``methods``), or ``app.route(rule, methods=METHODS)(view)``.  Its endpoint name is the run's
    name plus ``_stream``: pass ``endpoint=`` to serve one run on two rules.
    """
    endpoint = StreamEndpoint(run, StreamOptions.from_kwargs(**options))

    async def view(**view_args: Any) -> Response:
        # Routed by add_stream_rules' sub-route: only a request about a stored run belongs there.
        below = RUN_PATH_PARAM in view_args
        return await _respond(endpoint, request_ctx.request, below)

    stream = cast(StreamView, view)
    stream.__name__ = f"{_name(run)}_stream"
    stream.methods = METHODS
    stream.endpoint = endpoint
    stream.shutdown = endpoint.shutdown
    return stream


def websocket_view(run: RunFunction, **options: Any) -> WebSocketView:
    """A websocket view serving ``run`` in streambridge's envelope; ``options`` as for
    ``StreamApp``.  Route it with ``app.add_websocket(rule, view_func=view)``."""
    endpoint = StreamEndpoint(run, StreamOptions.from_kwargs(**options))

    async def view(**view_args: Any) -> None:
        await _serve_websocket(endpoint, websocket_ctx.websocket)

    socket = cast(WebSocketView, view)
    socket.__name__ = f"{_name(run)}_websocket"
    socket.endpoint = endpoint
    socket.shutdown = endpoint.shutdown
    return socket


def add_stream_rules(app: Quart | Blueprint, rule: str, view: StreamView) -> None:
    """Route ``view`` at ``rule`` and the routes of its stored runs below it
    (``rule/<path:run_path>``) on a Quart app or blueprint."""
    app.add_url_rule(rule, view_func=view)
    app.add_url_rule(f"{rule.rstrip('/')}/<path:{RUN_PATH_PARAM}>", view_func=view)


def _name(run: RunFunction) -> str:
    return getattr(run, "__name__", type(run).__name__)


# -- http ----------------------------------------------------------------------------------------


async def _respond(endpoint: StreamEndpoint, request: Request, below: bool) -> Response:
    head = request.method == "HEAD"
    answer = await endpoint.respond(
        request.method,
        request.path,
        query_string=request.query_string,
        content_length=request.headers.get("Content-Length"),
        body=_body(request),
        last_event_id=request.headers.get("Last-Event-ID"),
        request=request,
        below=below,
    )
    if isinstance(answer, Reply):
        return _reply_response(answer, head=head)
    if isinstance(answer, StreamHead):
        return _stream_response(None, answer.headers)
    return _stream_response(_StreamBody(endpoint, answer), endpoint.stream_headers(answer))


def _stream_response(body: _StreamBody | None, headers: list[tuple[str, str]]) -> Response:
    response = current_app.response_class(body, status=200, headers=Headers(headers))
    response.timeout = None  # RESPONSE_TIMEOUT would cut the stream, silently
    return response


def _reply_response(reply: Reply, *, head: bool) -> Response:
    body = reply.body()
    headers = Headers(reply.headers())
    response = current_app.response_class(b"" if head else body, reply.status, headers)
    if reply.payload is not None:
        response.content_length = len(body)  # for a HEAD too: the length of the body it omits
    return response


async def _body(request: Request) -> AsyncIterator[bytes]:
    """The body as it arrives, through Quart (which holds a body a hook has read already)."""
    try:
        async for chunk in request.body:
            yield chunk
    except RequestEntityTooLarge:  # Quart's own MAX_CONTENT_LENGTH, when it is the lower limit
        limit = request.max_content_length
        message = f"the request body is larger than the {limit} bytes accepted here"
        raise HTTPError(413, message) from None


class _StreamBody(ResponseBody):
    """The run's bytes as a Quart response body, pulled by Quart as it writes them.

    Quart enters, iterates and leaves it in the task that sends the response, and cancels that
    task when the client goes away: :func:`pull_stream` runs the driver beside it for exactly
    that span.  The request context is pushed again for the span, as
    ``quart.stream_with_context`` does, since Quart pops it before it sends the body; and so is
    the app context, with the view's ``g``: pushed alone, the request context would push a
    fresh app context, and the run would not see what a ``before_request`` hook put in ``g``
    (the user, say).
    """

    def __init__(self, endpoint: StreamEndpoint, source: EncodedStream) -> None:
        self._app_context = cast(AppContext, app_ctx).copy()  # shares the view's g
        self._context = request_ctx.copy()
        self._pull: AbstractAsyncContextManager[AsyncIterator[bytes]] = pull_stream(
            endpoint, source
        )

    async def __aenter__(self) -> AsyncIterator[bytes]:
        await self._app_context.push()
        try:
            await self._context.push()
        except BaseException as exc:
            await self._app_context.pop(exc)
            raise
        try:
            return await self._pull.__aenter__()
        except BaseException as exc:
            await self._pop(exc)
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._pull.__aexit__(exc_type, exc_value, tb)
        finally:
            await self._pop(exc_value)

    async def _pop(self, exc: BaseException | None) -> None:
        try:
            await self._context.pop(exc)
        finally:
            await self._app_context.pop(exc)


# -- websocket -----------------------------------------------------------------------------------


class _QuartChannel:
    """Quart's websocket as the session's channel.  Quart cancels the view when the client
    goes away, so ``receive`` never has to say so."""

    def __init__(self, websocket: Websocket) -> None:
        self._websocket = websocket

    async def receive(self) -> str | bytes | None:
        return await self._websocket.receive()

    async def send(self, text: str) -> None:
        await self._websocket.send(text)


async def _serve_websocket(endpoint: StreamEndpoint, websocket: Websocket) -> None:
    if endpoint.streams.closing:
        await websocket.close(TRY_AGAIN_LATER)  # before accepting: the handshake is refused
        return
    await websocket.accept()
    ending = await serve_session(
        _QuartChannel(websocket),
        endpoint,
        websocket,
        protocol=protocol_from_query(websocket.query_string),
    )
    await close_session(ending, websocket.close, endpoint.options.send_timeout)
