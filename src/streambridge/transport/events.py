"""Cut a protocol's encoded bytes into single events, by its framing alone.

The WebSocket envelope carries one protocol event per message, so the HTTP framing is undone
here: an SSE stream is cut into events (``event:`` name and ``data:`` text, comments such as the
keepalive dropped), a line protocol into its non-empty lines.  Nothing here knows a protocol by
name: :attr:`WireProtocol.framing` says everything needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Event", "EventSplitter", "event_text"]


@dataclass(frozen=True, slots=True)
class Event:
    """One protocol event: for SSE its ``event:`` name (or ``None``) and ``data:`` text; for a
    line protocol ``name`` is ``None`` and ``data`` is the line."""

    name: str | None
    data: str


class EventSplitter:
    """Feed it a stream's bytes in order; it returns the complete events in them.

    An encoder's items always end at an event boundary, but a partial event is kept for the next
    feed all the same, so the splitter never depends on how the bytes were cut.
    """

    def __init__(self, framing: Literal["sse", "lines"]) -> None:
        if framing not in ("sse", "lines"):
            raise ValueError(f"unknown framing {framing!r}")
        self._sse = framing == "sse"
        self._pending = ""

    def feed(self, data: bytes) -> list[Event]:
        text = self._pending + data.decode()
        if self._sse:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            *blocks, self._pending = text.split("\n\n")
            return [event for block in blocks if (event := _sse_event(block)) is not None]
        *lines, self._pending = text.split("\n")
        return [Event(None, line) for line in (line.removesuffix("\r") for line in lines) if line]


def _sse_event(block: str) -> Event | None:
    """One SSE block as an event; ``None`` for a block with no data (a comment, a keepalive)."""
    name: str | None = None
    data: list[str] = []
    for line in block.split("\n"):
        if not line or line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value or None
        elif field == "data":
            data.append(value)
    if not data:
        return None
    return Event(name, "\n".join(data))


def event_text(event: Event, framing: Literal["sse", "lines"]) -> str:
    """An event framed for HTTP again: what a client that reads bytes would have received."""
    if framing == "lines":
        return event.data + "\n"
    head = "" if event.name is None else f"event: {event.name}\n"
    return head + "".join(f"data: {line}\n" for line in event.data.split("\n")) + "\n"
