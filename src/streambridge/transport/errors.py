"""What a host answers instead of a stream: a status and a JSON ``{"error": {"message": ...}}``.

Every refusal is a client error the client can read and fix; nothing here ever carries a
traceback or a server-side detail.
"""

from __future__ import annotations

from collections.abc import Mapping

from .._jsonlib import dumps

__all__ = ["SHUTDOWN_MESSAGE", "ClientDisconnected", "HTTPError"]

SHUTDOWN_MESSAGE = "The server is shutting down. Please try again."
"""What a client sees in its stream when the host ends it for a shutdown."""


class HTTPError(Exception):
    """A request the host refuses, with the status, message and headers to answer it with."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> bytes:
        return dumps({"error": {"message": self.message}}).encode()


class ClientDisconnected(Exception):
    """The client went away before its request was read: there is no one to answer."""
