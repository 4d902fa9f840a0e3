"""Wire protocols: each module turns chunks into the bytes one kind of frontend reads.

A protocol module holds everything about one protocol: its encoder (chunks to text, incremental
and pure: the same chunks and the same :class:`~streambridge.RunInput` give the same text), its
media type, headers and keepalive, its request parser (the POST body its client sends, into a
``RunInput``) and its decoder (events back to chunks, for :mod:`streambridge.client`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from typing import Protocol as _Protocol

from ..chunks import Chunk
from ..exceptions import RequestError
from ..input import RunInput

__all__ = [
    "SIDE_CHANNEL_KEY",
    "Decoded",
    "Decoder",
    "Encoder",
    "RequestError",
    "StreamEnd",
    "WireProtocol",
    "get_protocol",
    "protocol_names",
]


SIDE_CHANNEL_KEY = "streambridge"
"""The one key under which a protocol carries what it has no field of its own for (results,
sources, state, a step's usage...): a top-level object on an OpenAI chat chunk, a run's
``metadata`` entry on Assistants, an event's ``metadata`` object on AG-UI, ``providerMetadata``
on the UI message stream.  Each decoder reads it back from there."""


class Encoder(_Protocol):
    """Chunk-by-chunk encoder for one stream.  Create one per stream: it keeps the stream's
    running state (open tool calls, usage, whether an error happened)."""

    def encode(self, chunk: Chunk) -> str:
        """The text for one chunk (possibly ``""``), framed for HTTP (SSE events or lines)."""

    def finish(self) -> str:
        """The text that ends a complete stream (the protocol's finish and terminator)."""


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """How a decoded stream said its message ended: finish reason and total usage.

    ``finish_reason`` uses the chunk vocabulary (``"stop"``, ``"tool-calls"``, ``"length"``,
    ``"error"``, ...), whatever spelling the protocol has on the wire.
    """

    finish_reason: str | None = None
    """Why the message ended, in the chunk vocabulary; ``None`` where the stream did not say."""
    input_tokens: int | None = None
    """Tokens the model took in, where the stream reported usage."""
    output_tokens: int | None = None
    """Tokens the model gave out, where the stream reported usage."""


Decoded = Chunk | StreamEnd
"""What a decoder gives back: chunks, and at the end the stream's :class:`StreamEnd`."""


class Decoder(_Protocol):
    """Event-by-event decoder for one stream (the inverse of an :class:`Encoder`).

    The framing is already undone: for SSE protocols an event is its ``event:`` name (or
    ``None``) and its ``data:`` text; for line protocols the event is ``None`` and the data is
    one line.  A decoder raises ``ValueError`` on an event its protocol does not allow.
    """

    def decode(self, event: str | None, data: str) -> list[Decoded]:
        """The chunks one event carries (possibly none)."""

    def close(self) -> list[Decoded]:
        """Whatever the end of the byte stream implies (possibly nothing)."""


@dataclass(frozen=True)
class WireProtocol:
    """What a transport and a client need to know to carry one protocol."""

    name: str
    media_type: str
    framing: Literal["sse", "lines"]
    """``"sse"``: ``text/event-stream`` events; ``"lines"``: one event per ``\\n``-ended line."""
    new_encoder: Callable[[RunInput], Encoder]
    parse_request: Callable[[Any], RunInput]
    """The JSON-decoded POST body this protocol's client sends, as a ``RunInput``; raises
    :class:`~streambridge.RequestError` (a 4xx) when the body has the wrong shape."""
    new_decoder: Callable[[], Decoder]
    keepalive: bytes
    """Harmless bytes that keep an idle connection alive."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """The protocol's own response headers (besides ``content-type``)."""
    event_ids: bool = False
    """Whether its client reads an SSE ``id:`` line per event (a stored run's readers get one,
    to resume with ``Last-Event-ID``); some strict clients do not, so it is opt-in."""
    run_object: Callable[[RunInput, list[Chunk], str], dict[str, Any]] | None = None
    """The protocol's own object for a stored run, from its input, its chunks so far and its
    status (``running``, ``done``, ``error``, ``cancelled``): what its client reads when it
    retrieves or cancels a run (a Responses API ``Response``); ``None``: the generic status."""


_REGISTRY: dict[str, WireProtocol] = {}

_MODULES = (
    "data_stream",
    "assistant_transport",
    "ui_message_stream",
    "openai_chat",
    "openai_responses",
    "openai_assistants",
    "ag_ui",
)


def register(protocol: WireProtocol) -> WireProtocol:
    _REGISTRY[protocol.name] = protocol
    return protocol


def protocol_names() -> list[str]:
    """The names ``protocol=`` accepts."""
    _load()
    return sorted(_REGISTRY)


def get_protocol(name: str) -> WireProtocol:
    """The protocol called ``name``; ``ValueError`` naming the known ones otherwise."""
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(repr(n) for n in sorted(_REGISTRY))
        raise ValueError(f"unknown protocol {name!r}; known protocols: {known}") from None


def _load() -> None:
    if len(_REGISTRY) < len(_MODULES):
        for module in _MODULES:
            importlib.import_module(f"{__name__}.{module}")  # each registers itself
