"""Responses that stream a run from inside a Starlette or FastAPI handler: assistant-stream's
idiom, ``return DataStreamResponse(create_run(run))``, where ``run`` closes over the request.

The handler has read the request already, so a response only sends: it hands the run to the
serving path every host uses (:func:`streambridge.asgi.send_stream`), which gives it the hosts'
guarantees: a client that goes away cancels the run at once, idle streams carry the protocol's
keepalive, a run's exception reaches the client as a generic error event, a write stuck longer
than ``send_timeout`` gives up the stream, and :func:`shutdown_responses` ends open streams
cleanly.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from streambridge import RunController, RunFunction, RunStream, create_run, encode
from streambridge.asgi import send_stream
from streambridge.chunks import Chunk
from streambridge.encoding import EncodedStream
from streambridge.run import check_run_function
from streambridge.transport import (
    DEFAULT_HEARTBEAT,
    DEFAULT_SEND_TIMEOUT,
    StreamOptions,
    stream_headers,
)
from streambridge.transport.shutdown import OpenStreams

__all__ = [
    "AssistantTransportResponse",
    "DataStreamResponse",
    "OpenAIStreamResponse",
    "RunResponse",
    "shutdown_responses",
]

Streamable = RunStream | RunFunction | AsyncIterable[Chunk]
"""What a response streams: a ``create_run`` stream, a run function, or any async iterable of
chunks (merged into a run with ``controller.add_stream``)."""

HeartbeatOption = float | bool | None
"""``True`` for the default interval, seconds, or ``False``/``None``/``0`` for none (as
assistant-stream's ``heartbeat=``)."""

_RESPONSES = OpenStreams()
"""The open streams of every response not given ``streams=``, for :func:`shutdown_responses`."""


class RunResponse(Response):
    """Stream ``stream`` in ``protocol`` as this response (see the module).

    ``stream`` is what ``streambridge.create_run(run)`` returns (the run starts when the response
    is sent), a run function (called with ``controller.request`` set to this request), or any
    async iterable of chunks.  ``heartbeat`` and ``send_timeout`` are the hosts' options;
    ``streams`` is the set of open streams a shutdown ends (default: the one
    :func:`shutdown_responses` ends).  Headers the handler sets on the response
    (``response.headers[...]``, ``set_cookie``) are sent after the protocol's own.  An unknown
    protocol or a bad option raises here, in the handler, with a message that names it.
    """

    def __init__(
        self,
        stream: Streamable,
        protocol: str = "data-stream",
        *,
        heartbeat: HeartbeatOption = True,
        send_timeout: float | None = DEFAULT_SEND_TIMEOUT,
        streams: OpenStreams | None = None,
    ) -> None:
        super().__init__()
        self.options = StreamOptions(
            protocol=protocol, heartbeat=_heartbeat_seconds(heartbeat), send_timeout=send_timeout
        )
        self.stream = _as_run(stream)
        self.streams = _RESPONSES if streams is None else streams

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = self.stream
        if not isinstance(stream, RunStream):  # a run function: it runs for this request
            stream = create_run(
                stream,
                request=Request(scope, receive, send),
                grace=self.options.grace,
                max_buffered=self.options.max_buffered,
                max_buffered_bytes=self.options.max_buffered_bytes,
                high_water=self.options.high_water,
            )
        body = encode(stream, self.options.protocol, heartbeat=self.options.heartbeat)
        await send_stream(
            body,
            receive,
            send,
            send_timeout=self.options.send_timeout,
            streams=self.streams,
            headers=self._response_headers(body),
        )

    def _response_headers(self, body: EncodedStream) -> list[tuple[bytes, bytes]]:
        """The stream's headers, then any the handler set on this response (a cookie, an id):
        not a length or a type, which are the stream's."""
        own = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in stream_headers(body.protocol)
        ]
        names = {name for name, _ in own} | {b"content-length"}
        return own + [(name, value) for name, value in self.raw_headers if name not in names]


class DataStreamResponse(RunResponse):
    """:class:`RunResponse` in ``data-stream``, assistant-ui's data stream (assistant-stream's
    ``DataStreamResponse``)."""

    def __init__(
        self,
        stream: Streamable,
        heartbeat: HeartbeatOption = True,
        *,
        send_timeout: float | None = DEFAULT_SEND_TIMEOUT,
        streams: OpenStreams | None = None,
    ) -> None:
        super().__init__(
            stream, "data-stream", heartbeat=heartbeat, send_timeout=send_timeout, streams=streams
        )


class AssistantTransportResponse(RunResponse):
    """:class:`RunResponse` in ``assistant-transport``, assistant-ui's assistant-transport SSE
    (assistant-stream's ``AssistantTransportResponse``)."""

    def __init__(
        self,
        stream: Streamable,
        heartbeat: HeartbeatOption = True,
        *,
        send_timeout: float | None = DEFAULT_SEND_TIMEOUT,
        streams: OpenStreams | None = None,
    ) -> None:
        super().__init__(
            stream,
            "assistant-transport",
            heartbeat=heartbeat,
            send_timeout=send_timeout,
            streams=streams,
        )


class OpenAIStreamResponse(RunResponse):
    """:class:`RunResponse` in ``openai-chat``, OpenAI's ``chat.completion.chunk`` SSE
    (assistant-stream's ``OpenAIStreamResponse``, which sends only the text)."""

    def __init__(
        self,
        stream: Streamable,
        heartbeat: HeartbeatOption = True,
        *,
        send_timeout: float | None = DEFAULT_SEND_TIMEOUT,
        streams: OpenStreams | None = None,
    ) -> None:
        super().__init__(
            stream, "openai-chat", heartbeat=heartbeat, send_timeout=send_timeout, streams=streams
        )


async def shutdown_responses() -> None:
    """End every open response stream cleanly (the protocol's error event and end) and wait
    for them; call it from the app's lifespan shutdown.  Responses sent after it still stream:
    a handler that returns one has accepted the request already."""
    await _RESPONSES.shutdown()
    _RESPONSES.reopen()


def _heartbeat_seconds(heartbeat: HeartbeatOption) -> float | None:
    if heartbeat is True:
        return DEFAULT_HEARTBEAT
    if heartbeat is False or heartbeat is None or heartbeat == 0:
        return None
    return heartbeat


def _as_run(stream: object) -> RunStream | RunFunction:
    if isinstance(stream, RunStream):
        return stream
    if callable(stream):
        check_run_function(stream)
        return stream
    if isinstance(stream, AsyncIterable):
        return _merging(stream)
    raise TypeError(
        "a response streams a create_run() stream, a run function or an async iterable of "
        f"chunks, got {stream!r}"
    )


def _merging(chunks: AsyncIterable[Chunk]) -> Callable[[RunController], Any]:
    """A run made of ``chunks`` alone, so they get a run's checks, order and cancellation."""

    async def run(controller: RunController) -> None:
        controller.add_stream(chunks)

    return run
