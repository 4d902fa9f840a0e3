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

__all__ = ["dumps", "dumps_str", "loads"]

dumps: Callable[[Any], str] = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False
).encode
"""Compact JSON text of a value; raises ``ValueError`` for NaN/Infinity, ``TypeError`` for
anything JSON cannot hold."""

dumps_str: Callable[[str], str] = json.encoder.encode_basestring
"""JSON text of a ``str`` (the fast path for text deltas)."""

loads: Callable[[str | bytes], Any] = json.loads
