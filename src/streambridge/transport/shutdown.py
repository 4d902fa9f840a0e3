"""``OpenStreams``: the streams a host is serving, so a shutdown can end each one cleanly.

Servers wait for open responses before they shut an app down (uvicorn, hypercorn), and a chat
stream may stay open for minutes.  ``shutdown()`` asks every open stream to end now: each sends
its protocol's error event and end, then its connection finishes normally.  New requests are
refused while the host is closing.

Each open stream holds a :class:`StopSignal`, which costs nothing until somebody waits on it: an
HTTP stream's delivery only registers a callback, and an ``anyio.Event`` is made for the rare
caller that waits.  Nothing is made when the host is built, so one host object serves
any event loop (asyncio or trio) it is called from.

A process that is asked to stop (SIGTERM) ends every host's open streams the same way, with
nothing wired (:mod:`.signals`): each stream remembers its event loop, so
:meth:`OpenStreams.stop_soon` can end it from a signal handler or another thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from types import TracebackType

import anyio

from .._wakeup import LazyEvent
from . import signals

__all__ = ["OpenStreams", "StopSignal"]


class StopSignal(LazyEvent):
    """Set once, when the host shuts down; ``with`` it to count as an open stream.

    Watch it with :meth:`on_set` (a callback, run at once if it is already set) or ``await``
    :meth:`wait`.  (A lazy event itself, not one it holds: an object less per open stream.)
    """

    __slots__ = ("_callbacks", "_schedule", "_streams")

    def __init__(self, streams: OpenStreams) -> None:
        super().__init__(streams.closing)
        self._streams = streams
        self._callbacks: list[Callable[[], object]] = []
        self._schedule: signals.Scheduler | None = None

    def set(self) -> None:
        if self._is_set:
            return
        super().set()
        for callback in self._callbacks:
            callback()

    def set_soon(self) -> signals.Scheduler | None:
        """:meth:`set`, from any thread or a signal handler: on the stream's own event loop
        (returned: how to run something else there)."""
        schedule = self._schedule
        if schedule is None:
            self.set()
            return None
        with contextlib.suppress(RuntimeError):  # the loop has ended (trio: RunFinishedError)
            schedule(self.set)
        return schedule

    def on_set(self, callback: Callable[[], object]) -> None:
        """Call ``callback()`` when the signal is set (now, if it is already)."""
        if self._is_set:
            callback()
        else:
            self._callbacks.append(callback)

    def forget(self, callback: Callable[[], object]) -> None:
        """Undo :meth:`on_set`."""
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def __enter__(self) -> StopSignal:
        self._schedule = signals.stream_opened()
        self._streams._open.add(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._streams._closed(self)


class OpenStreams:
    def __init__(self) -> None:
        self._open: set[StopSignal] = set()
        self._writing: set[object] = set()
        self._idle_waiters: list[anyio.Event] = []
        self.closing = False
        """True from ``shutdown()`` until the next ``reopen()``: new requests get a 503."""
        signals.watch(self)

    def __len__(self) -> int:
        return len(self._open)

    def track(self) -> StopSignal:
        """``with streams.track() as stop:`` registers one stream for as long as the block runs;
        ``stop`` is set to end it."""
        return StopSignal(self)

    def _closed(self, signal: StopSignal) -> None:
        self._open.discard(signal)
        if not self._open:
            for waiter in self._idle_waiters:
                waiter.set()
            self._idle_waiters.clear()

    def writing(self, response: object) -> None:
        """A server's thread writes ``response`` (a WSGI stream) until :meth:`written`: a
        signal waits for that too before the server hears of it, or the process could end
        between a stream's last bytes and their write."""
        self._writing.add(response)

    def written(self, response: object) -> None:
        self._writing.discard(response)

    def busy(self) -> bool:
        """Whether any stream is open, or still being written by a server's thread."""
        return bool(self._open or self._writing)

    def stop_soon(self) -> list[signals.Scheduler]:
        """What :meth:`shutdown` does, without waiting, from any thread or a signal handler:
        each open stream is ended on its own event loop.  Returns those loops' schedulers."""
        self.closing = True
        loops: list[signals.Scheduler] = []
        for signal in list(self._open):
            schedule = signal.set_soon()
            if schedule is not None and schedule not in loops:
                loops.append(schedule)
        return loops

    async def shutdown(self) -> None:
        """End every open stream cleanly and wait until they have ended; refuse new ones until
        :meth:`reopen`.  (To bound the wait, call it under ``anyio.move_on_after``: the streams
        still end, each within its send timeout.)"""
        self.closing = True
        for signal in list(self._open):
            signal.set()
        if not self._open:
            return
        idle = anyio.Event()
        self._idle_waiters.append(idle)
        await idle.wait()

    def reopen(self) -> None:
        """Accept streams again (a server starting the app anew, e.g. ``lifespan.startup``)."""
        self.closing = False
