"""Read any streambridge protocol back: bytes, an httpx response or a URL, into chunks and one
final message; follow a run by id, and resume by itself when the connection drops.

Needs the ``client`` extra (``pip install 'streambridge[client]'``): httpx reads the bytes,
httpx-sse undoes SSE framing and jiter parses tool-call arguments that are still streaming.

>>> message = await fetch_message("http://127.0.0.1:8000/api/chat", protocol="data-stream",
...                               json={"messages": [{"role": "user", "content": "Hi"}]})
>>> message.text, message.tool_calls, message.state, message.finish_reason, message.usage

When a host keeps its runs (``store=``), a dropped connection is picked up where it broke:
:func:`stream_chunks`, :func:`fetch_message`, :func:`attach` and :func:`attach_sync` attach again
with ``GET {url}/runs/{run_id}/stream`` and ``Last-Event-ID`` and go on decoding, every event
once, in order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio

try:
    import httpx
    import httpx_sse
    import jiter  # noqa: F401  (partial tool-call arguments: ToolCallPart.args)
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "streambridge.client needs the client extra: pip install 'streambridge[client]'"
    ) from exc

from .messages import (
    DataPart,
    FilePart,
    Message,
    MessageAccumulator,
    ReasoningPart,
    SourcePart,
    TextPart,
    ToolCallPart,
    Usage,
    accumulate,
)
from .protocols import Decoded, Decoder, StreamEnd, WireProtocol, get_protocol

__all__ = [
    "RUN_ID_HEADER",
    "DataPart",
    "FilePart",
    "Message",
    "MessageAccumulator",
    "ReasoningPart",
    "ResumeError",
    "Retry",
    "RunInfo",
    "RunNotFoundError",
    "SourcePart",
    "TextPart",
    "ToolCallPart",
    "Usage",
    "accumulate",
    "aiter_chunks",
    "attach",
    "attach_sync",
    "decode",
    "fetch_message",
    "get_run",
    "get_run_sync",
    "iter_chunks",
    "stream_chunks",
]

RUN_ID_HEADER = "x-resumable-stream-id"
"""The response header naming the run a stream is of, sent by a host that keeps runs."""

logger = logging.getLogger("streambridge.client")


# -- decoding ------------------------------------------------------------------------------


def _event_name(event: str) -> str | None:
    return None if event == "message" else event  # httpx-sse names unnamed events "message"


def _response_for(data: bytes | Iterable[bytes], protocol: WireProtocol) -> httpx.Response:
    content = [data] if isinstance(data, bytes) else data
    return httpx.Response(200, headers={"content-type": protocol.media_type}, content=content)


def iter_chunks(response: httpx.Response, protocol: str) -> Iterator[Decoded]:
    """Decode a (sync) httpx response in ``protocol`` as it streams."""
    wire = get_protocol(protocol)
    decoder = wire.new_decoder()
    if wire.framing == "sse":
        for sse in httpx_sse.EventSource(response).iter_sse():
            yield from _decode_sse(decoder, sse)
    else:
        lines = _LineSplitter()
        for text in response.iter_text():
            for line in lines.feed(text):
                yield from decoder.decode(None, line)
        yield from decoder.decode(None, lines.rest())
    yield from decoder.close()


async def aiter_chunks(response: httpx.Response, protocol: str) -> AsyncIterator[Decoded]:
    """Decode an async httpx response in ``protocol`` as it streams."""
    wire = get_protocol(protocol)
    decoder = wire.new_decoder()
    if wire.framing == "sse":
        async for sse in httpx_sse.EventSource(response).aiter_sse():
            for item in _decode_sse(decoder, sse):
                yield item
    else:
        lines = _LineSplitter()
        async for text in response.aiter_text():
            for line in lines.feed(text):
                for item in decoder.decode(None, line):
                    yield item
        for item in decoder.decode(None, lines.rest()):
            yield item
    for item in decoder.close():
        yield item


class _LineSplitter:
    """Splits on ``\n`` only.  (httpx's ``iter_lines`` also splits on U+2028 and other
    Unicode line breaks, which JSON leaves unescaped inside strings.)"""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, text: str) -> list[str]:
        *lines, self._pending = (self._pending + text).split("\n")
        return [line.removesuffix("\r") for line in lines]

    def rest(self) -> str:
        rest, self._pending = self._pending, ""
        return rest


def _decode_sse(decoder: Decoder, sse: httpx_sse.ServerSentEvent) -> list[Decoded]:
    if not sse.data and sse.event == "message":
        return []  # an event with no data field
    return decoder.decode(_event_name(sse.event), sse.data)


def decode(data: bytes | Iterable[bytes], protocol: str) -> list[Decoded]:
    """Decode the bytes of one whole stream (one ``bytes`` or its pieces in order)."""
    return list(iter_chunks(_response_for(data, get_protocol(protocol)), protocol))


# -- following a run: events counted as the server counts them, resumed after a drop -----------


@dataclass(frozen=True, slots=True)
class Retry:
    """How hard to try to resume a stream whose connection dropped.

    A resumed connection that brings at least one new event starts the count again, so a long
    stream survives any number of drops, and a server that is gone is given up on after
    ``attempts`` reconnections in a row that brought nothing.
    """

    attempts: int = 5
    """Reconnections in a row without a new event before giving up (0: never resume)."""
    backoff: float = 0.25
    """Seconds before the second reconnection in a row (the first is immediate); doubling."""
    max_delay: float = 5.0
    """The longest wait between two reconnections."""

    def delay(self, failures: int) -> float:
        """Seconds to wait before reconnection number ``failures`` in a row (from 1)."""
        if failures <= 1:
            return 0.0
        return float(min(self.backoff * 2 ** (failures - 2), self.max_delay))


class ResumeError(Exception):
    """The stream was cut and could not be picked up again: the server names no run to resume
    (it does not keep runs), refused the attach, or did not answer after every retry."""

    def __init__(self, message: str, *, run_id: str | None, last_event: int) -> None:
        super().__init__(message)
        self.run_id = run_id
        """The run being read (``None`` when the server named none)."""
        self.last_event = last_event
        """The index of the last whole event received (``-1``: none)."""


class RunNotFoundError(ResumeError):
    """The server has no run by that id for this request: unknown, expired or not this
    request's to read (404), or the server does not keep runs (404 or 405)."""


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A run's status, as ``GET {url}/runs/{run_id}`` answers it."""

    id: str
    thread_id: str | None
    status: str
    """``"running"``, ``"done"``, ``"error"`` or ``"cancelled"``."""
    protocol: str | None
    created_at: int | None
    raw: dict[str, Any] = field(repr=False, compare=False)
    """The whole JSON answer."""


class _EventReader:
    """Bytes of one stream, over as many connections as it takes, into decoded items.

    Events are counted as the server counts them for ``Last-Event-ID``: the framing's units (SSE
    events ended by a blank line, or lines), keepalives (SSE comments, blank lines) left out.
    Only whole events count: the partial one a dropped connection leaves is thrown away and
    comes again after the resume.
    """

    def __init__(self, protocol: WireProtocol, after: int = -1) -> None:
        self._sse = protocol.framing == "sse"
        self._separator = b"\n\n" if self._sse else b"\n"
        self._decoder = protocol.new_decoder()
        self._buffer = b""
        self._carry = b""  # a trailing CR, which may be half of a CRLF
        self.last_event = after
        """The index of the last whole event decoded (``-1``: none)."""
        self.ended = False
        """Whether the protocol's end (a :class:`StreamEnd`) has been decoded."""

    def restart(self) -> None:
        """A new connection: forget the partial event of the last one."""
        self._buffer = self._carry = b""

    def feed(self, data: bytes) -> list[Decoded]:
        data = self._carry + data
        self._carry = b"\r" if data.endswith(b"\r") else b""
        if self._carry:
            data = data[:-1]
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")  # SSE allows all three
        *whole, self._buffer = (self._buffer + data).split(self._separator)
        out: list[Decoded] = []
        for raw in whole:
            out += self._event(raw.decode("utf-8", errors="replace"))
        return out

    def close(self) -> list[Decoded]:
        """The end of the bytes: a last unended line, and whatever the decoder makes of it."""
        rest, self._buffer = self._buffer + self._carry, b""
        out: list[Decoded] = []
        if not self._sse and rest.strip():
            out += self._event(rest.decode("utf-8", errors="replace").removesuffix("\r"))
        return out + self._decoded(self._decoder.close())

    def _event(self, text: str) -> list[Decoded]:
        if not self._sse:
            if not text:
                return []  # a keepalive
            self.last_event += 1
            return self._decoded(self._decoder.decode(None, text))
        name: str | None = None
        data: list[str] = []
        fields = False
        for line in text.split("\n"):
            if not line or line.startswith(":"):
                continue  # a comment: keepalives are
            key, _, value = line.partition(":")
            fields = True
            value = value.removeprefix(" ")
            if key == "event":
                name = _event_name(value or "message")
            elif key == "data":
                data.append(value)
        if not fields:
            return []
        self.last_event += 1
        if not data and name is None:
            return []  # an event with no data field
        return self._decoded(self._decoder.decode(name, "\n".join(data)))

    def _decoded(self, items: list[Decoded]) -> list[Decoded]:
        if any(isinstance(item, StreamEnd) for item in items):
            self.ended = True
        return items


def _attach_url(url: str, run_id: str, protocol: str) -> httpx.URL:
    """``{url}/runs/{run_id}/stream?protocol=...``, keeping the URL's other query parameters."""
    base = httpx.URL(url)
    path = base.path.rstrip("/") + f"/runs/{run_id}/stream"
    return base.copy_with(path=path).copy_set_param("protocol", protocol)


def _run_url(url: str, run_id: str) -> httpx.URL:
    base = httpx.URL(url)
    return base.copy_with(path=base.path.rstrip("/") + f"/runs/{run_id}", query=None)


_REQUEST_ONLY = ("json", "content", "data", "files")
"""What a POST sends that an attach (a GET) does not; headers, cookies, auth, params stay."""

_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def _attach_request(request: dict[str, Any], last_event: int) -> dict[str, Any]:
    options = {key: value for key, value in request.items() if key not in _REQUEST_ONLY}
    headers = httpx.Headers(options.get("headers"))
    headers["last-event-id"] = str(last_event)
    options["headers"] = headers
    return options


def _why(error: BaseException) -> str:
    return str(error) or type(error).__name__  # httpx.ReadError after a reset says nothing


def _server_message(response: httpx.Response) -> str:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
    return str(message)


class _Follow:
    """One stream's resume bookkeeping: the events it has, the failures in a row, when to give
    up.  The sync and async readers share it; only their I/O differs."""

    def __init__(
        self, url: str, run_id: str | None, protocol: str, after: int, retry: Retry | None
    ) -> None:
        self.url = url
        self.run_id = run_id
        self.protocol = protocol
        self.reader = _EventReader(get_protocol(protocol), after)
        self.retry = retry
        self.failures = 0
        self._progress_at = after
        self.error: BaseException | None = None

    def attach(self, request: dict[str, Any]) -> tuple[httpx.URL, dict[str, Any]]:
        assert self.run_id is not None
        self.reader.restart()
        self._progress_at = self.reader.last_event
        url = _attach_url(self.url, self.run_id, self.protocol)
        return url, _attach_request(request, self.reader.last_event)

    def check(self, response: httpx.Response) -> bool:
        """Whether ``response`` (its body read if it is an error) is the stream; raises when a
        retry cannot help."""
        if response.status_code == 200:
            return True
        message = f"HTTP {response.status_code}: {_server_message(response)}"
        if response.status_code in _RETRY_STATUSES:
            self.error = ResumeError(message, run_id=self.run_id, last_event=self.last_event)
            return False
        if response.status_code == 405:  # a host without store= serves no GET there
            raise RunNotFoundError(
                f"{self.url}: cannot attach to run {self.run_id!r}: the server does not keep "
                f"runs here ({message})",
                run_id=self.run_id,
                last_event=self.last_event,
            )
        if response.status_code == 404:
            raise RunNotFoundError(
                f"{self.url}: no run {self.run_id!r} to read: it is unknown or has expired, "
                f"this request may not read it, or the server does not keep runs ({message})",
                run_id=self.run_id,
                last_event=self.last_event,
            )
        raise ResumeError(
            f"{self.url}: cannot attach to run {self.run_id!r}: {message}",
            run_id=self.run_id,
            last_event=self.last_event,
        )

    @property
    def last_event(self) -> int:
        return self.reader.last_event

    def next_delay(self, cut: BaseException | None) -> float:
        """After a connection ended without the protocol's end: the seconds to wait before
        attaching again, or a :class:`ResumeError` raised."""
        if cut is not None:
            self.error = cut
        if self.reader.last_event > self._progress_at:
            self.failures = 0
        self.failures += 1
        why = "the stream stopped before its end" if self.error is None else _why(self.error)
        if self.run_id is None:
            raise ResumeError(
                f"{self.url}: the stream was cut after event {self.last_event} ({why}), and "
                f"the server sent no {RUN_ID_HEADER} header to resume it with: it does not "
                "keep runs (give the host store=...)",
                run_id=None,
                last_event=self.last_event,
            ) from cut
        if self.retry is None or self.failures > self.retry.attempts:
            tries = 0 if self.retry is None else self.retry.attempts
            raise ResumeError(
                f"{self.url}: gave up on run {self.run_id!r} after event {self.last_event}: "
                f"{tries} reconnection(s) in a row brought nothing new (last: {why})",
                run_id=self.run_id,
                last_event=self.last_event,
            ) from self.error
        delay = self.retry.delay(self.failures)
        logger.info(
            "run %s: %s after event %d; resuming in %.2f s (attempt %d of %d)",
            self.run_id,
            why,
            self.last_event,
            delay,
            self.failures,
            self.retry.attempts,
        )
        self.error = None
        return delay


async def _follow(
    http: httpx.AsyncClient,
    follow: _Follow,
    first: tuple[str, httpx.URL | str, dict[str, Any]] | None,
    request: dict[str, Any],
) -> AsyncIterator[Decoded]:
    """Decode ``first`` (the POST that starts a run), or attach to ``follow.run_id``, and attach
    again after every drop until the protocol's end."""
    reader = follow.reader
    while True:
        if first is not None:
            method, url, options = first
        else:
            method = "GET"
            url, options = follow.attach(request)
        cut: BaseException | None = None
        answered = False
        try:
            async with http.stream(method, url, **options) as response:
                answered = True
                if first is not None:
                    if response.is_error:
                        await response.aread()
                        response.raise_for_status()
                    follow.run_id = response.headers.get(RUN_ID_HEADER)
                elif response.status_code != 200:
                    await response.aread()
                if first is not None or follow.check(response):
                    async for data in response.aiter_bytes():
                        for item in reader.feed(data):
                            yield item
        except httpx.TransportError as exc:
            if first is not None and not answered:
                raise  # the run was not started (or not named): nothing to resume
            cut = exc
        first = None
        if reader.ended:
            break
        await anyio.sleep(follow.next_delay(cut))
    for item in reader.close():
        yield item


def _follow_sync(
    http: httpx.Client,
    follow: _Follow,
    first: tuple[str, httpx.URL | str, dict[str, Any]] | None,
    request: dict[str, Any],
) -> Iterator[Decoded]:
    """:func:`_follow`, blocking."""
    reader = follow.reader
    while True:
        if first is not None:
            method, url, options = first
        else:
            method = "GET"
            url, options = follow.attach(request)
        cut: BaseException | None = None
        answered = False
        try:
            with http.stream(method, url, **options) as response:
                answered = True
                if first is not None:
                    if response.is_error:
                        response.read()
                        response.raise_for_status()
                    follow.run_id = response.headers.get(RUN_ID_HEADER)
                elif response.status_code != 200:
                    response.read()
                if first is not None or follow.check(response):
                    for data in response.iter_bytes():
                        yield from reader.feed(data)
        except httpx.TransportError as exc:
            if first is not None and not answered:
                raise  # the run was not started (or not named): nothing to resume
            cut = exc
        first = None
        if reader.ended:
            break
        time.sleep(follow.next_delay(cut))
    yield from reader.close()


async def stream_chunks(
    url: str,
    *,
    protocol: str,
    json: Any = None,
    client: httpx.AsyncClient | None = None,
    retry: Retry | None = Retry(),
    **request: Any,
) -> AsyncIterator[Decoded]:
    """POST ``json`` to ``url`` and decode the streamed answer in ``protocol``.

    An HTTP error status raises :class:`httpx.HTTPStatusError` before any chunk.  When the
    connection drops before the protocol's end (a transport error, a cut body, a stream that
    just stops), the run named by the response's ``x-resumable-stream-id`` header is attached
    again after the last event received (see :func:`attach`), ``retry`` says how persistently;
    :class:`ResumeError` when the server names no run or the retries run out.  ``retry=None``
    reads the one response only, as far as it goes.  ``request``: more arguments for
    :meth:`httpx.AsyncClient.stream` (``headers``, ``params``, ``cookies``...), sent again on
    each attach.
    """
    own_client = client is None
    http = httpx.AsyncClient(timeout=None) if client is None else client
    try:
        if retry is None:
            async with http.stream("POST", url, json=json, **request) as response:
                if response.is_error:
                    await response.aread()
                    response.raise_for_status()
                async for item in aiter_chunks(response, protocol):
                    yield item
            return
        follow = _Follow(url, None, protocol, -1, retry)
        first = ("POST", url, {"json": json, **request})
        async for item in _follow(http, follow, first, request):
            yield item
    finally:
        if own_client:
            await http.aclose()


async def fetch_message(
    url: str,
    *,
    protocol: str,
    json: Any = None,
    client: httpx.AsyncClient | None = None,
    state: Any = None,
    retry: Retry | None = Retry(),
    **request: Any,
) -> Message:
    """POST ``json`` to ``url`` and return the message the streamed answer builds (resuming
    after a dropped connection as :func:`stream_chunks` does)."""
    accumulator = MessageAccumulator(state)
    async for item in stream_chunks(
        url, protocol=protocol, json=json, client=client, retry=retry, **request
    ):
        accumulator.add(item)
    return accumulator.message


async def attach(
    url: str,
    run_id: str,
    *,
    protocol: str,
    after: int = -1,
    client: httpx.AsyncClient | None = None,
    retry: Retry | None = Retry(),
    **request: Any,
) -> AsyncIterator[Decoded]:
    """Follow the run ``run_id`` of the host serving ``url`` (the URL runs are POSTed to) in
    ``protocol``, from its start or after event ``after``, to its end, resuming after drops.

    It reads ``GET {url}/runs/{run_id}/stream?protocol=...`` with ``Last-Event-ID``, which the
    host answers with the run's events (a run is encoded the same in every protocol, so it can
    be read in another one than it was started in).  Raises :class:`RunNotFoundError` for a 404
    or 405 (an unknown or expired run, or a host without ``store=``), :class:`ResumeError` for
    another refusal or when ``retry`` runs out.  With ``after`` past ``-1`` the decoder starts
    mid-stream: a line protocol (``data-stream``) decodes from any event, SSE protocols from
    the start of a part.
    """
    own_client = client is None
    http = httpx.AsyncClient(timeout=None) if client is None else client
    try:
        follow = _Follow(url, run_id, protocol, after, retry or Retry(attempts=0))
        async for item in _follow(http, follow, None, request):
            yield item
    finally:
        if own_client:
            await http.aclose()


def attach_sync(
    url: str,
    run_id: str,
    *,
    protocol: str,
    after: int = -1,
    client: httpx.Client | None = None,
    retry: Retry | None = Retry(),
    **request: Any,
) -> Iterator[Decoded]:
    """:func:`attach`, blocking: the same items from a sync :class:`httpx.Client`."""
    own_client = client is None
    http = httpx.Client(timeout=None) if client is None else client
    try:
        follow = _Follow(url, run_id, protocol, after, retry or Retry(attempts=0))
        yield from _follow_sync(http, follow, None, request)
    finally:
        if own_client:
            http.close()


def _run_info(response: httpx.Response, url: str, run_id: str) -> RunInfo:
    if response.status_code in (404, 405):
        raise RunNotFoundError(
            f"{url}: no run {run_id!r}: {_server_message(response)}", run_id=run_id, last_event=-1
        )
    response.raise_for_status()
    raw = response.json()
    return RunInfo(
        id=raw["id"],
        thread_id=raw.get("thread_id"),
        status=raw["status"],
        protocol=raw.get("protocol"),
        created_at=raw.get("created_at"),
        raw=raw,
    )


async def get_run(
    url: str, run_id: str, *, client: httpx.AsyncClient | None = None, **request: Any
) -> RunInfo:
    """The status of run ``run_id`` of the host serving ``url`` (``GET {url}/runs/{run_id}``);
    :class:`RunNotFoundError` for a 404 or 405, :class:`httpx.HTTPStatusError` for another
    error."""
    if client is None:
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.get(_run_url(url, run_id), **request)
    else:
        response = await client.get(_run_url(url, run_id), **request)
    return _run_info(response, url, run_id)


def get_run_sync(
    url: str, run_id: str, *, client: httpx.Client | None = None, **request: Any
) -> RunInfo:
    """:func:`get_run`, blocking."""
    if client is None:
        with httpx.Client(timeout=30) as http:
            response = http.get(_run_url(url, run_id), **request)
    else:
        response = client.get(_run_url(url, run_id), **request)
    return _run_info(response, url, run_id)
