"""Plain ASGI hosts: :class:`StreamApp` serves one run, :class:`StreamMiddleware` serves runs on
some paths of another app.

Both speak the same three ASGI scopes: ``http`` (POST streams a run back, HEAD answers its
headers, anything else a 405), ``websocket`` (the envelope of :mod:`.transport.envelope`) and
``lifespan`` (``lifespan.shutdown`` ends every open stream cleanly).  Everything they decide is in
:mod:`streambridge.transport`; this module only speaks ASGI messages.  :func:`serve_http` and
:func:`serve_websocket` are public for adapters of ASGI frameworks, which pass their own request
object as ``controller.request``; :func:`send_stream` sends a stream an adapter opened itself (a
response object built around a ``create_run`` stream).
"""

from __future__ import annotations

from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Mapping,
    MutableMapping,
)
from contextlib import suppress
from functools import partial
from typing import Any

from . import transport
from .encoding import EncodedStream
from .protocols import WireProtocol
from .run import RunFunction
from .transport import (
    TRY_AGAIN_LATER,
    ClientDisconnected,
    Driver,
    Ending,
    Reply,
    StreamEndpoint,
    StreamHead,
    StreamHost,
    StreamOptions,
    close_session,
    protocol_from_query,
    serve_session,
    stream_headers,
)
from .transport.driver import within
from .transport.shutdown import OpenStreams

__all__ = [
    "ASGIApp",
    "Receive",
    "Scope",
    "Send",
    "StreamApp",
    "StreamMiddleware",
    "route_path",
    "send_stream",
    "serve_http",
    "serve_lifespan",
    "serve_websocket",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class StreamApp(StreamHost):
    """An ASGI app that serves ``run``: mount it anywhere (Starlette ``Mount``, FastAPI
    ``app.mount``, Django's ASGI router, Quart, ...) or serve it alone.

    ``controller.request`` is the ASGI scope.  The options are those of
    :class:`~streambridge.transport.StreamOptions`.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await serve_http(self.endpoint, scope, receive, send)
        elif kind == "websocket":
            await serve_websocket(self.endpoint, scope, receive, send)
        elif kind == "lifespan":
            await serve_lifespan(self.endpoint.streams, receive, send)

    async def shutdown(self) -> None:
        """End every open stream cleanly (the protocol's error event and end; WebSocket close
        1001) and wait for them; new requests get a 503 until the next ``lifespan.startup``."""
        await self.endpoint.shutdown()


class StreamMiddleware:
    """Serve runs on some paths (HTTP and WebSocket) and pass everything else, lifespan
    included, to ``app``.

    ``routes`` maps a path (below the app's ``root_path``) to its run; every route takes the same
    options (see :class:`~streambridge.transport.StreamOptions`).
    """

    def __init__(self, app: ASGIApp, routes: Mapping[str, RunFunction], **options: Any) -> None:
        for path in routes:
            if not path.startswith("/"):
                raise ValueError(f"route paths start with '/': {path!r}")
        stream_options = StreamOptions.from_kwargs(**options)
        self.app = app
        self.streams = OpenStreams()
        self.routes = {
            path: StreamEndpoint(run, stream_options, self.streams) for path, run in routes.items()
        }
        self.keeps_runs = stream_options.store is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind in ("http", "websocket"):
            path = route_path(scope)
            endpoint = self.routes.get(path)
            if endpoint is None and kind == "http" and self.keeps_runs:
                endpoint = self._keeper_of(scope["method"], path)
            if endpoint is not None:
                serve = serve_http if kind == "http" else serve_websocket
                await serve(endpoint, scope, receive, send)
                return
        elif kind == "lifespan":
            receive = partial(_lifespan_receive, self.streams, receive)
        await self.app(scope, receive, send)

    def _keeper_of(self, method: str, path: str) -> StreamEndpoint | None:
        """The route below whose path ``path`` is a request about one of its runs (see
        :mod:`streambridge.transport.attach`); anything else there is the app's."""
        for prefix, endpoint in self.routes.items():
            if path.startswith(prefix.rstrip("/") + "/") and endpoint.run_request(method, path):
                return endpoint
        return None

    async def shutdown(self) -> None:
        """End every open stream of every route cleanly (see :meth:`StreamApp.shutdown`)."""
        await self.streams.shutdown()


def route_path(scope: Scope) -> str:
    """The request's path below the app's mount point (``root_path``), as Starlette routes it:
    ASGI servers and routers put the full path in ``path``."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        rest = path[len(root_path) :]
        if not rest or rest.startswith("/"):
            return rest
    return path


# -- http ----------------------------------------------------------------------------------------


async def serve_http(
    endpoint: StreamEndpoint,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    request: Any = None,
    body: AsyncIterable[bytes] | None = None,
    below: bool = False,
) -> None:
    """Answer one HTTP request: POST streams the run back, HEAD the headers, else an error;
    with a store, also the requests about its runs (see :mod:`streambridge.transport.attach`).

    ``request`` becomes ``controller.request`` (default: the scope).  ``body`` replaces reading
    the request body from ``receive`` (for a framework that may have read it already); it raises
    :class:`~streambridge.transport.ClientDisconnected` if the client leaves mid-body.
    ``below=True`` when a framework routed the request here from below the host's own path: only
    a request about a run is answered there, anything else is a 404.
    """
    method = scope["method"]
    head = method == "HEAD"
    try:
        answer = await endpoint.respond(
            method,
            scope["path"],
            query_string=scope.get("query_string", b""),
            content_length=_header(scope, b"content-length"),
            body=_request_body(receive) if body is None else body,
            last_event_id=_header(scope, b"last-event-id"),
            request=scope if request is None else request,
            below=below,
        )
    except (ClientDisconnected, OSError):
        return
    if isinstance(answer, Reply):
        with suppress(OSError):
            await _reply(send, answer, head=head)
        return
    if isinstance(answer, StreamHead):
        await _start(send, _raw(answer.headers), body_follows=False)
        return
    headers = _stream_headers(answer.protocol)
    if endpoint.options.store is not None and answer.run_id is not None:
        # The id to attach to this run by, or to stop it with, from another request.
        headers = [*headers, (RUN_ID_HEADER, answer.run_id.encode("latin-1"))]
    await send_stream(
        answer,
        receive,
        send,
        send_timeout=endpoint.options.send_timeout,
        streams=endpoint.streams,
        headers=headers,
    )


async def send_stream(
    source: EncodedStream,
    receive: Receive,
    send: Send,
    *,
    send_timeout: float | None,
    streams: OpenStreams,
    headers: RawHeaders | None = None,
) -> None:
    """Send ``source`` as the whole response to an HTTP request whose body has been read: the
    status and ``headers`` (default: the protocol's), then the stream.

    A client that goes away (``http.disconnect``, ``OSError`` from ``send``) or a write stuck
    longer than ``send_timeout`` ends it; ``streams.shutdown()`` ends it with the protocol's
    error event.  However it ends, the run is closed (cancelled after its grace) on return.
    """
    if headers is None:
        headers = _stream_headers(source.protocol)
    exchange = _Exchange(receive, send, headers)
    driver = Driver(
        source,
        exchange,
        send_timeout=send_timeout,
        opening=exchange.start,
        client=exchange.client_gone,
        inline=True,  # an ASGI server's send mostly writes at once, from any task
    )
    with streams.track() as stop:
        ending = await driver.run(stop)
        if ending in (Ending.COMPLETE, Ending.SHUTDOWN):
            # Still counted as open: a SIGTERM that waits for the open streams must not let
            # the server close the connection before the body's end is sent (seen on
            # hypercorn's trio worker: the whole stream, then a cut instead of its last chunk).
            with suppress(OSError):
                end = {"type": "http.response.body", "body": b"", "more_body": False}
                await within(send_timeout, send(end))


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        if message["type"] == "http.request":
            yield message.get("body", b"")
            if not message.get("more_body", False):
                return


class _Exchange:
    """The response body's sends and the client's leaving, for the driver (a class: smaller than
    two closures)."""

    __slots__ = ("headers", "receive", "send")

    def __init__(self, receive: Receive, send: Send, headers: RawHeaders) -> None:
        self.receive = receive
        self.send = send
        self.headers = headers

    async def start(self) -> None:
        await _start(self.send, self.headers)

    def __call__(self, data: bytes) -> Awaitable[None]:
        # The server's own send, not a coroutine around it: one frame less a token.
        return self.send({"type": "http.response.body", "body": data, "more_body": True})

    async def client_gone(self) -> None:
        """Return once the client has gone (the rest of the request is left over)."""
        try:
            while (await self.receive())["type"] != "http.disconnect":
                pass
        except Exception:
            # Not hearing from the client means nobody listens any more.  Nothing may escape
            # either: a trio system task that raises ends the whole event loop.
            return


RawHeaders = list[tuple[bytes, bytes]]
RUN_ID_HEADER = transport.RUN_ID_HEADER.encode("latin-1")
_STREAM_HEADERS: dict[str, tuple[WireProtocol, RawHeaders]] = {}


def _stream_headers(protocol: WireProtocol) -> RawHeaders:
    """A stream's response headers, encoded once per protocol (shared: :func:`_start` sends a
    copy, since middleware may add to a response's header list in place)."""
    cached = _STREAM_HEADERS.get(protocol.name)
    if cached is None or cached[0] is not protocol:
        cached = _STREAM_HEADERS[protocol.name] = (protocol, _raw(stream_headers(protocol)))
    return cached[1]


def _raw(headers: list[tuple[str, str]]) -> RawHeaders:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


async def _start(send: Send, headers: RawHeaders, *, body_follows: bool = True) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
    if not body_follows:
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _reply(send: Send, reply: Reply, *, head: bool) -> None:
    raw = _raw(reply.headers())
    await send({"type": "http.response.start", "status": reply.status, "headers": raw})
    await send({"type": "http.response.body", "body": b"" if head else reply.body()})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


# -- websocket -----------------------------------------------------------------------------------


class _ASGIWebSocket:
    """An accepted ASGI WebSocket as the session's channel."""

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self.closed = False

    async def receive(self) -> str | bytes | None:
        while not self.closed:
            message = await self._receive()
            if message["type"] == "websocket.disconnect":
                self.closed = True
            elif message["type"] == "websocket.receive":
                text = message.get("text")
                return text if text is not None else bytes(message.get("bytes") or b"")
        return None

    async def send(self, text: str) -> None:
        if self.closed:
            raise ConnectionResetError("the WebSocket client has gone")
        await self._send({"type": "websocket.send", "text": text})

    async def close(self, code: int) -> None:
        if not self.closed:
            self.closed = True
            await self._send({"type": "websocket.close", "code": code})


async def serve_websocket(
    endpoint: StreamEndpoint,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    request: Any = None,
    accepted: bool = False,
) -> None:
    """Accept a WebSocket and serve envelope frames on it until the client or the host ends it.

    ``request`` becomes ``controller.request`` (default: the scope); ``accepted=True`` when the
    framework has already accepted the connection.
    """
    if not accepted:
        if (await receive())["type"] != "websocket.connect":
            return
        try:
            if endpoint.streams.closing:
                await send({"type": "websocket.close", "code": TRY_AGAIN_LATER})
                return
            await send({"type": "websocket.accept"})
        except OSError:  # the client left during the handshake
            return
    channel = _ASGIWebSocket(receive, send)
    ending = await serve_session(
        channel,
        endpoint,
        scope if request is None else request,
        protocol=protocol_from_query(scope.get("query_string", b"")),
    )
    await close_session(ending, channel.close, endpoint.options.send_timeout)


# -- lifespan ------------------------------------------------------------------------------------


async def serve_lifespan(streams: OpenStreams, receive: Receive, send: Send) -> None:
    """The lifespan protocol for a top-level app: shutdown ends the open streams first."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            streams.reopen()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await streams.shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _lifespan_receive(streams: OpenStreams, receive: Receive) -> Message:
    """The wrapped app's lifespan messages, with the streams ended before it hears of a
    shutdown (and accepted again on a startup)."""
    message = await receive()
    if message["type"] == "lifespan.startup":
        streams.reopen()
    elif message["type"] == "lifespan.shutdown":
        await streams.shutdown()
    return message
