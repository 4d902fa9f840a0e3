"""From a request to a run: the method, the protocol asked for, the body read within its limit,
then parsed by the protocol into a ``RunInput``.

Each step raises :class:`HTTPError` with the status a client should see: 405 for a method other
than POST or HEAD, 400 for an unknown or unoffered protocol or a body that is not JSON, 413 for a
body over ``max_body_bytes``, 408 for a body read on a thread that takes longer than
``body_timeout``, 422 for JSON that is not what the protocol's client sends.
"""

from __future__ import annotations

import json
import logging
import math
import socket
from collections.abc import AsyncIterable, Callable
from functools import partial
from typing import Any
from urllib.parse import parse_qs

from ..exceptions import RequestError
from ..input import RunInput
from ..protocols import WireProtocol, get_protocol
from ..state import StateError, copy_json
from .deadline import BodyDeadline
from .errors import HTTPError
from .options import StreamOptions

__all__ = [
    "ALLOWED_METHODS",
    "check_content_length",
    "check_method",
    "check_request",
    "decode_json",
    "input_from_body",
    "parse_input",
    "protocol_from_query",
    "query_value",
    "read_limited",
    "read_limited_blocking",
    "read_request_blocking",
    "select_protocol",
]

logger = logging.getLogger("streambridge")

ALLOWED_METHODS = ("POST", "HEAD")
"""POST starts a run; HEAD answers the stream's headers (a client probing what it will get)."""


def check_method(method: str) -> None:
    if method not in ALLOWED_METHODS:
        raise HTTPError(
            405,
            f"method {method} is not allowed here: POST a request body to start a run",
            {"Allow": ", ".join(ALLOWED_METHODS)},
        )


def protocol_from_query(query_string: bytes | str) -> str | None:
    """The ``protocol`` query parameter (the last one given), or ``None``."""
    return query_value(query_string, "protocol")


def query_value(query_string: bytes | str, name: str) -> str | None:
    """The query parameter ``name`` (the last one given), or ``None``."""
    if not query_string:
        return None  # most requests: no query at all
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")
    values = parse_qs(query_string, keep_blank_values=True).get(name)
    return values[-1] if values else None


def select_protocol(options: StreamOptions, requested: str | None) -> WireProtocol:
    """The protocol asked for (``None`` or ``""``: the host's default), if the host offers it."""
    name = requested or options.protocol
    if not options.offers(name):
        offered = ", ".join(options.offered())
        raise HTTPError(400, f"protocol {name!r} is not offered here; choose one of: {offered}")
    try:
        return get_protocol(name)
    except ValueError:
        offered = ", ".join(options.offered())
        raise HTTPError(400, f"unknown protocol {name!r}; choose one of: {offered}") from None


def check_content_length(value: str | None, limit: int) -> None:
    """Refuse a body over ``limit`` before reading it, when the client declared its length."""
    if value is not None and value.strip().isdigit() and int(value) > limit:
        raise _too_large(limit)


async def read_limited(chunks: AsyncIterable[bytes], limit: int) -> bytes:
    """The whole body, refused with a 413 as soon as it grows over ``limit`` bytes (a client
    may send a length it does not keep to, or none at all)."""
    parts: list[bytes] = []
    size = 0
    iterator = aiter(chunks)
    try:
        async for chunk in iterator:
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            parts.append(chunk)
    finally:
        # A body given up half read is closed here, not left to the garbage collector (trio
        # reports an async generator it has to finalise).
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
    return b"".join(parts)


def read_limited_blocking(
    read: Callable[[int], bytes],
    limit: int,
    *,
    timeout: float | None = None,
    connection: socket.socket | None = None,
) -> bytes:
    """:func:`read_limited` for a file-like body read on a thread (``read(size)``, ``b""`` at
    its end), as WSGI servers and frameworks give it: and within ``timeout`` seconds, else a
    408 (see :class:`~streambridge.transport.deadline.BodyDeadline`, which uses
    ``connection``, the client's socket where the server exposes it, to hold the deadline
    during a read too)."""
    if timeout is None:
        return _read_whole(read, limit)
    with BodyDeadline(timeout, connection) as deadline:
        return _read_whole(partial(deadline.read, read), limit)


def _read_whole(read: Callable[[int], bytes], limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while chunk := read(min(_READ_SIZE, limit + 1 - size)):
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        parts.append(chunk)
    return b"".join(parts)


_READ_SIZE = 65_536


def check_request(
    options: StreamOptions,
    *,
    method: str,
    query_string: bytes | str,
    content_length: str | None,
    closing: bool,
) -> tuple[WireProtocol, bool]:
    """Every check a request gets before its body is read, in the order every host answers
    them: the method (405), the protocol (400), then for a POST the host's state (503 while
    ``closing``) and the declared length (413).  The protocol, and whether a body follows (not
    for a HEAD, which answers headers only)."""
    check_method(method)
    protocol = select_protocol(options, protocol_from_query(query_string))
    if method == "HEAD":
        return protocol, False
    if closing:
        raise HTTPError(503, "the server is shutting down; try again", {"Retry-After": "1"})
    check_content_length(content_length, options.max_body_bytes)
    return protocol, True


def input_from_body(protocol: WireProtocol, body: bytes) -> RunInput:
    """The run's input a body read within its limit holds: its JSON (400) read by the protocol
    (422)."""
    return parse_input(protocol, decode_json(body))


def read_request_blocking(
    options: StreamOptions,
    *,
    method: str,
    query_string: bytes | str,
    content_length: str | None,
    read: Callable[[int], bytes],
    closing: bool = False,
    connection: socket.socket | None = None,
) -> tuple[WireProtocol, RunInput | None]:
    """:meth:`StreamEndpoint.read_request <streambridge.transport.StreamEndpoint.read_request>`
    for a host that reads its request on a thread (``read(size)``, ``b""`` at its end): the
    protocol, and the run's input (``None`` for a HEAD).  ``closing``: the host is shutting
    down, so a POST gets a 503.  The body is read within the options' ``body_timeout`` (a
    408 after it), held during each read too where ``connection``, the client's socket, is
    given."""
    protocol, has_body = check_request(
        options,
        method=method,
        query_string=query_string,
        content_length=content_length,
        closing=closing,
    )
    if not has_body:
        return protocol, None
    body = read_limited_blocking(
        read, options.max_body_bytes, timeout=options.body_timeout, connection=connection
    )
    return protocol, input_from_body(protocol, body)


def _too_large(limit: int) -> HTTPError:
    return HTTPError(413, f"the request body is larger than the {limit} bytes accepted here")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e999: JSON allows it, but no encoder can write it back
        raise _NotFinite(text)
    return value


class _NotFinite(ValueError):
    pass


# One decoder for every request: json.loads() with an option builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)

MAX_DEPTH = 100
"""How deeply a request body may nest: real requests stay far below it, and a deeper one could
only come back out of an encoder as a failure."""

_PROTOTYPE_KEY = "__proto__"


def decode_json(body: bytes) -> Any:
    """The JSON value of a request body (strict: no NaN or Infinity, finite numbers, nested at
    most :data:`MAX_DEPTH` deep, no ``__proto__`` key)."""
    if not body.strip():
        raise HTTPError(400, "the request body is empty: send the run's request as JSON")
    try:
        # As json.loads() reads bytes: UTF-8, -16 or -32, found from the first bytes.
        value = _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except _NotFinite as exc:
        raise HTTPError(400, f"the request body has a number out of range: {exc}") from None
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
        raise HTTPError(400, "the request body is not valid JSON") from None
    _check_shape(value)
    return value


def _check_shape(value: Any) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH` and ``__proto__`` keys, which a JavaScript
    client that merges the state it is sent back would take for the object's prototype."""
    # Exact types and plain loops: a decoded body holds only dicts and lists, and this runs on
    # every request (generator expressions and isinstance() on a union weighed on each).
    level: list[Any] = [value] if type(value) in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            raise HTTPError(400, f"the request body nests deeper than {MAX_DEPTH} levels")
        below: list[Any] = []
        for item in level:
            if type(item) is dict:
                if _PROTOTYPE_KEY in item:
                    raise HTTPError(
                        422,
                        "the request body has a '__proto__' key; rename it (JavaScript "
                        "clients take it for the object's prototype)",
                    )
                item = item.values()
            for child in item:
                if type(child) in _CONTAINERS:
                    below.append(child)
        level = below


_CONTAINERS = frozenset({dict, list})


def parse_input(protocol: WireProtocol, value: Any) -> RunInput:
    """The protocol's reading of a decoded body; a body it refuses is a 422."""
    try:
        run_input = protocol.parse_request(value)
        if run_input.state is not None:
            # What the run would refuse as its initial state (a 'constructor' key, which the
            # client's state rejects as unsafe) is the request's fault: say so, before the run.
            copy_json(run_input.state, "the request's state")
        return run_input
    except (RequestError, StateError) as exc:
        raise HTTPError(422, str(exc)) from None
    except Exception:
        # A parser must raise RequestError; if one trips over an odd body instead, the client
        # still gets a 4xx (and the server log the traceback), never a 500.
        logger.exception("the %s request parser failed on a request body", protocol.name)
        raise HTTPError(422, f"the request body is not a valid {protocol.name} request") from None
