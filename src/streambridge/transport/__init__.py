"""Serving a run, independent of any web framework: what every host shares.

A host (the ASGI app, a framework adapter, the WSGI app) only translates its framework's request
and response objects; everything it decides lives here, one idea per module:

``options``   :class:`StreamOptions`, the options every host takes, checked at startup
``request``   from method, ``?protocol=`` and body to a protocol and a ``RunInput``, or an error
``errors``    :class:`HTTPError` and its JSON ``{"error": {"message": ...}}`` body
``headers``   the headers of a stream response and of an error response
``endpoint``  :class:`StreamEndpoint`, a run served with one set of options, and
              :class:`StreamHost`, the base of every host class (its options, as keywords)
``pump``      the streaming loop: one send per ready batch, raced against disconnect, send
              failure, the send timeout and shutdown; ``push``, the same for ASGI HTTP, where
              the request's task waits for the client and short tasks write
``interrupt`` :class:`~.interrupt.Interruptible`, the block the pump's stops cancel
``watchdog``  one task per event loop that gives up sends slower than their timeout
``pull``      the same loop for a framework that pulls the response body (iterates it)
``shutdown``  :class:`OpenStreams` and each stream's :class:`~.shutdown.StopSignal`, ending every
              open stream cleanly on shutdown
``events``    cutting a protocol's bytes into single events, by its framing
``envelope``  the WebSocket envelope frames (AI SDK WebSocket chat transport)
``session``   one WebSocket connection serving envelope frames
``portal``    :class:`EventLoopThread`: the one event loop the WSGI hosts of a process share
``blocking``  :class:`BlockingStream`: a run's bytes for a request thread (WSGI), cancelled by
              a failed write or a closed socket
"""

from __future__ import annotations

from .blocking import BlockingStream, cut_connection
from .endpoint import StreamEndpoint, StreamHost
from .envelope import chunk_event
from .errors import SHUTDOWN_MESSAGE, ClientDisconnected, HTTPError
from .events import Event, EventSplitter, event_text
from .headers import error_headers, stream_headers
from .options import StreamOptions
from .portal import EventLoopThread, shared_portal, stop_shared_portal
from .pull import pull
from .pump import Ending, pump, push
from .request import (
    ALLOWED_METHODS,
    check_content_length,
    check_method,
    decode_json,
    parse_input,
    protocol_from_query,
    read_limited,
    read_limited_blocking,
    read_request_blocking,
    select_protocol,
)
from .session import (
    TRY_AGAIN_LATER,
    SessionEnd,
    WebSocketChannel,
    close_session,
    serve_session,
)
from .shutdown import OpenStreams

__all__ = [
    "ALLOWED_METHODS",
    "SHUTDOWN_MESSAGE",
    "TRY_AGAIN_LATER",
    "BlockingStream",
    "ClientDisconnected",
    "Ending",
    "Event",
    "EventLoopThread",
    "EventSplitter",
    "HTTPError",
    "OpenStreams",
    "SessionEnd",
    "StreamEndpoint",
    "StreamHost",
    "StreamOptions",
    "WebSocketChannel",
    "check_content_length",
    "check_method",
    "chunk_event",
    "close_session",
    "cut_connection",
    "decode_json",
    "error_headers",
    "event_text",
    "parse_input",
    "protocol_from_query",
    "pull",
    "pump",
    "push",
    "read_limited",
    "read_limited_blocking",
    "read_request_blocking",
    "select_protocol",
    "serve_session",
    "shared_portal",
    "stop_shared_portal",
    "stream_headers",
]
