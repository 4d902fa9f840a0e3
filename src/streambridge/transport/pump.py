"""``pump``: move an encoded stream to a client, and stop its run the moment nobody listens.

Each item of the stream is everything the run had ready, so each is written in one send: a burst
goes out in one write, a lone token at once, and nothing waits to be coalesced.  Writing races
three ways to stop, whichever comes first:

- the client goes away (the host's disconnect signal, e.g. ASGI ``http.disconnect``);
- a send fails (``OSError``: the socket is gone) or does not finish within ``send_timeout``
  (the client stopped reading: waiting longer would hold the run and its memory);
- the host shuts down: the protocol's error event and end are sent, so the client sees a clean
  end, not a cut.

However it ends, even by a cancellation from outside (a server cancelling the request task), the
stream is closed under a shield: the run is cancelled after its grace and its ``finally`` blocks
run before ``pump`` returns or re-raises.

An open stream is mostly idle, and a server holds thousands, so the race costs a small
:class:`~.interrupt.Interruptible`, a bare task watching the client and a callback on the shutdown
signal: no task group, no event, no timer.  Sends are timed by the event loop's one
:mod:`~.watchdog`, so a stuck send is given up within 1.25 times ``send_timeout``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Awaitable, Callable

import anyio

from .._spawn import spawn_detached
from ..encoding import EncodedStream
from .errors import SHUTDOWN_MESSAGE
from .interrupt import Interruptible
from .shutdown import StopSignal
from .watchdog import unwatch, watch

__all__ = ["Deliver", "Ending", "pump"]

Deliver = Callable[[bytes], Awaitable[None]]
"""Writes one item to the client (one send); raises ``OSError`` when the client is gone."""


class Ending(enum.Enum):
    """Why a pumped stream stopped."""

    COMPLETE = "complete"
    """The run ended and the protocol's end was delivered."""
    CLIENT_GONE = "client-gone"
    """The client went away (or asked to stop): nothing more is sent."""
    SEND_FAILED = "send-failed"
    """A send raised ``OSError`` or timed out: the connection is no longer usable."""
    SHUTDOWN = "shutdown"
    """The host is shutting down: the protocol's error and end were delivered."""


async def pump(
    body: EncodedStream,
    deliver: Deliver,
    *,
    client_gone: Awaitable[object],
    shutdown: StopSignal,
    send_timeout: float | None,
    opening: Callable[[], Awaitable[object]] | None = None,
) -> Ending:
    """Deliver ``body`` until it ends or one of the ways to stop comes first (see the module).

    ``client_gone`` completes when the client has gone (a coroutine: the pump awaits it in a
    task of its own).  ``opening`` is sent first, with the same timeout and the same ways to
    stop (an HTTP host's response start).
    """
    race = _Race(send_timeout, opening)
    del opening  # sent once: the race lets go of it then, and an open stream holds no copy
    stop_watching = spawn_detached(_watch_client(client_gone, race))
    shutdown.on_set(race.shut_down)
    if send_timeout is not None:
        watch(race)
    try:
        ending = await _deliver_all(body, deliver, race)
        if ending is Ending.SHUTDOWN:
            tail = await body.close_with_error(SHUTDOWN_MESSAGE)
            if tail and not await _send(deliver, tail, send_timeout):
                return Ending.SEND_FAILED
        return ending
    finally:
        unwatch(race)
        shutdown.forget(race.shut_down)
        stop_watching()
        with anyio.CancelScope(shield=True):
            await body.aclose()


class _Race:
    """The first way to stop wins: it sets ``ending`` and interrupts the delivery."""

    __slots__ = ("block", "ending", "opening", "send_started", "send_timeout")

    def __init__(
        self, send_timeout: float | None, opening: Callable[[], Awaitable[object]] | None
    ) -> None:
        self.ending: Ending | None = None
        self.opening = opening
        self.block = Interruptible()
        self.send_started: float | None = None
        self.send_timeout = math.inf if send_timeout is None else send_timeout

    def stop(self, ending: Ending) -> None:
        if self.ending is None:
            self.ending = ending
            self.block.interrupt()

    def shut_down(self) -> None:
        self.stop(Ending.SHUTDOWN)

    def time_out(self) -> None:
        self.stop(Ending.SEND_FAILED)


async def _watch_client(client_gone: Awaitable[object], race: _Race) -> None:
    try:  # noqa: SIM105 (a try costs nothing while it waits; suppress() would be an object)
        await client_gone
    except Exception:
        # Not hearing from the client means nobody listens any more.  Nothing may escape
        # either: a trio system task that raises ends the whole event loop.
        pass
    race.stop(Ending.CLIENT_GONE)


async def _deliver_all(body: EncodedStream, deliver: Deliver, race: _Race) -> Ending:
    current_time = anyio.current_time
    async with race.block:
        try:
            if race.opening is not None:  # read from the race: no local keeps it afterwards
                race.send_started = current_time()
                await race.opening()
                race.opening = race.send_started = None
            async for data in body:
                race.send_started = current_time()  # all the watchdog needs of a send
                await deliver(data)
                race.send_started = None
        except OSError:
            return Ending.SEND_FAILED
        return Ending.COMPLETE
    assert race.ending is not None  # only the race interrupts the block
    return race.ending


async def _send(deliver: Deliver, data: bytes, seconds: float | None) -> bool:
    """One send; ``False`` when the client is gone or did not take it within ``seconds``."""
    try:
        with anyio.fail_after(seconds):
            await deliver(data)
    except OSError:  # TimeoutError is an OSError too
        return False
    return True
