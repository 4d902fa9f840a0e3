"""``EventLoopThread``: one event loop on its own thread, for hosts whose requests run on threads.

A WSGI server calls the app on a thread of its own, with no event loop, and the run is async.
Rather than an event loop per request (a thread and a loop start for every request, and nothing
shared between them), every WSGI host of a process shares one loop: :func:`shared_portal` starts
it at the first request and hands out an anyio :class:`~anyio.from_thread.BlockingPortal` into it.

It stops cleanly: at interpreter exit, before Python waits for the server's threads (which may
be waiting on the loop), the streams still open are asked to end with their protocol's end
(:func:`.signals.end_all_streams`, for a few seconds at most), then :func:`stop_shared_portal`
cancels what still runs there, so every run's ``finally`` blocks run, and ends the thread.  A
process forked from one that had started the loop (a pre-forking server) starts its own at its
first request.
"""

from __future__ import annotations

import atexit
import concurrent.futures.thread  # noqa: F401  (registers its exit hook before ours: see below)
import contextlib
import os
import threading
from contextlib import AbstractContextManager
from typing import Any

from anyio.from_thread import BlockingPortal, start_blocking_portal

from .signals import end_all_streams

__all__ = ["EventLoopThread", "shared_portal", "stop_shared_portal"]


class EventLoopThread:
    """An event loop on a daemon thread, started at the first :meth:`portal` call."""

    def __init__(self, backend: str = "asyncio", backend_options: dict[str, Any] | None = None):
        self.backend = backend
        self.backend_options = backend_options
        self._lock = threading.Lock()
        self._context: AbstractContextManager[BlockingPortal] | None = None
        self._portal: BlockingPortal | None = None
        self._pid = 0

    @property
    def running(self) -> bool:
        return self._portal is not None and self._pid == os.getpid()

    def portal(self) -> BlockingPortal:
        """The portal into the loop, starting the loop if it is not running."""
        portal = self._portal
        if portal is not None and self._pid == os.getpid():
            return portal
        with self._lock:
            if self._pid != os.getpid() and self._context is not None:
                # A forked child: the parent's loop thread did not come along.  Its context
                # must never be exited here (that would wait on the absent thread forever).
                _FORKED_AWAY.append(self._context)
                self._context = self._portal = None
            if self._portal is None:
                context = start_blocking_portal(self.backend, self.backend_options)
                self._portal = context.__enter__()
                self._context = context
                self._pid = os.getpid()
                _stop_before_threads_are_joined(self._stop_at_exit)
            return self._portal

    def stop(self) -> None:
        """Cancel whatever still runs in the loop, wait for it to stop, end the thread.

        The next :meth:`portal` call starts a new loop.
        """
        with self._lock:
            portal, context = self._portal, self._context
            self._portal = self._context = None
            if portal is None or context is None or self._pid != os.getpid():
                return
            # Cancelled, each stream still closes its run under a shield: the runs' finally
            # blocks run before the loop ends.
            with contextlib.suppress(RuntimeError):  # the loop has ended already
                portal.call(portal.stop, True)
            context.__exit__(None, None, None)

    def _stop_at_exit(self) -> None:
        # Streams still open end cleanly first (the protocol's error event and end), as on a
        # signal: a server that exits on Ctrl+C (werkzeug) or after its own graceful wait
        # leaves them to this hook.  Then whatever is left is cancelled.
        if self.running:
            end_all_streams()
        self.stop()


_FORKED_AWAY: list[AbstractContextManager[BlockingPortal]] = []
_SHARED = EventLoopThread()


def shared_portal() -> BlockingPortal:
    """The portal into the event loop every WSGI host of this process shares."""
    return _SHARED.portal()


def stop_shared_portal() -> None:
    """Stop the shared event loop: open streams are cut, their runs cancelled (their ``finally``
    blocks run).  The next request starts it again."""
    _SHARED.stop()


def _stop_before_threads_are_joined(stop: Any) -> None:
    """Call ``stop`` at interpreter exit, before Python waits for the server's threads.

    Python joins non-daemon threads (a WSGI server's request threads, a thread pool's workers)
    before it runs atexit hooks, and a request thread may be waiting on the loop: the loop must
    stop first.  ``threading._register_atexit`` is the hook concurrent.futures uses for its own
    pools; its hooks run last-registered first, and the pools' hook is registered already (the
    module is imported above), so this one runs before the pools are joined.
    """
    register = getattr(threading, "_register_atexit", atexit.register)
    with contextlib.suppress(RuntimeError):  # the interpreter is already shutting down
        register(stop)
