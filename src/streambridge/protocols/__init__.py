"""Wire protocols: each module turns chunks into the bytes one kind of frontend reads.

A protocol is registered here under its ``protocol=`` name.  Its encoder is incremental and pure:
the same chunks always give the same text, so a second subscriber that replays a run's chunks
gets the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol as _Protocol

from ..chunks import Chunk

__all__ = ["Encoder", "WireProtocol", "get_protocol", "protocol_names"]


class Encoder(_Protocol):
    """Chunk-by-chunk encoder for one stream.  Create one per stream: it keeps the stream's
    running state (open tool calls, usage, whether an error happened)."""

    def encode(self, chunk: Chunk) -> str:
        """The text for one chunk (possibly ``""``)."""

    def finish(self) -> str:
        """The text that ends a complete stream (the protocol's finish and terminator)."""


@dataclass(frozen=True)
class WireProtocol:
    """What a transport needs to know to carry one protocol."""

    name: str
    media_type: str
    new_encoder: Callable[[], Encoder]
    keepalive: bytes
    """Harmless bytes that keep an idle connection alive."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """The protocol's own response headers (besides ``content-type``)."""


_REGISTRY: dict[str, WireProtocol] = {}


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
    from . import data_stream  # noqa: F401  (registers itself)
