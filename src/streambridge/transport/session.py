"""One WebSocket connection speaking the envelope: runs one after another, each cancellable.

The connection's reader takes client frames as they come, so an ``abort`` reaches the run while it
streams; the run's events go out as ``chunk`` frames through the same :class:`~.driver.Driver` an
HTTP response uses, so a vanished client, a client that stopped reading and a server shutdown end
a run here exactly as they do a response.  One run streams at a time: a ``send`` during a run is
refused with an ``error`` frame, which keeps memory per connection bounded by one run's.

The host owns the handshake and the socket; this module needs only a :class:`WebSocketChannel`,
and :func:`close_session` tells the host how to close the socket once a session has ended.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, Protocol

import anyio
from anyio.abc import TaskGroup

from ..encoding import EncodedStream
from ..runs import read_run
from .attach import admitted
from .delivery import Ending
from .driver import Driver
from .endpoint import StreamEndpoint
from .envelope import (
    Abort,
    EnvelopeError,
    Resume,
    Send,
    chunk_frame,
    end_frame,
    error_frame,
    no_active_frame,
    parse_client_frame,
    start_frame,
)
from .errors import HTTPError
from .events import EventSplitter
from .request import parse_input, select_protocol
from .shutdown import StopSignal

__all__ = ["TRY_AGAIN_LATER", "SessionEnd", "WebSocketChannel", "close_session", "serve_session"]

RESUME_UNSUPPORTED = (
    "resume needs a host that keeps its runs: build it with store=streambridge.MemoryStore()"
)

NORMAL_CLOSURE = 1000
GOING_AWAY = 1001
INTERNAL_ERROR = 1011
TRY_AGAIN_LATER = 1013
"""The close code of a handshake the host refuses because it is shutting down."""


class WebSocketChannel(Protocol):
    """An accepted WebSocket, as a host exposes it to the session."""

    async def receive(self) -> str | bytes | None:
        """The next message, or ``None`` once the client has gone."""

    async def send(self, text: str) -> None:
        """Send one text message; raises ``OSError`` when the client is gone."""


class SessionEnd(enum.Enum):
    """Why a session ended, which tells the host how to close the socket."""

    CLIENT_GONE = "client-gone"
    """The client closed the connection: nothing to close."""
    SHUTDOWN = "shutdown"
    """The host is shutting down: close with 1001 (going away)."""
    SEND_FAILED = "send-failed"
    """A send failed or timed out: close with 1011 if the socket still takes it."""


async def serve_session(
    channel: WebSocketChannel,
    endpoint: StreamEndpoint,
    request: Any,
    *,
    protocol: str | None = None,
) -> SessionEnd:
    """Serve envelope frames on an accepted socket until the client leaves or the host stops.

    ``protocol`` is the connection's default (e.g. its ``?protocol=``); a ``send`` frame's own
    ``protocol`` wins.  ``request`` becomes ``controller.request`` of every run.
    """
    with endpoint.streams.track() as stop:
        return await _Session(channel, endpoint, request, protocol, stop).serve()


async def close_session(
    ending: SessionEnd, close: Callable[[int], Awaitable[object]], send_timeout: float | None
) -> None:
    """Close the socket as ``ending`` asks, with ``close(code)``: nothing for a client that left,
    1001 (going away) for a shutdown, 1011 for a failed send, tried briefly since the client is
    not reading; 1000 where the server refuses those.  A client gone meanwhile is no error."""
    if ending is SessionEnd.SHUTDOWN:
        code, wait = GOING_AWAY, send_timeout
    elif ending is SessionEnd.SEND_FAILED:
        code, wait = INTERNAL_ERROR, min(1.0, send_timeout or 1.0)
    else:
        return
    with suppress(OSError), anyio.move_on_after(wait):
        try:
            await close(code)
        except OSError:
            raise
        except Exception:
            # A server that lets an application close with no code but 1000 (daphne's
            # autobahn refuses 1001 and 1011 with a plain Exception): the socket still closes.
            await close(NORMAL_CLOSURE)


class _Run:
    __slots__ = ("done", "driver", "request_id", "run_id")

    def __init__(self, request_id: str, driver: Driver, run_id: str | None) -> None:
        self.request_id = request_id
        self.driver = driver
        self.run_id = run_id  # the id to resume it by, where the host keeps its runs
        self.done = anyio.Event()


class _Session:
    def __init__(
        self,
        channel: WebSocketChannel,
        endpoint: StreamEndpoint,
        request: Any,
        protocol: str | None,
        stop: StopSignal,
    ) -> None:
        self._channel = channel
        self._endpoint = endpoint
        self._options = endpoint.options
        self._request = request
        self._protocol = protocol
        self._stop = stop
        self._lock = anyio.Lock()  # a run's frames and the reader's replies share one socket
        self._current: _Run | None = None
        self._ending: SessionEnd | None = None
        self._task_group: TaskGroup | None = None

    async def serve(self) -> SessionEnd:
        async with anyio.create_task_group() as task_group:
            self._task_group = task_group
            task_group.start_soon(self._end_on_shutdown)
            while self._ending is None:
                message = await self._channel.receive()
                if message is None:
                    self._end(SessionEnd.CLIENT_GONE)
                else:
                    await self._handle(message)
        assert self._ending is not None
        return self._ending

    def _end(self, ending: SessionEnd) -> None:
        if self._ending is None:
            self._ending = ending
        if self._task_group is not None:
            self._task_group.cancel_scope.cancel()

    async def _end_on_shutdown(self) -> None:
        await self._stop.wait()
        current = self._current
        if current is not None:
            await current.done.wait()  # its driver sends the protocol's error, end, then `end`
        self._end(SessionEnd.SHUTDOWN)

    # -- client frames -----------------------------------------------------------------------

    async def _handle(self, message: str | bytes) -> None:
        try:
            frame = parse_client_frame(message, self._options.max_body_bytes)
        except EnvelopeError as exc:
            await self._send(error_frame(exc.request_id, exc.message))
            return
        if isinstance(frame, Send):
            await self._start(frame)
        elif isinstance(frame, Abort):
            current = self._current
            if current is not None and frame.request_id in (None, current.request_id):
                current.driver.client_gone()
        elif isinstance(frame, Resume):
            await self._resume(frame)

    async def _start(self, frame: Send) -> None:
        if self._stop.is_set():
            await self._send(error_frame(frame.request_id, "the server is shutting down"))
            return
        if self._current is not None:
            message = (
                f"run {self._current.request_id!r} is still streaming on this connection: "
                "wait for its end frame or abort it first"
            )
            await self._send(error_frame(frame.request_id, message))
            return
        try:
            protocol = select_protocol(self._options, frame.protocol or self._protocol)
            run_input = parse_input(protocol, frame.body)
        except HTTPError as exc:
            await self._send(error_frame(frame.request_id, exc.message))
            return
        try:
            body = await self._endpoint.open(protocol, run_input, self._request, heartbeat=False)
        except HTTPError as exc:
            await self._send(error_frame(frame.request_id, exc.message))
            return
        self._deliver(frame.request_id, body)

    async def _resume(self, frame: Resume) -> None:
        """Reattach to a stored run: its frames after the client's last sequence."""
        if self._current is not None:
            message = f"run {self._current.request_id!r} is still streaming on this connection"
            await self._send(error_frame(frame.request_id, message))
            return
        store = self._options.store
        if store is None:
            await self._send(error_frame(frame.request_id, RESUME_UNSUPPORTED))
            return
        run_id = frame.run_id
        if run_id is None and frame.chat_id is not None:
            run_id = await store.active_run(frame.chat_id)
        record = None
        if run_id is not None:
            record = await admitted(store, self._options, run_id, self._request, "read")
        if record is None:
            await self._send(no_active_frame(frame.request_id))
            return
        try:
            protocol = select_protocol(self._options, frame.protocol or record.protocol)
        except HTTPError as exc:
            await self._send(error_frame(frame.request_id, exc.message))
            return
        body = await read_run(store, record, protocol, heartbeat=None)
        self._deliver(frame.request_id, body, after=frame.last_sequence)

    def _deliver(self, request_id: str, body: EncodedStream, *, after: int = -1) -> None:
        """Stream ``body`` as ``chunk`` frames in a task of its own; the frames up to sequence
        ``after`` are ones the client has, and are left out."""
        framing = body.protocol.framing
        splitter = EventSplitter(framing)
        sequence = 0

        async def deliver(data: bytes) -> None:
            nonlocal sequence
            for event in splitter.feed(data):
                chunk = chunk_frame(request_id, sequence, event, framing)
                if chunk is not None:
                    if sequence > after:
                        await self._send_now(chunk)
                    sequence += 1

        driver = Driver(body, deliver, send_timeout=self._options.send_timeout)
        kept = self._options.store is not None
        # Taken now: a second send is refused.
        run = self._current = _Run(request_id, driver, body.run_id if kept else None)
        assert self._task_group is not None
        self._task_group.start_soon(self._stream, run)

    # -- one run -----------------------------------------------------------------------------

    async def _stream(self, run: _Run) -> None:
        request_id = run.request_id
        try:
            if not await self._send(start_frame(request_id, run.run_id)):
                return
            ending = await run.driver.run(self._stop)
            if ending is Ending.SEND_FAILED:
                self._end(SessionEnd.SEND_FAILED)
                return
            # Free the connection before `end`: a client may send its next run as soon as it
            # reads it.
            self._current = None
            await self._send(end_frame(request_id))
        finally:
            if self._current is run:
                self._current = None
            run.done.set()

    # -- sending -----------------------------------------------------------------------------

    async def _send_now(self, text: str) -> None:
        async with self._lock:
            await self._channel.send(text)

    async def _send(self, text: str) -> bool:
        """Send a frame within the send timeout; on failure end the session and say so."""
        try:
            with anyio.fail_after(self._options.send_timeout):
                await self._send_now(text)
        except OSError:  # TimeoutError included
            self._end(SessionEnd.SEND_FAILED)
            return False
        return True
