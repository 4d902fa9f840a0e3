"""The WSGI host: :class:`StreamWSGIApp` serves one run from any WSGI server.

A WSGI server calls the app on a thread of its own and writes what the returned iterable yields.
The run is async, so it runs in the one event loop every WSGI host of the process shares
(:mod:`streambridge.transport.portal`); the request thread pulls each batch of encoded bytes from
it as soon as the run has made it (:class:`~streambridge.transport.BlockingStream`).  Everything
else (methods, ``?protocol=``, body limits, headers, JSON errors) is the same
:mod:`streambridge.transport` logic the ASGI hosts use.

A request body is read within ``body_timeout`` seconds, else answered 408, so a client that
trickles its body holds a server thread no longer than that: held during each read too where
the server exposes the connection's socket (gunicorn, werkzeug), between reads elsewhere, where
the server's own timeout bounds each read (:mod:`streambridge.transport.deadline`).

WSGI has no disconnect event: a client that left is noticed when a write fails, within one
``heartbeat`` (keepalives bring the writes), or at once where the server exposes the
connection's socket (gunicorn, werkzeug), which the loop then watches.  Either way the
response iterable's ``close()`` cancels the run and returns once its ``finally`` blocks have run.

:func:`respond` and :func:`serve_wsgi` are public for adapters of WSGI frameworks (Flask,
Django under WSGI), which pass their own request object as ``controller.request``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from http import HTTPStatus
from typing import Any, BinaryIO

import anyio

from .transport import (
    BlockingStream,
    ClientDisconnected,
    HTTPError,
    Reply,
    StreamEndpoint,
    StreamHost,
    call_in_loop,
    read_request_blocking,
    shared_portal,
    stream_headers,
    thread_heartbeat,
)
from .transport.blocking import cut_connection
from .transport.deadline import stop_body_watcher
from .transport.portal import stop_shared_portal

__all__ = [
    "Answer",
    "Environ",
    "StartResponse",
    "StreamWSGIApp",
    "end_streams",
    "respond",
    "serve_wsgi",
    "shutdown",
    "wsgi_input",
    "wsgi_socket",
]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]

_SOCKET_KEYS = ("gunicorn.socket", "werkzeug.socket")
"""Where servers put the connection's socket in the environ (there is no standard key)."""


class StreamWSGIApp(StreamHost):
    """A WSGI app that serves ``run``: give it to any WSGI server (gunicorn, uWSGI, mod_wsgi,
    waitress, werkzeug) or mount it under a WSGI dispatcher.

    ``controller.request`` is the WSGI environ.  The options are those of
    :class:`~streambridge.transport.StreamOptions`.  Keep ``heartbeat`` set: on a server that
    does not expose its sockets, a write is the only way to learn that a client has gone.
    """

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        return serve_wsgi(self.endpoint, environ, start_response)

    def shutdown(self, timeout: float | None = None) -> None:
        """End every open stream cleanly (the protocol's error event and end) and wait for them,
        at most ``timeout`` seconds; new requests get a 503 from then on."""
        end_streams(self.endpoint, timeout)


@dataclass(frozen=True)
class Answer:
    """The answer to one request, for a host to send its own way."""

    status: int
    headers: list[tuple[str, str]]
    """Lower-case ``(name, value)`` pairs."""
    body: Iterable[bytes]
    """A :class:`~streambridge.transport.BlockingStream` for a run (close it when done, as
    WSGI servers close a response iterable), else the whole body (empty for a HEAD)."""
    streams: bool = False
    """Whether this is a stream's answer (its body is the run's, or nothing for a HEAD), not an
    error's or a JSON reply's."""

    @property
    def status_line(self) -> str:
        """The WSGI status, e.g. ``"200 OK"``."""
        return f"{self.status} {HTTPStatus(self.status).phrase}"


def respond(
    endpoint: StreamEndpoint,
    *,
    method: str,
    query_string: bytes | str,
    content_length: str | None,
    read: Callable[[int], bytes],
    request: Any,
    connection: socket.socket | None = None,
    path: str | None = None,
    last_event_id: str | None = None,
    below: bool = False,
) -> Answer:
    """Answer one request read on a thread: POST streams the run, HEAD the headers, anything
    else an error; with a store, also the requests about its runs (attach, status, stop: see
    :mod:`streambridge.transport.attach`).

    ``read(size)`` reads the request body (``b""`` at its end), within the options'
    ``body_timeout``; ``request`` becomes ``controller.request``; ``connection`` is the
    client's socket, if the server exposes it (it bounds each read of the body, and shows a
    client that left mid-stream).
    ``path`` is the request's path, where the runs' routes are matched (``None``: it is never
    one of them), ``last_event_id`` its ``Last-Event-ID`` header, and ``below=True`` when the
    framework routed it here from below the view's own path (see
    :meth:`~streambridge.transport.StreamEndpoint.run_request`).
    """
    head = method == "HEAD"
    try:
        run_request = None if path is None else endpoint.run_request(method, path, below=below)
        if run_request is not None:
            answer = partial(
                endpoint.answer,
                run_request,
                query_string=query_string,
                last_event_id=last_event_id,
                request=request,
                # An attached reader is watched as a run's is: keepalives every half heartbeat
                # where the client's socket is not watched.
                heartbeat=thread_heartbeat(endpoint.options, connection),
            )
            source = call_in_loop(answer)
            if isinstance(source, Reply):
                return _reply_answer(source, head)
        else:
            protocol, run_input = read_request_blocking(
                endpoint.options,
                method=method,
                query_string=query_string,
                content_length=content_length,
                read=read,
                closing=endpoint.streams.closing,
                connection=connection,
            )
            if run_input is None:
                return Answer(200, stream_headers(protocol), [], streams=True)
            if endpoint.options.store is None:
                # Opened in the loop at the first next(), where the run starts anyway.
                stream = BlockingStream(
                    endpoint, protocol, run_input, request, connection=connection
                )
                return Answer(200, stream_headers(protocol), stream, streams=True)
            # A kept run starts now (a run id taken by a finished run is a 409), and the
            # response carries its id.
            heartbeat = thread_heartbeat(endpoint.options, connection)
            source = call_in_loop(
                partial(endpoint.open, protocol, run_input, request, heartbeat=heartbeat)
            )
    except HTTPError as error:
        return _reply_answer(error.reply(), head)
    stream = BlockingStream.of(endpoint, source, connection=connection)
    if head:
        stream.close()
        return Answer(200, endpoint.stream_headers(source), [], streams=True)
    return Answer(200, endpoint.stream_headers(source), stream, streams=True)


def _reply_answer(reply: Reply, head: bool) -> Answer:
    return Answer(reply.status, reply.headers(), [] if head else [reply.body()])


def serve_wsgi(
    endpoint: StreamEndpoint,
    environ: Environ,
    start_response: StartResponse,
    *,
    request: Any = None,
) -> Iterable[bytes]:
    """Answer one WSGI request (see :func:`respond`); ``request`` becomes ``controller.request``
    (default: the environ)."""
    try:
        answer = respond(
            endpoint,
            method=environ["REQUEST_METHOD"],
            query_string=environ.get("QUERY_STRING", ""),
            content_length=environ.get("CONTENT_LENGTH") or None,
            read=wsgi_input(environ),
            request=environ if request is None else request,
            connection=wsgi_socket(environ),
            path=environ.get("PATH_INFO") or "/",
            last_event_id=environ.get("HTTP_LAST_EVENT_ID"),
        )
    except ClientDisconnected:
        raise cut_connection("the client went away while sending its request") from None
    start_response(answer.status_line, answer.headers)
    return answer.body


def wsgi_input(environ: Environ) -> Callable[[int], bytes]:
    """``read(size)`` over the request body, as WSGI servers frame it: ``CONTENT_LENGTH``
    bytes, or the whole input where the server ends it (``wsgi.input_terminated``, a chunked
    body), else no body.  A body that ends short raises
    :class:`~streambridge.transport.ClientDisconnected`."""
    stream: BinaryIO = environ["wsgi.input"]
    length = (environ.get("CONTENT_LENGTH") or "").strip()
    if length.isdigit():
        return _LengthReader(stream, int(length)).read
    if environ.get("wsgi.input_terminated"):
        return stream.read
    return _no_body


def wsgi_socket(environ: Environ) -> socket.socket | None:
    """The client's socket, where the server puts it in the environ (gunicorn, werkzeug)."""
    for key in _SOCKET_KEYS:
        found = environ.get(key)
        if isinstance(found, socket.socket):
            return found
    return None


def end_streams(endpoint: StreamEndpoint, timeout: float | None = None) -> None:
    """End ``endpoint``'s open streams cleanly from a thread, waiting at most ``timeout``."""

    async def end() -> None:
        with anyio.move_on_after(timeout):
            await endpoint.shutdown()

    shared_portal().call(end)


def shutdown() -> None:
    """Stop the event loop the WSGI hosts share: streams still open are cut and their runs
    cancelled (their ``finally`` blocks run); the next request starts the loop again.  To end
    streams cleanly first, call each app's ``shutdown()``.  (At interpreter exit the loop ends
    its open streams cleanly, for a few seconds at most, before it stops this way.  The thread
    that holds request bodies to ``body_timeout`` ends too, and starts again with the next
    body.)"""
    stop_shared_portal()
    stop_body_watcher()


def _no_body(size: int) -> bytes:
    return b""


class _LengthReader:
    def __init__(self, stream: BinaryIO, length: int) -> None:
        self._stream = stream
        self._left = length

    def read(self, size: int) -> bytes:
        if self._left <= 0:
            return b""
        data = self._stream.read(min(size, self._left))
        if not data:
            raise ClientDisconnected
        self._left -= len(data)
        return data
