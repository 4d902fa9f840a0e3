"""Ending open streams when the process is asked to stop, with nothing wired.

On SIGTERM (or Ctrl+C) each server stops its own way: uvicorn and hypercorn wait for open
responses, a gunicorn worker waits ``graceful_timeout`` and is then killed by its master,
werkzeug and hypercorn's trio worker die at once (SIGTERM's default action).  None of them tells
the app, and a chat stream may stay open for minutes: its client sees a cut, and where the
process dies or is killed, the run's ``finally`` blocks never run.

So the first host built, or the first stream served, in the main thread puts a relay in front of
the handler the process has for SIGTERM (and for SIGINT, where a server handles it).  On the
signal, the relay asks every host's open streams to end (each gets its protocol's error event and
end, on its own event loop, and its run is closed: its ``finally`` blocks run), waits until they
have ended, at most ``grace`` seconds, then hands the signal to the handler it replaced, in the
main thread: the server stops exactly as it would have, later only by the time the streams took
to end (milliseconds).  A signal that finds no stream open goes straight through, and so does a
second one while streams are ending (an impatient Ctrl+C).

The rules that keep it safe:

- it installs only from the main thread (Python's rule: a server's request thread cannot);
- never in front of itself, never where the signal is ignored or handled outside Python;
- SIGINT only where someone other than Python handles it: with Python's default
  (``KeyboardInterrupt``), asyncio's and trio's runners take SIGINT over themselves, safely,
  and a handler of ours would stop them doing so;
- the handler it replaced is called in the main thread, as the signal would have called it
  (``_thread.interrupt_main``); where that handler was the default action, the signal is raised
  again with the default in place.  If the server has put its own handler back meanwhile (it has
  stopped already), nothing is raised twice.

:func:`unwatch_signals` puts the replaced handlers back and stops installing; :func:`watch_signals`
installs now (from the main thread), for a process whose hosts are built elsewhere.  At
interpreter exit the WSGI hosts' shared loop ends its streams the same way before it stops
(:mod:`.portal`).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # (typeshed has no stub for it)
import _thread
import asyncio
import contextlib
import signal
import threading
import time
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol

from .._spawn import in_trio

__all__ = [
    "DEFAULT_GRACE",
    "end_all_streams",
    "loop_scheduler",
    "stream_opened",
    "unwatch_signals",
    "watch",
    "watch_signals",
]

DEFAULT_GRACE = 3.0
"""How long a signal waits for open streams to end before the server hears of it.  An ending
stream sends a few bytes and closes its run (its grace: 50 ms), so this is only ever used up by
a client that stopped reading, and it stays well inside what servers give (gunicorn's
``graceful_timeout`` is 30 s, ``docker stop`` waits 10 s)."""

Scheduler = Callable[[Callable[[], object]], object]
"""Runs a function soon on one event loop, from any thread or a signal handler."""


class Stoppable(Protocol):
    """What the relay stops: a host's open streams (:class:`~.shutdown.OpenStreams`)."""

    def stop_soon(self) -> list[Scheduler]: ...

    def busy(self) -> bool: ...


_LIVE: weakref.WeakSet[Stoppable] = weakref.WeakSet()
_RELAYS: dict[int, _Relay] = {}
_automatic = True
_grace = DEFAULT_GRACE
_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT") if hasattr(signal, name))


def watch(streams: Stoppable) -> None:
    """Count ``streams`` among those a signal ends; install the relay if this is the main
    thread."""
    _LIVE.add(streams)
    if _automatic:
        _install_from_main_thread()


def stream_opened() -> Scheduler | None:
    """Called as a stream opens, in its event loop: the way to end it from a signal (see
    :func:`loop_scheduler`), the relay installed again if the server replaced it meanwhile."""
    if _automatic:
        _install_from_main_thread()
    return loop_scheduler()


def loop_scheduler() -> Scheduler | None:
    """How to run a function on the current event loop from elsewhere (``None`` outside one)."""
    global _scheduler
    loop: Any
    if in_trio():
        import trio

        loop, method = trio.lowlevel.current_trio_token(), "run_sync_soon"
    else:
        try:
            loop, method = asyncio.get_running_loop(), "call_soon_threadsafe"
        except RuntimeError:
            return None
    # The last loop's, made once: every open stream holds its scheduler, and one of its own
    # would be one more object per stream for the garbage collector to visit.  (Read once: a
    # thread with a loop of its own may replace it meanwhile.)
    scheduler: Scheduler | None = _scheduler
    if scheduler is None or getattr(scheduler, "__self__", None) is not loop:
        scheduler = _scheduler = getattr(loop, method)
    return scheduler


_scheduler: Scheduler | None = None


def watch_signals(grace: float = DEFAULT_GRACE) -> bool:
    """End every open stream cleanly when the process gets SIGTERM (or SIGINT, where a server
    handles it), before the server's own handler runs; wait at most ``grace`` seconds for them.

    streambridge does this by itself when a host is built or serves in the main thread; call
    this from the main thread where that is not so (a gunicorn ``post_worker_init`` hook with
    ``--preload``, a Django project whose URLconf is first imported by a request), or to change
    ``grace``.  Returns whether SIGTERM is watched now (``False`` outside the main thread).
    """
    global _automatic, _grace
    if grace < 0:
        raise ValueError(f"grace must be >= 0, not {grace!r}")
    _automatic = True
    _grace = grace
    return _install_from_main_thread()


def unwatch_signals() -> None:
    """Put back the handlers :func:`watch_signals` replaced (from the main thread) and stop
    installing them: a process that handles its shutdown itself (``await app.shutdown()``)."""
    global _automatic
    _automatic = False
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("unwatch_signals() must be called from the main thread")
    for signum, relay in list(_RELAYS.items()):
        previous = relay.previous
        if signal.getsignal(signum) is relay:
            signal.signal(signum, previous)
        del _RELAYS[signum]


def end_all_streams(grace: float | None = None) -> bool:
    """Ask every host's open streams to end, from any thread that is not their loop's, and
    wait at most ``grace`` seconds (default: the watch's); ``True`` if they all ended."""
    _stop_all()
    return _wait_idle(_grace if grace is None else grace)


# -- in the main thread ----------------------------------------------------------------------


def _install_from_main_thread() -> bool:
    if threading.get_ident() != threading.main_thread().ident:
        return False
    installed = False
    for signum in _SIGNALS:
        # The raw handler: signal.getsignal() turns SIG_DFL and SIG_IGN into enum members, a
        # conversion that weighed on every stream's start (this runs at each).
        current = _signal.getsignal(signum)
        if isinstance(current, _Relay):  # ours already: never in front of itself
            installed = installed or signum == signal.SIGTERM
            continue
        if current is None or current == signal.SIG_IGN:
            continue  # handled outside Python, or ignored on purpose
        if signum == signal.SIGINT and current is signal.default_int_handler:
            continue  # Python's KeyboardInterrupt: event loops take it over themselves
        relay = _Relay(signum, current)
        try:
            signal.signal(signum, relay)
        except (ValueError, OSError):  # not this interpreter's to handle (a subinterpreter)
            continue
        _RELAYS[signum] = relay
        installed = installed or signum == signal.SIGTERM
    return installed


Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers


_SETTLE = 0.05
"""Seconds between the last stream's end and the signal reaching the server (see
``_Relay._pass_on_when_idle``)."""


class _Relay:
    """The handler in front of the process's own: ends the streams, then passes the signal on."""

    def __init__(self, signum: int, previous: Handler) -> None:
        self.signum = signum
        self.previous = previous
        self.ending = 0
        """Non-zero while streams end and the signal waits; which ending, so a late waiter of an
        earlier one does nothing."""

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if not self.ending and _any_busy():
            self.ending = ending = time.monotonic_ns()
            loops = _stop_all()
            # A raw thread: threading.Thread.start takes locks the interrupted code may hold.
            _thread.start_new_thread(self._pass_on_when_idle, (ending, loops))
            return
        self.ending = 0
        self._pass_on(signum, frame)

    def _pass_on_when_idle(self, ending: int, loops: list[Scheduler]) -> None:
        if _wait_idle(_grace):
            # A stream stops counting before the host's own last send: a framework that pulls
            # the body (Quart) sends the body's end after its last pull.  A server told now
            # could cut that send (seen on hypercorn's trio worker under load).
            time.sleep(_SETTLE)
        if self.ending == ending:
            # Runs this relay again, in the main thread, which passes the signal on; if the
            # process's handler is no longer ours (the server stopped and put its own back),
            # it does nothing, and no signal is raised twice.
            with contextlib.suppress(Exception):
                _thread.interrupt_main(signal.Signals(self.signum))
            # A handler runs when the main thread next runs Python code: an event loop there
            # that sleeps without a wakeup fd (asyncio's, unless it handles signals) is woken.
            for schedule in loops:
                with contextlib.suppress(Exception):
                    schedule(_nothing)

    def _pass_on(self, signum: int, frame: FrameType | None) -> None:
        previous = self.previous
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            # What the signal would have done with nobody handling it (SIGTERM: end the process).
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)


# -- from any thread or a signal handler: no locks ------------------------------------------------


def _live() -> list[Stoppable]:
    for _ in range(100):
        try:
            return list(_LIVE)
        except RuntimeError:  # the set changed size in another thread: read it again
            continue
    return []


def _any_busy() -> bool:
    return any(streams.busy() for streams in _live())


def _stop_all() -> list[Scheduler]:
    """Ask every open stream to end; the event loops they run on."""
    loops: list[Scheduler] = []
    for streams in _live():
        loops += streams.stop_soon()
    return loops


def _nothing() -> None:
    pass


def _wait_idle(grace: float) -> bool:
    deadline = time.monotonic() + grace
    while _any_busy():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)
    return True
