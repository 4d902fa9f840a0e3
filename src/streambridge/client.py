"""Read any streambridge protocol back: bytes, an httpx response or a URL, into chunks and one
final message.

Needs the ``client`` extra (``pip install 'streambridge[client]'``): httpx reads the bytes,
httpx-sse undoes SSE framing and jiter parses tool-call arguments that are still streaming.

>>> message = await fetch_message("http://127.0.0.1:8000/api/chat", protocol="data-stream",
...                               json={"messages": [{"role": "user", "content": "Hi"}]})
>>> message.text, message.tool_calls, message.state, message.finish_reason, message.usage
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

try:
    import httpx
    import httpx_sse
    import jiter
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "streambridge.client needs the client extra: pip install 'streambridge[client]'"
    ) from exc

from .chunks import (
    Annotations,
    Data,
    Error,
    File,
    ReasoningDelta,
    Source,
    StateUpdate,
    StepFinish,
    StepStart,
    TextDelta,
    ToolCallArgsDelta,
    ToolCallArgsFinish,
    ToolCallBegin,
    ToolResult,
)
from .protocols import Decoded, Decoder, StreamEnd, WireProtocol, get_protocol
from .protocols._tally import RunTally
from .state import apply_operation, copy_json

__all__ = [
    "DataPart",
    "FilePart",
    "Message",
    "MessageAccumulator",
    "ReasoningPart",
    "SourcePart",
    "TextPart",
    "ToolCallPart",
    "Usage",
    "accumulate",
    "aiter_chunks",
    "decode",
    "fetch_message",
    "iter_chunks",
    "stream_chunks",
]


# -- the final message ---------------------------------------------------------------------


@dataclass
class TextPart:
    text: str
    parent_id: str | None = None


@dataclass
class ReasoningPart:
    text: str
    parent_id: str | None = None


@dataclass
class ToolCallPart:
    tool_call_id: str
    tool_name: str
    args_text: str = ""
    args_complete: bool = False
    has_result: bool = False
    result: Any = None
    artifact: Any = None
    is_error: bool = False
    parent_id: str | None = None

    @property
    def args(self) -> Any:
        """The arguments parsed so far: complete JSON once the call's arguments are closed, the
        longest valid prefix while they still stream (``{}`` before any text)."""
        if not self.args_text.strip():
            return {}
        return jiter.from_json(self.args_text.encode(), partial_mode="trailing-strings")


@dataclass
class SourcePart:
    id: str
    url: str
    title: str | None = None
    source_type: str = "url"
    parent_id: str | None = None


@dataclass
class FilePart:
    data: str
    mime_type: str
    parent_id: str | None = None


@dataclass
class DataPart:
    data: Any
    name: str | None = None


Part = TextPart | ReasoningPart | ToolCallPart | SourcePart | FilePart | DataPart


@dataclass
class Usage:
    input_tokens: int
    output_tokens: int


@dataclass
class Message:
    """An assistant message as the stream built it."""

    parts: list[Part] = field(default_factory=list)
    state: Any = None
    finish_reason: str | None = None
    """``None`` when the stream ended without saying how (it was cut off)."""
    usage: Usage | None = None
    errors: list[str] = field(default_factory=list)
    steps: list[StepFinish] = field(default_factory=list)
    annotations: list[Any] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def reasoning(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, ReasoningPart))

    @property
    def tool_calls(self) -> list[ToolCallPart]:
        return [p for p in self.parts if isinstance(p, ToolCallPart)]

    @property
    def sources(self) -> list[SourcePart]:
        return [p for p in self.parts if isinstance(p, SourcePart)]

    @property
    def files(self) -> list[FilePart]:
        return [p for p in self.parts if isinstance(p, FilePart)]

    @property
    def data(self) -> list[DataPart]:
        return [p for p in self.parts if isinstance(p, DataPart)]


class MessageAccumulator:
    """Builds a :class:`Message` from decoded chunks, one at a time."""

    def __init__(self, state: Any = None) -> None:
        self.message = Message(state=copy_json(state))
        self._tool_calls: dict[str, ToolCallPart] = {}
        self._tally = RunTally()

    def add(self, item: Decoded) -> None:
        message, parts = self.message, self.message.parts
        if isinstance(item, TextDelta | ReasoningDelta):
            kind = TextPart if isinstance(item, TextDelta) else ReasoningPart
            last = parts[-1] if parts else None
            if type(last) is kind and last.parent_id == item.parent_id:
                last.text += item.text
            else:
                parts.append(kind(item.text, item.parent_id))
        elif isinstance(item, ToolCallBegin):
            call = ToolCallPart(item.tool_call_id, item.tool_name, parent_id=item.parent_id)
            self._tool_calls[item.tool_call_id] = call
            parts.append(call)
            self._tally.tool_call(item.tool_call_id)
        elif isinstance(item, ToolCallArgsDelta):
            self._call(item.tool_call_id).args_text += item.text
        elif isinstance(item, ToolCallArgsFinish):
            self._call(item.tool_call_id).args_complete = True
        elif isinstance(item, ToolResult):
            call = self._call(item.tool_call_id)
            call.args_complete = call.has_result = True
            call.result, call.artifact, call.is_error = item.result, item.artifact, item.is_error
            self._tally.tool_result(item.tool_call_id)
        elif isinstance(item, Source):
            parts.append(
                SourcePart(item.id, item.url, item.title, item.source_type, item.parent_id)
            )
        elif isinstance(item, File):
            parts.append(FilePart(item.data, item.mime_type, item.parent_id))
        elif isinstance(item, Data):
            parts.append(DataPart(item.data, item.name))
        elif isinstance(item, Annotations):
            message.annotations.extend(item.annotations)
        elif isinstance(item, Error):
            message.errors.append(item.message)
            self._tally.error()
        elif isinstance(item, StepFinish):
            message.steps.append(item)
            self._tally.step_finish(item.finish_reason, item.input_tokens, item.output_tokens)
        elif isinstance(item, StateUpdate):
            for operation in item.operations:
                # A copy: later operations change the state in place, never the chunk's value.
                message.state = apply_operation(message.state, copy.deepcopy(operation))
        elif isinstance(item, StreamEnd):
            message.finish_reason = item.finish_reason
            if item.input_tokens is not None or item.output_tokens is not None:
                message.usage = Usage(item.input_tokens or 0, item.output_tokens or 0)
        elif not isinstance(item, StepStart):
            raise TypeError(f"not a chunk: {item!r}")

    def _call(self, tool_call_id: str) -> ToolCallPart:
        try:
            return self._tool_calls[tool_call_id]
        except KeyError:
            raise ValueError(
                f"the stream used tool call {tool_call_id!r} before starting it"
            ) from None

    def end(self) -> Message:
        """Finish a stream that carries no end of its own (raw chunks from ``create_run``): the
        finish reason and usage every encoder would have sent."""
        if self.message.finish_reason is None:
            tally = self._tally
            self.message.finish_reason = tally.finish_reason()
            self.message.usage = Usage(tally.input_tokens, tally.output_tokens)
        return self.message


def accumulate(items: Iterable[Decoded], *, state: Any = None, complete: bool = False) -> Message:
    """The message ``items`` build.  ``complete=True`` for a whole run's raw chunks, which carry
    no end of their own: the finish reason and usage are then tallied as the encoders do."""
    accumulator = MessageAccumulator(state)
    for item in items:
        accumulator.add(item)
    return accumulator.end() if complete else accumulator.message


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


async def stream_chunks(
    url: str,
    *,
    protocol: str,
    json: Any = None,
    client: httpx.AsyncClient | None = None,
    **request: Any,
) -> AsyncIterator[Decoded]:
    """POST ``json`` to ``url`` and decode the streamed answer in ``protocol``.

    An HTTP error status raises :class:`httpx.HTTPStatusError` before any chunk.
    """
    own_client = client is None
    http = httpx.AsyncClient(timeout=None) if client is None else client
    try:
        async with http.stream("POST", url, json=json, **request) as response:
            if response.is_error:
                await response.aread()
                response.raise_for_status()
            async for item in aiter_chunks(response, protocol):
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
    **request: Any,
) -> Message:
    """POST ``json`` to ``url`` and return the message the streamed answer builds."""
    accumulator = MessageAccumulator(state)
    async for item in stream_chunks(url, protocol=protocol, json=json, client=client, **request):
        accumulator.add(item)
    return accumulator.message
