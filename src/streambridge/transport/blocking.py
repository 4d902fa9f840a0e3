"""``BlockingStream``: a run's bytes for a thread outside the event loop (a WSGI server's).

The run streams in the shared event loop (:mod:`.portal`) exactly as on an ASGI host: one
:class:`~.driver.Driver` per stream moves each ready batch, heartbeats while idle, and stops the
run the moment nobody listens.  Its "send" hands the batch to the request thread, which iterates
this object, writes each item and comes back for the next: so a batch leaves as soon as it is
ready, a client that reads slowly holds the run back (the run's own buffer, bounded, absorbs the
rest), and a write that takes longer than ``send_timeout`` gives the run up.

WSGI has no disconnect event.  A client that left shows up as:

- where the server hands over its socket (``connection=``), the socket itself: the loop watches
  it while the run streams and an end of file there (the client closed its side) cancels the run
  at once, as an ASGI server's ``http.disconnect`` does;
- everywhere, a write that fails: the server stops iterating and calls
  :meth:`BlockingStream.close`, which cancels the run and returns once its ``finally`` blocks
  have run.  TCP takes the first write after the client closed its side (the client's side
  answers it with a reset), so it is the second write that fails.  Where the socket is not
  watched, keepalives therefore go out every half ``heartbeat`` while the run is idle, which
  puts that second write within one ``heartbeat`` of the client's leaving.

An item the thread gets after the stream was cut (the client is gone, the write timed out, the
loop was stopped) raises :class:`BrokenPipeError`, the error a server expects from a dead
connection: it drops the connection quietly instead of ending the response as if complete.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import CancelledError, Future
from typing import Any, TypeVar

import anyio
from anyio.abc import TaskStatus
from anyio.from_thread import BlockingPortal
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ..encoding import EncodedStream
from ..input import RunInput
from ..protocols import WireProtocol
from .delivery import Ending
from .driver import Driver
from .endpoint import StreamEndpoint
from .options import StreamOptions
from .portal import shared_portal

__all__ = ["BlockingStream", "call_in_loop", "cut_connection", "thread_heartbeat"]

logger = logging.getLogger("streambridge")

T = TypeVar("T")

_PEEK = socket.MSG_PEEK | getattr(socket, "MSG_DONTWAIT", 0)


def call_in_loop(fn: Callable[[], Awaitable[T]], *, portal: BlockingPortal | None = None) -> T:
    """Await ``fn()`` in the event loop (default: the shared one) from a thread and return what
    it returns (or raise what it raises), in the thread's context: a run it starts inherits the
    thread's context variables, as a :class:`BlockingStream`'s run does."""
    context = contextvars.copy_context()

    async def in_context() -> T:
        for variable, value in context.items():
            variable.set(value)
        return await fn()

    return (portal or shared_portal()).call(in_context)


def thread_heartbeat(options: StreamOptions, connection: socket.socket | None) -> bool | float:
    """The heartbeat of a stream served to a thread (``heartbeat=`` of
    :meth:`~.endpoint.StreamEndpoint.open`): the option's where the loop watches the client's
    socket, else half of it (see the module: the second write after a client left is the one
    that fails)."""
    every = options.heartbeat
    if _watchable(connection) or every is None:
        return True
    return every / 2


def cut_connection(reason: str) -> BrokenPipeError:
    """The exception that makes a WSGI server drop a connection without logging a traceback
    (gunicorn ignores ``EPIPE``, werkzeug and wsgiref any ``ConnectionError``)."""
    return BrokenPipeError(errno.EPIPE, reason)


class BlockingStream(Iterator[bytes]):
    """The bytes of one run, for a thread that is not the event loop's.

    Iterate it (each item is one batch, or a heartbeat) and call :meth:`close` when done, as
    WSGI servers do with a response iterable.  The run starts at the first ``next()``, in the
    context of the code that built this object (its ``contextvars``: a framework's request
    context, an active translation...), like a run on an ASGI host inherits its request task's.
    :meth:`of` serves a stream opened already instead (an attach, or a run a store keeps, whose
    id and status the response needs before its first byte).

    ``connection`` is the client's socket when the server exposes it (gunicorn's
    ``gunicorn.socket``, werkzeug's ``werkzeug.socket``): the loop then notices a client that
    closed its side without waiting for a write to fail.  ``portal`` is the event loop to run in
    (default: the one every WSGI host shares).
    """

    def __init__(
        self,
        endpoint: StreamEndpoint,
        protocol: WireProtocol,
        run_input: RunInput,
        request: Any,
        *,
        connection: socket.socket | None = None,
        portal: BlockingPortal | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._protocol = protocol
        self._input = run_input
        self._request = request
        self._body: EncodedStream | None = None
        self._connection = connection if _watchable(connection) else None
        self._portal = portal
        self._context = contextvars.copy_context()
        self._task: Future[None] | None = None
        self._receive: MemoryObjectReceiveStream[bytes] | None = None
        self._send: MemoryObjectSendStream[bytes] | None = None
        self._driver: Driver | None = None
        # Batches handed to the request thread, and how many of them it has written: it has
        # written all it was given when it comes back for the next (see _hand_over).
        self._given = self._written = 0
        self._progress: anyio.Event | None = None
        self._closed = False
        self.ending: Ending | None = None
        """Why the stream stopped (see :class:`~.delivery.Ending`), once it has."""

    @classmethod
    def of(
        cls,
        endpoint: StreamEndpoint,
        body: EncodedStream,
        *,
        connection: socket.socket | None = None,
        portal: BlockingPortal | None = None,
    ) -> BlockingStream:
        """Serve ``body``, a stream ``endpoint`` has opened in the loop already (see
        :func:`call_in_loop`; open it with :func:`thread_heartbeat`'s heartbeat).  Closing this
        object closes ``body``, even before any ``next()``."""
        stream = cls(
            endpoint, body.protocol, RunInput(), None, connection=connection, portal=portal
        )
        stream._body = body
        return stream

    def __iter__(self) -> BlockingStream:
        return self

    def __next__(self) -> bytes:
        if self._closed:
            raise StopIteration
        try:
            if self._task is None:
                self._start()
            data = self._call(self._take)
        except (RuntimeError, CancelledError):  # the loop was stopped (interpreter exit)
            self._closed = True
            raise cut_connection("the server is stopping") from None
        if data is not None:
            return data
        self._closed = True
        if self.ending in (Ending.COMPLETE, Ending.SHUTDOWN):
            raise StopIteration
        raise cut_connection("the stream was cut: the client went away or stopped reading")

    def close(self) -> None:
        """Stop the run if it is still going and return once it has ended (its ``finally``
        blocks have run).  Safe to call more than once, and before any ``next()``."""
        self._closed = True
        task = self._task
        if task is None:
            body, self._body = self._body, None
            if body is not None:  # opened, never served: its reader (or its run) ends here
                with contextlib.suppress(RuntimeError, CancelledError):
                    self._call(body.aclose)
            return
        try:
            if not task.done():
                with contextlib.suppress(RuntimeError):  # the loop has stopped: the task is over
                    self._call(self._leave)
            try:
                task.result()
            except CancelledError:
                pass  # the loop was stopped; the stream closed its run on the way out
            except Exception:
                logger.exception("a stream failed while it was served to a WSGI thread")
        finally:
            self._endpoint.streams.written(self)

    # -- in the request thread -------------------------------------------------------------------

    def _call(self, fn: Callable[[], Awaitable[T]]) -> T:
        portal = self._portal or shared_portal()
        return portal.call(fn)

    def _start(self) -> None:
        # Written by this thread until close(): a signal waits for that (see OpenStreams.writing).
        self._endpoint.streams.writing(self)
        portal = self._portal = self._portal or shared_portal()
        self._task, _ = portal.start_task(self._serve)

    # -- in the event loop -----------------------------------------------------------------------

    async def _serve(self, *, task_status: TaskStatus[None]) -> None:
        # The builder's context variables, in this task's own context, which the run's task
        # copies when the stream starts it.
        for variable, value in self._context.items():
            variable.set(value)
        endpoint = self._endpoint
        send, receive = anyio.create_memory_object_stream[bytes]()  # a hand-over, no buffer
        self._receive = receive
        body = self._body
        if body is None:
            heartbeat = thread_heartbeat(endpoint.options, self._connection)
            body = await endpoint.open_late(
                self._protocol, self._input, self._request, heartbeat=heartbeat
            )
        self._send = send
        driver = self._driver = Driver(
            body, self._hand_over, send_timeout=endpoint.options.send_timeout
        )
        with receive, endpoint.streams.track() as shutdown:
            task_status.started()
            async with send, anyio.create_task_group() as task_group:
                if self._connection is not None:
                    task_group.start_soon(_watch_socket, self._connection, driver)
                self.ending = await driver.run(shutdown)
                task_group.cancel_scope.cancel()

    async def _hand_over(self, data: bytes) -> None:
        """The driver's send: returns once the request thread has written ``data``, so the
        stream's byte budget counts a batch until it is out (it was released as soon as the
        thread took it, and a stalled client's thread held one more batch than the budget)."""
        assert self._send is not None
        await self._send.send(data)  # the thread has it
        self._given += 1
        while self._written < self._given:
            progress = self._progress = anyio.Event()
            await progress.wait()

    async def _take(self) -> bytes | None:
        assert self._receive is not None
        # The thread is back: what it was given is written.
        self._written = self._given
        if self._progress is not None:
            self._progress.set()
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return None

    async def _leave(self) -> None:
        assert self._driver is not None
        self._driver.client_gone()


# anyio >= 4.7; before it, the same under its older name.
_wait_readable = getattr(anyio, "wait_readable", None) or anyio.wait_socket_readable


def _watchable(connection: socket.socket | None) -> bool:
    # A TLS socket's bytes are records, not the client's: peeking at them says nothing.
    return type(connection) is socket.socket and connection.fileno() >= 0


async def _watch_socket(connection: socket.socket, driver: Driver) -> None:
    await _until_closed(connection)
    driver.client_gone()


async def _until_closed(connection: socket.socket) -> None:
    """Return when the client has closed its side of ``connection`` (or reset it).

    The request has been read whole, so the next thing on the socket is its end.  If the
    client sends something else instead (a pipelined request), this stops watching, and a
    failed write is again the only sign of a client that left.
    """
    while True:
        await _wait_readable(connection)
        try:
            data = connection.recv(1, _PEEK)
        except BlockingIOError:
            continue
        except OSError:  # reset by the peer
            return
        if not data:
            return
        await anyio.sleep_forever()
