"""``pump``: move an encoded stream to a client, and stop its run the moment nobody listens.

Each item of the stream is everything the run had ready, so each is written in one send: a burst
goes out in one write, a lone token at once, and nothing waits to be coalesced.  Writing races
three ways to stop, whichever comes first:

- the client goes away (the host's disconnect signal, e.g. ASGI ``http.disconnect``);
- a send fails (``OSError``: the socket is gone) or does not finish within ``send_timeout``
  (the client stopped reading: waiting longer would hold the run and its memory; checked by one
  watcher, so a stuck send is given up within 1.25 times the timeout);
- the host shuts down: the protocol's error event and end are sent, so the client sees a clean
  end, not a cut.

However it ends, even by a cancellation from outside (a server cancelling the request task), the
stream is closed under a shield: the run is cancelled after its grace and its ``finally`` blocks
run before ``pump`` returns or re-raises.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable

import anyio

from ..encoding import EncodedStream
from .errors import SHUTDOWN_MESSAGE

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
    shutdown: anyio.Event,
    send_timeout: float | None,
) -> Ending:
    """Deliver ``body`` until it ends or one of the ways to stop comes first (see the module)."""
    try:
        ending = await _race(body, deliver, client_gone, shutdown, send_timeout)
        if ending is Ending.SHUTDOWN:
            tail = await body.close_with_error(SHUTDOWN_MESSAGE)
            if tail and not await _send(deliver, tail, send_timeout):
                return Ending.SEND_FAILED
        return ending
    finally:
        with anyio.CancelScope(shield=True):
            await body.aclose()


class _SendClock:
    """When the send in progress began; ``None`` between sends."""

    __slots__ = ("started",)

    def __init__(self) -> None:
        self.started: float | None = None


async def _race(
    body: EncodedStream,
    deliver: Deliver,
    client_gone: Callable[[], Awaitable[object]],
    shutdown: anyio.Event,
    send_timeout: float | None,
) -> Ending:
    endings: list[Ending] = []  # the first one wins
    clock = _SendClock()

    async with anyio.create_task_group() as task_group:

        async def stop_when(wait: Callable[[], Awaitable[Ending]]) -> None:
            endings.append(await wait())
            task_group.cancel_scope.cancel()

        async def gone() -> Ending:
            await client_gone()
            return Ending.CLIENT_GONE

        task_group.start_soon(stop_when, gone)
        task_group.start_soon(stop_when, lambda: _watch(shutdown, clock, send_timeout))
        current_time = anyio.current_time
        async for data in body:
            clock.started = current_time()
            try:
                await deliver(data)
            except OSError:
                endings.append(Ending.SEND_FAILED)
                break
            clock.started = None
        else:
            endings.append(Ending.COMPLETE)
        task_group.cancel_scope.cancel()
    return endings[0]


async def _watch(shutdown: anyio.Event, clock: _SendClock, send_timeout: float | None) -> Ending:
    """Wait for the shutdown, and give a send up once it has taken ``send_timeout``.

    One watcher wakes every quarter of the timeout, instead of a timer armed around every send:
    a send then costs no timer at all (it was a sixth of the server's time per token), and a
    stuck one is given up within 1.25 times the timeout.
    """
    if send_timeout is None:
        await shutdown.wait()
        return Ending.SHUTDOWN
    while True:
        with anyio.move_on_after(send_timeout / 4):
            await shutdown.wait()
            return Ending.SHUTDOWN
        started = clock.started
        if started is not None and anyio.current_time() - started >= send_timeout:
            return Ending.SEND_FAILED


async def _send(deliver: Deliver, data: bytes, seconds: float | None) -> bool:
    """One send; ``False`` when the client is gone or did not take it within ``seconds``."""
    try:
        with anyio.fail_after(seconds):
            await deliver(data)
    except OSError:  # TimeoutError is an OSError too
        return False
    return True
