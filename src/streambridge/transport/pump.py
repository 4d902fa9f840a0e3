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

An open stream is mostly idle, and a server holds thousands, so the race costs one cancel scope,
a bare task watching the client and a callback on the shutdown signal: no task group, no event.
The send timeout is the scope's own deadline, set around each send.
"""

from __future__ import annotations

import contextlib
import enum
import math
from collections.abc import Awaitable, Callable

import anyio

from .._spawn import spawn_detached
from ..encoding import EncodedStream
from .errors import SHUTDOWN_MESSAGE
from .shutdown import StopSignal

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
    client_gone: Callable[[], Awaitable[object]],
    shutdown: StopSignal,
    send_timeout: float | None,
) -> Ending:
    """Deliver ``body`` until it ends or one of the ways to stop comes first (see the module)."""
    race = _Race()
    stop_watching = spawn_detached(_watch_client(client_gone, race))
    shutdown.on_set(race.shut_down)
    try:
        ending = await _deliver_all(body, deliver, race, send_timeout)
        if ending is Ending.SHUTDOWN:
            tail = await body.close_with_error(SHUTDOWN_MESSAGE)
            if tail and not await _send(deliver, tail, send_timeout):
                return Ending.SEND_FAILED
        return ending
    finally:
        shutdown.forget(race.shut_down)
        stop_watching()
        with anyio.CancelScope(shield=True):
            await body.aclose()


class _Race:
    """The first way to stop, and the scope it cancels."""

    __slots__ = ("ending", "scope")

    def __init__(self) -> None:
        self.ending: Ending | None = None
        self.scope = anyio.CancelScope()

    def stop(self, ending: Ending) -> None:
        if self.ending is None:
            self.ending = ending
            self.scope.cancel()

    def shut_down(self) -> None:
        self.stop(Ending.SHUTDOWN)


async def _watch_client(client_gone: Callable[[], Awaitable[object]], race: _Race) -> None:
    # Any failure to hear from the client means nobody is listening any more; it must not
    # escape either, since a trio system task that raises ends the whole event loop.
    with contextlib.suppress(Exception):
        await client_gone()
    race.stop(Ending.CLIENT_GONE)


async def _deliver_all(
    body: EncodedStream, deliver: Deliver, race: _Race, send_timeout: float | None
) -> Ending:
    scope = race.scope
    current_time = anyio.current_time
    with scope:
        async for data in body:
            if send_timeout is not None:
                # One timer per send, armed on the scope the stream already has: a timer per
                # send is cheap; a cancel scope per send was a sixth of the server's time.
                scope.deadline = current_time() + send_timeout
            try:
                await deliver(data)
            except OSError:
                return Ending.SEND_FAILED
            scope.deadline = math.inf
        return Ending.COMPLETE
    # Cancelled: by whoever set the race's ending, else by the deadline of a send.
    return race.ending or Ending.SEND_FAILED


async def _send(deliver: Deliver, data: bytes, seconds: float | None) -> bool:
    """One send; ``False`` when the client is gone or did not take it within ``seconds``."""
    try:
        with anyio.fail_after(seconds):
            await deliver(data)
    except OSError:  # TimeoutError is an OSError too
        return False
    return True
