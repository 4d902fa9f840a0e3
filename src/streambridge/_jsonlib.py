"""The one place streambridge turns values into JSON text.

The standard library wins here (see ``benchmarks/``): text deltas, the bulk of every stream, are
a single C call to ``encode_basestring``, and ``allow_nan=False`` refuses NaN and Infinity, which
no JavaScript client can parse.
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
