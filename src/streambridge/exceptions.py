"""Exceptions a user of streambridge can meet."""

from __future__ import annotations

__all__ = ["BufferOverflowError", "RequestError", "RunError"]


class RunError(Exception):
    """Raise it in a run to end the run with a message the user may see.

    Any other exception is logged with its traceback and reaches the client only as a generic
    message, so server internals never leak.
    """


class BufferOverflowError(RuntimeError):
    """The client read too slowly: what the stream holds unsent reached ``max_buffered`` chunks
    or ``max_buffered_bytes`` bytes.

    Raised at the controller call; the run then ends and the client gets a generic error (the
    explanation stays in the server log).
    """


class RequestError(ValueError):
    """A request body that is not what the protocol's client sends.

    Its message says what is wrong and is safe to show the client (hosts answer it with a 4xx
    and ``{"error": {"message": ...}}``).
    """
