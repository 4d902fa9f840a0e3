"""Read any streambridge protocol back: bytes, an httpx response or a URL, into chunks and one
final message.

Needs the ``client`` extra (``pip install 'streambridge[client]'``): httpx reads the bytes,
httpx-sse undoes SSE framing and jiter parses tool-call arguments that are still streaming.

>>> message = await fetch_message("http://127.0.0.1:8000/api/chat", protocol="data-stream",
...                               json={"messages": [{"role": "user", "content": "Hi"}]})
>>> message.text, message.tool_calls, message.state, message.finish_reason, message.usage
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

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
from .protocols import Decoded, Decoder, WireProtocol, get_protocol

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
