"""``StreamEndpoint``: one run function served with one set of options.

It is what every host mounts: the adapters and the ASGI app hand it the parts of a request and get
the protocol and the run's input back (:meth:`StreamEndpoint.read_request`), then the encoded
stream (:meth:`StreamEndpoint.open`); its :class:`OpenStreams` lets the host end them all on
shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Collection
from typing import Any

from ..encoding import EncodedStream, encode
from ..input import RunInput
from ..protocols import WireProtocol
from ..run import FinishHook, RunFunction, check_run_function, create_run
from .errors import HTTPError
from .options import StreamOptions
from .request import (
    check_content_length,
    check_method,
    decode_json,
    parse_input,
    protocol_from_query,
    read_limited,
    select_protocol,
)
from .shutdown import OpenStreams

__all__ = ["StreamEndpoint"]


class StreamEndpoint:
    def __init__(
        self, run: RunFunction, options: StreamOptions, streams: OpenStreams | None = None
    ) -> None:
        check_run_function(run)
        self.run = run
        self.options = options
        self.streams = streams if streams is not None else OpenStreams()
        """Shared by every endpoint of one host, so one ``shutdown()`` ends all their streams."""

    async def read_request(
        self,
        method: str,
        query_string: bytes | str,
        content_length: str | None,
        body: AsyncIterable[bytes],
    ) -> tuple[WireProtocol, RunInput | None]:
        """The protocol a request asks for and the run's input (``None`` for a HEAD, whose body is
        not read), or :class:`HTTPError` with the answer to refuse it with.

        The checks run in the order every host answers them: the method (405), the protocol
        (400), then for a POST the host's state (503 while it shuts down), the declared length
        and the body as it is read (413), and the body's JSON and shape (400, 422).
        """
        check_method(method)
        protocol = select_protocol(self.options, protocol_from_query(query_string))
        if method == "HEAD":
            return protocol, None
        if self.streams.closing:
            raise HTTPError(503, "the server is shutting down; try again", {"Retry-After": "1"})
        limit = self.options.max_body_bytes
        check_content_length(content_length, limit)
        data = await read_limited(body, limit)
        return protocol, parse_input(protocol, decode_json(data))

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
            on_finish=options.on_finish,
        )
        beat = options.heartbeat if heartbeat is True else (heartbeat or None)
        return encode(stream, protocol.name, heartbeat=beat, input=run_input)

    async def shutdown(self) -> None:
        await self.streams.shutdown()


class StreamHost:
    """What every host class shares: a run served with the options every host takes (see
    :class:`StreamOptions`), checked when the host is built."""

    def __init__(
        self,
        run: RunFunction,
        *,
        protocol: str = "data-stream",
        protocols: Collection[str] | None = None,
        heartbeat: float | None = 15.0,
        max_body_bytes: int = 1_000_000,
        send_timeout: float | None = 30.0,
        grace: float = 0.05,
        max_buffered: int = 100_000,
        on_finish: FinishHook | None = None,
    ) -> None:
        options = StreamOptions(
            protocol=protocol,
            protocols=protocols,
            heartbeat=heartbeat,
            max_body_bytes=max_body_bytes,
            send_timeout=send_timeout,
            grace=grace,
            max_buffered=max_buffered,
            on_finish=on_finish,
        )
        self.endpoint = StreamEndpoint(run, options)

    @property
    def options(self) -> StreamOptions:
        """The options this host was built with."""
        return self.endpoint.options
