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


async def _race(
    body: EncodedStream,
    deliver: Deliver,
    client_gone: Callable[[], Awaitable[object]],
    shutdown: anyio.Event,
    send_timeout: float | None,
) -> Ending:
    endings: list[Ending] = []  # the first one wins

    async with anyio.create_task_group() as task_group:

        async def stop_when(wait: Callable[[], Awaitable[object]], ending: Ending) -> None:
            await wait()
            endings.append(ending)
            task_group.cancel_scope.cancel()

        task_group.start_soon(stop_when, client_gone, Ending.CLIENT_GONE)
        task_group.start_soon(stop_when, shutdown.wait, Ending.SHUTDOWN)
        async for data in body:
            if not await _send(deliver, data, send_timeout):
                endings.append(Ending.SEND_FAILED)
                break
        else:
            endings.append(Ending.COMPLETE)
        task_group.cancel_scope.cancel()
    return endings[0]


async def _send(deliver: Deliver, data: bytes, seconds: float | None) -> bool:
    """One send; ``False`` when the client is gone or did not take it within ``seconds``."""
    try:
        with anyio.fail_after(seconds):
            await deliver(data)
    except OSError:  # TimeoutError is an OSError too
        return False
    return True
