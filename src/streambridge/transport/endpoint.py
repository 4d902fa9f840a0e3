"""``StreamEndpoint``: one run function served with one set of options.

It is what every host mounts: the adapters and the ASGI app hand it a parsed request and get the
encoded stream back, and its :class:`OpenStreams` lets the host end them all on shutdown.
"""

from __future__ import annotations

from typing import Any

from ..encoding import EncodedStream, encode
from ..input import RunInput
from ..protocols import WireProtocol
from ..run import RunFunction, create_run
from .options import StreamOptions
from .shutdown import OpenStreams

__all__ = ["StreamEndpoint"]


class StreamEndpoint:
    def __init__(
        self, run: RunFunction, options: StreamOptions, streams: OpenStreams | None = None
    ) -> None:
        if not callable(run):
            raise TypeError(f"run must be an async function run(controller), got {run!r}")
        self.run = run
        self.options = options
        self.streams = streams if streams is not None else OpenStreams()
        """Shared by every endpoint of one host, so one ``shutdown()`` ends all their streams."""

    def open(
        self,
        protocol: WireProtocol,
        run_input: RunInput,
        request: Any,
        *,
        heartbeat: bool | float = True,
    ) -> EncodedStream:
        """The run's bytes in ``protocol``; the run starts at the first read.

        ``heartbeat=False`` for transports with no room for keepalive bytes (the WebSocket
        envelope, whose clients reject unknown frames; the server's pings keep it alive); a
        number of seconds for a transport that needs keepalives more often than the option says.
        """
        options = self.options
        stream = create_run(
            self.run,
            input=run_input,
            request=request,
            grace=options.grace,
            high_water=options.high_water,
            max_buffered=options.max_buffered,
        )
        beat = options.heartbeat if heartbeat is True else (heartbeat or None)
        return encode(stream, protocol.name, heartbeat=beat, input=run_input)

    async def shutdown(self) -> None:
        await self.streams.shutdown()
