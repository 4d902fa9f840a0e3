"""``pull``: serve a run to a framework that pulls the response body instead of being sent it.

Some frameworks take an async iterable as a response body and write each item themselves
(Quart's ``Response``, Django's ``StreamingHttpResponse`` under ASGI): the host never calls
``send``, it is asked for the next item.  ``pull`` runs the stream's :class:`~.driver.Driver`
beside the framework and hands each item over when it is asked for, so such a host ends a run
exactly as a sending one does:

- the framework asking for the next item is the sign that its last write has finished, so a write
  that takes longer than ``send_timeout`` gives the stream up (the stuck write itself is the
  framework's: it lasts until the server drops the connection);
- the framework leaving the block early (it cancelled the response because the client went away,
  or a write raised) is the client going away: the run is cancelled after its grace, and its
  ``finally`` blocks have run when the block exits;
- a shutdown ends the stream with the protocol's error event and end.

::

    async with pull(endpoint, protocol, run_input, request) as body:
        async for data in body:
            await write(data)

The driver runs in a task group the block sits inside, so the block must be entered and left in
one task, as ``async with`` and a response body's ``__aenter__``/``__aexit__`` are.

:func:`pull_stream` does the same for a stream the host has opened already (an attach, or a run
a store keeps, whose id and status the response needs before its body is pulled).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from ..encoding import EncodedStream
from ..input import RunInput
from ..protocols import WireProtocol
from .driver import Driver
from .endpoint import StreamEndpoint
from .shutdown import StopSignal

__all__ = ["pull", "pull_stream"]


@asynccontextmanager
async def pull(
    endpoint: StreamEndpoint, protocol: WireProtocol, run_input: RunInput, request: Any
) -> AsyncIterator[AsyncIterator[bytes]]:
    """The run's bytes in ``protocol``, one item per ready batch, for the framework to pull;
    ``request`` becomes ``controller.request``."""
    body = await endpoint.open_late(protocol, run_input, request)
    async with pull_stream(endpoint, body) as items:
        yield items


@asynccontextmanager
async def pull_stream(
    endpoint: StreamEndpoint, body: EncodedStream
) -> AsyncIterator[AsyncIterator[bytes]]:
    """The bytes of ``body``, a stream ``endpoint`` opened, as :func:`pull` hands them over."""
    # No buffer: an item changes hands only when the framework asks for it.
    handoff, items = anyio.create_memory_object_stream[bytes](0)

    async def deliver(data: bytes) -> None:
        try:
            await handoff.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise ConnectionResetError("the response body is no longer read") from None

    driver = Driver(body, deliver, send_timeout=endpoint.options.send_timeout)

    async def run_driver(stop: StopSignal) -> None:
        async with handoff:
            await driver.run(stop)

    failure: Exception | None = None
    with endpoint.streams.track() as stop, items:
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(run_driver, stop)
            try:
                yield items
            except Exception as exc:
                # The framework's own error goes back to it as it was, not in a task group's
                # exception group, once the run has stopped.
                failure = exc
            finally:
                driver.client_gone()  # nothing to do if the stream had ended
                items.close()
    if failure is not None:
        raise failure
