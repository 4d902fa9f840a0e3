"""``StreamEndpoint``: one run function served with one set of options.

It is what every host mounts: an async host hands it the parts of a request and gets the answer
back (:meth:`StreamEndpoint.respond`: the encoded stream, a JSON reply, a refusal's too, or a
HEAD's headers); its :class:`OpenStreams` lets the host end them all on shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from ..encoding import EncodedStream, encode
from ..input import RunInput
from ..protocols import WireProtocol
from ..run import (
    DEFAULT_GRACE,
    DEFAULT_MAX_BUFFERED,
    DEFAULT_MAX_BUFFERED_BYTES,
    FinishHook,
    RunFunction,
    check_run_function,
    create_run,
)
from ..runs import (
    RunExistsError,
    RunRecord,
    RunStore,
    StoreUnavailableError,
    read_run,
    record,
)
from ..runs.reading import refusal
from .attach import RunRequest, admitted, answer_run_request, match_run_request
from .errors import HTTPError, Reply
from .headers import stream_headers
from .options import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEARTBEAT,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_PROTOCOL,
    DEFAULT_SEND_TIMEOUT,
    Authorize,
    StreamOptions,
)
from .request import check_request, input_from_body, read_limited
from .shutdown import OpenStreams

__all__ = ["RUN_PATH_PARAM", "STORE_UNAVAILABLE", "StreamEndpoint", "StreamHead"]

logger = logging.getLogger("streambridge")

STORE_UNAVAILABLE = "the run store is unavailable right now; try again in a moment"
"""The 503's message when the host's store (its Redis, say) cannot be reached."""


@contextmanager
def _store_available() -> Iterator[None]:
    """A store that cannot be reached is the server's trouble, for now: a 503 the client may
    retry, never a 500."""
    try:
        yield
    except StoreUnavailableError as exc:
        logger.warning("answering 503: %s", exc)
        raise HTTPError(503, STORE_UNAVAILABLE, {"Retry-After": "1"}) from None


RUN_PATH_PARAM = "run_path"
"""The name of the path parameter with which an adapter's sub-routes (``{path}/<run_path>``)
reach a view: the view then answers only requests about runs (``run_request(below=True)``)."""


@dataclass(frozen=True, slots=True)
class StreamHead:
    """The answer to a HEAD where a stream would be: the stream's headers, and no body."""

    headers: list[tuple[str, str]]


class StreamEndpoint:
    """One streaming endpoint: a run function and its options, shared by every host.

    It reads and refuses requests, opens a run's encoded stream (recording it in the run
    store, attaching to a running one) and answers the run routes; a host only carries bytes.
    """

    def __init__(
        self, run: RunFunction, options: StreamOptions, streams: OpenStreams | None = None
    ) -> None:
        check_run_function(run)
        self.run = run
        self.options = options
        self.streams = streams if streams is not None else OpenStreams()
        """Shared by every endpoint of one host, so one ``shutdown()`` ends all their streams."""

    async def respond(
        self,
        method: str,
        path: str,
        *,
        query_string: bytes | str,
        content_length: str | None,
        body: AsyncIterable[bytes],
        last_event_id: str | None,
        request: Any,
        below: bool = False,
    ) -> EncodedStream | Reply | StreamHead:
        """Answer one request for an async host: POST opens the run's stream, HEAD gets the
        stream's headers, anything else is refused; with a store, also the requests about its
        runs (:meth:`run_request`).  A refusal (:class:`~.errors.HTTPError`) and a run's status
        come back as a :class:`~.errors.Reply` (whose body a HEAD omits).

        ``body`` is the request body as it arrives (read only for a POST; it may raise
        :class:`~.errors.ClientDisconnected`), ``last_event_id`` the ``Last-Event-ID`` header,
        ``request`` becomes ``controller.request``; ``below`` as for :meth:`run_request`.  The
        stream's headers are :meth:`stream_headers`.
        """
        try:
            run_request = self.run_request(method, path, below=below)
            if run_request is not None:
                source = await self.answer(
                    run_request,
                    query_string=query_string,
                    last_event_id=last_event_id,
                    request=request,
                )
                if isinstance(source, Reply):
                    return source
            else:
                protocol, run_input = await self.read_request(
                    method, query_string, content_length, body
                )
                if run_input is None:
                    return StreamHead(stream_headers(protocol))
                # The run starts at the first read (with a store: now, in this request's
                # context, so the response can carry its id).
                source = await self.open(protocol, run_input, request)
        except HTTPError as error:
            return error.reply()
        if method == "HEAD":
            await source.aclose()
            return StreamHead(self.stream_headers(source))
        return source

    async def read_request(
        self,
        method: str,
        query_string: bytes | str,
        content_length: str | None,
        body: AsyncIterable[bytes],
    ) -> tuple[WireProtocol, RunInput | None]:
        """The protocol a request asks for and the run's input (``None`` for a HEAD, whose body is
        not read), or :class:`HTTPError` with the answer to refuse it with.

        The checks are :func:`~.request.check_request`'s, then the body as it is read (413),
        and the body's JSON and shape (400, 422): the same steps as
        :func:`~.request.read_request_blocking`, for a host that reads on a thread.
        """
        protocol, has_body = check_request(
            self.options,
            method=method,
            query_string=query_string,
            content_length=content_length,
            closing=self.streams.closing,
        )
        if not has_body:
            return protocol, None
        return protocol, input_from_body(
            protocol, await read_limited(body, self.options.max_body_bytes)
        )

    def run_request(self, method: str, path: str, *, below: bool = False) -> RunRequest | None:
        """The request about a stored run that ``method`` and ``path`` make (attach, status,
        stop: see :mod:`.attach`), or ``None`` for a request that starts a run.  Only a host
        that keeps runs has these routes.

        ``below=True`` for a request a framework routed here from below the host's own path
        (the host's sub-routes, :data:`RUN_PATH_PARAM`): only a request about a run belongs
        there, anything else is a 404 (:class:`HTTPError`), never a new run.
        """
        found = None if self.options.store is None else match_run_request(method, path)
        if below and found is None:
            raise HTTPError(404, "there is nothing here: not a run's route")
        return found

    def stream_headers(self, body: EncodedStream) -> list[tuple[str, str]]:
        """The response headers of ``body``, a stream this endpoint opened: its protocol's, and
        for a run this host keeps, its id (:data:`~.headers.RUN_ID_HEADER`)."""
        kept = self.options.store is not None
        return stream_headers(body.protocol, body.run_id if kept else None)

    async def answer(
        self,
        run_request: RunRequest,
        *,
        query_string: bytes | str,
        last_event_id: str | None,
        request: Any,
        heartbeat: bool | float = True,
    ) -> EncodedStream | Reply:
        """The stream or the JSON reply for a request about a stored run (or
        :class:`HTTPError`); ``heartbeat`` as for :meth:`open`."""
        options = self.options
        with _store_available():
            return await answer_run_request(
                run_request,
                options,
                query_string=query_string,
                last_event_id=last_event_id,
                request=request,
                heartbeat=options.heartbeat if heartbeat is True else (heartbeat or None),
            )

    async def open(
        self,
        protocol: WireProtocol,
        run_input: RunInput,
        request: Any,
        *,
        heartbeat: bool | float = True,
    ) -> EncodedStream:
        """The run's bytes in ``protocol``; the run starts at the first read (with a store: now,
        and it is kept there for other readers).

        ``heartbeat=False`` for transports with no room for keepalive bytes (the WebSocket
        envelope, whose clients reject unknown frames; the server's pings keep it alive); a
        number of seconds for a transport that needs keepalives more often than the option says.

        With a store, a request naming a run that is still going attaches to it (a run has one
        producer, ever); one naming a finished run gets a 409.
        """
        with _store_available():
            return await self._open(protocol, run_input, request, heartbeat)

    async def _open(
        self, protocol: WireProtocol, run_input: RunInput, request: Any, heartbeat: bool | float
    ) -> EncodedStream:
        options = self.options
        beat = options.heartbeat if heartbeat is True else (heartbeat or None)
        store = options.store
        if store is not None and run_input.run_id is not None:
            existing = await store.get(run_input.run_id)
            if existing is not None:
                return await self._attach(existing, protocol, request, beat)
        stream = create_run(
            self.run,
            input=run_input,
            request=request,
            grace=options.grace,
            high_water=options.high_water,
            max_buffered=options.max_buffered,
            max_buffered_bytes=options.max_buffered_bytes,
            on_finish=options.on_finish,
        )
        if store is None:
            return encode(stream, protocol.name, heartbeat=beat, input=run_input)
        try:
            started = await record(store, stream, protocol.name, shutdown=self.streams.track())
        except RunExistsError:  # started by another request since the lookup above
            existing = await store.get(stream.input.run_id or "")
            if existing is None:
                raise HTTPError(409, "this run id was just used; start with a new one") from None
            return await self._attach(existing, protocol, request, beat)
        return await read_run(
            store,
            started,
            protocol,
            heartbeat=beat,
            # OpenAI Responses' `background: true` asks for a run that outlives its reader.
            stop_on_close=options.on_disconnect == "cancel"
            and run_input.options.get("background") is not True,
        )

    async def open_late(
        self,
        protocol: WireProtocol,
        run_input: RunInput,
        request: Any,
        *,
        heartbeat: bool | float = True,
    ) -> EncodedStream:
        """:meth:`open` for a host that has answered with its headers already: a refusal
        becomes the protocol's error event and end."""
        try:
            return await self.open(protocol, run_input, request, heartbeat=heartbeat)
        except HTTPError as error:
            return refusal(protocol, run_input, error.message)

    async def _attach(
        self, existing: RunRecord, protocol: WireProtocol, request: Any, beat: float | None
    ) -> EncodedStream:
        store = self.options.store
        assert store is not None
        if existing.finished:
            raise HTTPError(
                409, f"run {existing.run_id!r} has ended; start a new run with a new id"
            )
        if await admitted(store, self.options, existing.run_id, request, "read") is None:
            raise HTTPError(409, f"run id {existing.run_id!r} is taken; start with a new one")
        return await read_run(store, existing, protocol, heartbeat=beat)

    async def shutdown(self) -> None:
        await self.streams.shutdown()


class StreamHost:
    """What every host class shares: a run served with the options every host takes (see
    :class:`StreamOptions`), checked when the host is built."""

    def __init__(
        self,
        run: RunFunction,
        *,
        protocol: str = DEFAULT_PROTOCOL,
        protocols: Collection[str] | None = None,
        heartbeat: float | None = DEFAULT_HEARTBEAT,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        send_timeout: float | None = DEFAULT_SEND_TIMEOUT,
        body_timeout: float | None = DEFAULT_BODY_TIMEOUT,
        grace: float = DEFAULT_GRACE,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
        max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
        store: RunStore | None = None,
        on_disconnect: Literal["cancel", "continue"] | None = None,
        authorize: Authorize | None = None,
        on_finish: FinishHook | None = None,
    ) -> None:
        options = StreamOptions(
            protocol=protocol,
            protocols=protocols,
            heartbeat=heartbeat,
            max_body_bytes=max_body_bytes,
            send_timeout=send_timeout,
            body_timeout=body_timeout,
            grace=grace,
            max_buffered=max_buffered,
            max_buffered_bytes=max_buffered_bytes,
            store=store,
            on_disconnect=on_disconnect,
            authorize=authorize,
            on_finish=on_finish,
        )
        self.endpoint = StreamEndpoint(run, options)

    @property
    def options(self) -> StreamOptions:
        """The options this host was built with."""
        return self.endpoint.options
