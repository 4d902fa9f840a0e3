"""What a host answers instead of a stream: a :class:`Reply`, a status and its JSON.

A refusal (:class:`HTTPError`) is answered with ``{"error": {"message": ...}}``: a client error
the client can read and fix; nothing here ever carries a traceback or a server-side detail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._jsonlib import dumps

__all__ = ["SHUTDOWN_MESSAGE", "ClientDisconnected", "HTTPError", "Reply"]

SHUTDOWN_MESSAGE = "The server is shutting down. Please try again."
"""What a client sees in its stream when the host ends it for a shutdown."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A JSON answer (``payload`` ``None``: no body, as a 204), with any ``extra_headers``."""

    status: int
    payload: Any = None
    extra_headers: tuple[tuple[str, str], ...] = ()

    def body(self) -> bytes:
        return b"" if self.payload is None else dumps(self.payload).encode()

    def headers(self) -> list[tuple[str, str]]:
        """Lower-case ``(name, value)`` pairs (a HEAD's too: the length is the body's it omits)."""
        headers = {"cache-control": "no-store"}
        if self.payload is not None:
            headers["content-type"] = "application/json"
            headers["content-length"] = str(len(self.body()))
        for name, value in self.extra_headers:
            headers[name.lower()] = value
        return list(headers.items())


class HTTPError(Exception):
    """A request the host refuses, with the status, message and headers to answer it with."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> bytes:
        return self.reply().body()

    def reply(self) -> Reply:
        """The answer to this refusal."""
        payload = {"error": {"message": self.message}}
        return Reply(self.status, payload, tuple(self.headers.items()))


class ClientDisconnected(Exception):
    """The client went away before its request was read: there is no one to answer."""
