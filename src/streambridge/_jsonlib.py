"""The one place streambridge turns values into JSON text: the standard library.

Measured in ``benchmarks/json_libraries.py``: for strings, the bulk of every stream, the C
``encode_basestring`` is as fast per frame as orjson or msgspec; for dicts they are ~10x faster,
so the encoders build their hottest dict frames from string encodes instead.  What decides it:
``allow_nan=False`` refuses NaN and Infinity, which orjson and msgspec silently turn into
``null``, and no dependency is added to the core.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["dumps", "dumps_str", "json_text", "loads"]

_encode: Callable[[Any], str] = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False
).encode
_encode_str: Callable[[str], str] = json.encoder.encode_basestring


def dumps(value: Any) -> str:
    """Compact JSON text of a value; raises ``ValueError`` for NaN/Infinity, ``TypeError`` for
    anything JSON cannot hold."""
    return _one_line(_encode(value))


def json_text(value: Any) -> str:
    """:func:`dumps` for JSON that travels as a string's content (a tool's error text): the
    frame around it escapes what a line-based reader needs, and escaping here too would change
    the text the client reads."""
    return _encode(value)


def dumps_str(text: str) -> str:
    """JSON text of a ``str`` (the fast path for text deltas)."""
    text = _encode_str(text)
    return text if text.isascii() else _one_line(text)  # (a call less a token, mostly)


def _one_line(text: str) -> str:
    """``text`` with U+2028, U+2029 and U+0085 escaped.  JSON allows them raw, but Python's
    ``str.splitlines`` (and so a line-based reader) breaks a line at each.  They can only sit
    inside JSON strings, where the escape is the same character; an ASCII text (the usual
    case, and an O(1) check) has none."""
    if text.isascii():
        return text
    if "\u2028" in text:
        text = text.replace("\u2028", "\\u2028")
    if "\u2029" in text:
        text = text.replace("\u2029", "\\u2029")
    if "\x85" in text:
        text = text.replace("\x85", "\\u0085")
    return text


loads: Callable[[str | bytes], Any] = json.loads
