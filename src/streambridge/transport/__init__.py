"""Serving a run, independent of any web framework: the names a host or an adapter uses.

A host only translates its framework's request and response objects; everything it decides lives
here.  How a request flows through these pieces is in the architecture page of the docs
(``docs/architecture.md``); the modules below this package are private, and may change.

Reading a request: :class:`StreamEndpoint` (a run with its :class:`StreamOptions`, whose
defaults are the ``DEFAULT_*`` constants;
:class:`StreamHost` is the base of every host class), whose ``respond()`` answers a request with
a stream, a :class:`Reply` or a :class:`StreamHead`; :func:`read_request_blocking` for a host
that reads on a thread, :func:`protocol_from_query`, and :class:`HTTPError` /
:class:`ClientDisconnected` for the answers that are not a stream (:func:`error_headers`).

Delivering a stream: :func:`stream_headers`, then a :class:`Driver` (what the ASGI hosts use),
:func:`pull` (:func:`pull_stream`) for a framework that pulls its response body,
:class:`BlockingStream` for a WSGI thread (in the event loop of :func:`shared_portal`;
:func:`call_in_loop` to await the endpoint from there), or :func:`serve_session` and
:func:`close_session` for a WebSocket.  :data:`SHUTDOWN_MESSAGE` is what a client sees when the
host ends its stream for a shutdown; :data:`TRY_AGAIN_LATER` closes a refused handshake.
"""

from __future__ import annotations

from .attach import RunRequest
from .blocking import BlockingStream, call_in_loop, thread_heartbeat
from .delivery import Ending
from .driver import Driver
from .endpoint import RUN_PATH_PARAM, StreamEndpoint, StreamHead, StreamHost
from .envelope import chunk_event
from .errors import SHUTDOWN_MESSAGE, ClientDisconnected, HTTPError, Reply
from .headers import RUN_ID_HEADER, error_headers, stream_headers
from .options import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEARTBEAT,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_PROTOCOL,
    DEFAULT_SEND_TIMEOUT,
    StreamOptions,
)
from .portal import EventLoopThread, shared_portal
from .pull import pull, pull_stream
from .request import protocol_from_query, read_request_blocking
from .session import TRY_AGAIN_LATER, SessionEnd, WebSocketChannel, close_session, serve_session

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_HEARTBEAT",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_PROTOCOL",
    "DEFAULT_SEND_TIMEOUT",
    "RUN_ID_HEADER",
    "RUN_PATH_PARAM",
    "SHUTDOWN_MESSAGE",
    "TRY_AGAIN_LATER",
    "BlockingStream",
    "ClientDisconnected",
    "Driver",
    "Ending",
    "EventLoopThread",
    "HTTPError",
    "Reply",
    "RunRequest",
    "SessionEnd",
    "StreamEndpoint",
    "StreamHead",
    "StreamHost",
    "StreamOptions",
    "WebSocketChannel",
    "call_in_loop",
    "chunk_event",
    "close_session",
    "error_headers",
    "protocol_from_query",
    "pull",
    "pull_stream",
    "read_request_blocking",
    "serve_session",
    "shared_portal",
    "stream_headers",
    "thread_heartbeat",
]
