"""``BodyDeadline``: a request body read on a thread gets ``body_timeout`` seconds, not forever.

A WSGI server serves each request on one of a few threads, and a request holds its thread while
its body is read: twenty clients that trickle their bodies a byte at a time hold twenty threads,
and every other request waits.  A deadline frees the thread: a body not read whole within
``body_timeout`` seconds of its first read is answered 408.

Where the server exposes the client's socket (gunicorn, werkzeug), the deadline holds during a
read too:

- at the deadline, one watcher thread per process shuts the socket's reading side.  The read in
  progress ends at once, as if the client had stopped sending, and so does any read the server
  makes after the 408, so it closes the connection instead of reading the rest of the body as
  the next request.  A socket timeout alone cannot do this: a server's ``read(n)`` loops over as
  many ``recv()`` calls as it takes to get ``n`` bytes, and a trickling client answers each of
  them in time.
- while the body is read, the socket also has a timeout (what is left of the deadline, and a
  little more, so the watcher comes first): where shutting a socket's reading side does not end
  a read (not so on Linux or macOS), a client that sends nothing at all is still answered.  The
  socket's own timeout is put back afterwards.

Where the server exposes no socket, the deadline is checked between reads only, and the server's
own timeout bounds each read (a ``TimeoutError`` from one is a 408 too).
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

from .errors import HTTPError

__all__ = ["BodyDeadline", "DeadlineWatcher", "stop_body_watcher"]

SOCKET_TIMEOUT_MARGIN = 0.5
"""Seconds the socket's timeout runs past the deadline, so the watcher, which ends the read
cleanly (the server sees the end of its input), comes first.  A read that times out leaves some
servers' socket files unusable (werkzeug's), and their next read then raises."""


class _Watch:
    """One socket to cut at its deadline, unless the body is read whole first."""

    __slots__ = ("connection", "deadline", "fired")

    def __init__(self, connection: socket.socket, deadline: float) -> None:
        self.connection = connection
        self.deadline = deadline
        self.fired = False


class DeadlineWatcher:
    """A thread that shuts the reading side of each socket whose deadline has passed.

    It watches only the bodies being read at the moment, at most one per request thread, so a
    scan of them is as cheap as a heap, and arming or disarming one is a dictionary update.
    The thread starts with the first deadline and then stays, as the server's threads do;
    :meth:`stop` ends it.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._wake = threading.Condition()
        self._armed: dict[int, _Watch] = {}
        self._next = math.inf
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def arm(self, connection: socket.socket, deadline: float) -> _Watch:
        """Cut ``connection``'s reading side at ``deadline`` (``time.monotonic()``)."""
        watch = _Watch(connection, deadline)
        with self._wake:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="streambridge-body-deadline", daemon=True
                )
                self._thread.start()
            self._armed[id(watch)] = watch
            # Deadlines mostly come in the order they are armed: the thread, asleep until an
            # earlier one, needs waking only when it had none, or this one is earlier.
            if deadline < self._next:
                self._next = deadline
                self._wake.notify()
        return watch

    def disarm(self, watch: _Watch) -> bool:
        """Stop watching; ``False`` if the deadline came first (the socket has been cut)."""
        with self._wake:
            self._armed.pop(id(watch), None)
            return not watch.fired

    def stop(self) -> None:
        """End the thread (a later :meth:`arm` starts another); what it watched is left alone."""
        with self._wake:
            thread, self._thread = self._thread, None
            self._wake.notify()
        if thread is not None:
            thread.join()

    def _serve(self) -> None:
        me = threading.current_thread()
        with self._wake:
            while self._thread is me:
                now = time.monotonic()
                for watch in [w for w in self._armed.values() if w.deadline <= now]:
                    del self._armed[id(watch)]
                    watch.fired = True  # before the cut: the reader wakes to see it
                    cut_reading(watch.connection)
                self._next = min((w.deadline for w in self._armed.values()), default=math.inf)
                self._wake.wait(None if self._next == math.inf else self._next - now)


def cut_reading(connection: socket.socket) -> None:
    """Shut ``connection``'s reading side: a read in progress, and every later one, gets the
    end of the input (the socket may already be closed)."""
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RD)


_WATCHER = DeadlineWatcher()
if hasattr(os, "register_at_fork"):
    # A forked child (a pre-forking server's worker) has no watcher thread, and the lock may
    # have been held at the fork: it starts afresh.
    os.register_at_fork(after_in_child=_WATCHER._reset)


def stop_body_watcher() -> None:
    """End the shared watcher's thread (the next body to watch starts it again)."""
    _WATCHER.stop()


class BodyDeadline:
    """The deadline of one request body read on a thread, ``timeout`` seconds from now.

    ::

        with BodyDeadline(timeout, connection) as deadline:
            while data := deadline.read(stream.read, 65536): ...

    :meth:`read` raises an :class:`HTTPError` 408 once the deadline has passed, whatever the
    read did; so does leaving the block if the deadline passed just as the body was read whole
    (the socket has been cut by then).  ``connection`` is the client's socket where the server
    exposes it (see the module's docstring for what it is used for).
    """

    def __init__(
        self,
        timeout: float,
        connection: socket.socket | None = None,
        *,
        watcher: DeadlineWatcher | None = None,
    ) -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self._watcher = watcher or _WATCHER
        # A TLS socket's reads go through its TLS state, which a cut from another thread
        # would tear out from under them: it gets the timeout only.
        usable = isinstance(connection, socket.socket) and connection.fileno() >= 0
        self._socket = connection if usable else None
        self._cuttable = usable and type(connection) is socket.socket
        self._previous: float | None = None
        self._watch: _Watch | None = None
        self._expired = False

    def __enter__(self) -> BodyDeadline:
        if self._socket is not None:
            self._previous = self._socket.gettimeout()
            if self._cuttable:
                self._watch = self._watcher.arm(self._socket, self.deadline)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._watch is not None and not self._watcher.disarm(self._watch):
            self._expired = True
        if self._socket is not None:
            if self._expired:
                # The body was given up half read: the server must not read on from there.
                cut_reading(self._socket)
            with contextlib.suppress(OSError):  # the server has closed it
                self._socket.settimeout(self._previous)
        if self._expired and kind is None:
            raise self.error()

    def read(self, read: Callable[[int], bytes], size: int) -> bytes:
        """``read(size)`` within the deadline."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0 or self._fired():
            raise self._expire()
        if self._socket is not None:
            self._socket.settimeout(remaining + SOCKET_TIMEOUT_MARGIN)
        try:
            data = read(size)
        except TimeoutError:  # the socket's timeout, or the server's own
            raise self._expire() from None
        except Exception:
            # Cut, the server's reader may raise as for a client gone (werkzeug does).
            if self._fired():
                raise self._expire() from None
            raise
        if self._fired():  # a cut read returns short, as if the body had ended
            raise self._expire()
        return data

    def error(self) -> HTTPError:
        """The 408 a body that missed its deadline is answered with."""
        return HTTPError(
            408, f"the request body did not arrive within {self.timeout:g} s; send it whole"
        )

    def _fired(self) -> bool:
        return self._watch is not None and self._watch.fired

    def _expire(self) -> HTTPError:
        self._expired = True
        return self.error()
