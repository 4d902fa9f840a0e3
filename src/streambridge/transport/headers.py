"""The headers of a stream response and of an error response.

A stream gets its protocol's content type and headers, plus ``Cache-Control: no-store`` (no cache
may replay a run) and ``X-Accel-Buffering: no`` (nginx must not hold the bytes back).  Hop-by-hop
headers such as ``Connection`` are the server's business, and forbidden in HTTP/2, so one a
protocol lists is dropped.
"""

from __future__ import annotations

from ..protocols import WireProtocol
from .errors import HTTPError

__all__ = ["RUN_ID_HEADER", "error_headers", "stream_headers"]

RUN_ID_HEADER = "x-resumable-stream-id"
"""On a stream of a run a host keeps (``store=``): the id to attach to the run by, or to stop it
with, from another request (assistant-ui's resume reads it)."""

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "te",
        "trailer",
        "content-length",  # a stream has no length; the server frames it
    }
)

_STREAM_POLICY = {"cache-control": "no-store", "x-accel-buffering": "no"}


def stream_headers(protocol: WireProtocol, run_id: str | None = None) -> list[tuple[str, str]]:
    """Lower-case ``(name, value)`` pairs for a response streaming ``protocol``; ``run_id``
    for a stream of a stored run (:data:`RUN_ID_HEADER`)."""
    headers = {"content-type": protocol.media_type}
    for name, value in protocol.headers.items():
        key = name.lower()
        if key not in _HOP_BY_HOP and key != "content-type":
            headers[key] = value
    headers.update(_STREAM_POLICY)
    if run_id is not None:
        headers[RUN_ID_HEADER] = run_id
    return list(headers.items())


def error_headers(error: HTTPError, body_length: int) -> list[tuple[str, str]]:
    """Lower-case ``(name, value)`` pairs for the JSON answer to ``error`` (its
    :meth:`~.errors.HTTPError.reply`'s), for a host that sends a body of ``body_length`` bytes."""
    headers = dict(error.reply().headers())
    headers["content-length"] = str(body_length)
    return list(headers.items())
