"""The WebSocket envelope: the frames of the AI SDK WebSocket chat transport, for every protocol.

From the client (JSON text frames):

``{"type": "send", "requestId": ..., "protocol"?: ..., "body"?: {...}, ...request fields}``
    Start a run.  The request body is ``body`` with the other fields on top, as the AI SDK's
    HTTP transport merges them (``id``, ``messages``, ``trigger``, ``messageId``), so a frame
    carries exactly what the protocol's HTTP POST body would.  ``headers`` and ``metadata`` are
    envelope data, not body.  ``protocol`` picks one as ``?protocol=`` does over HTTP.
``{"type": "abort", "requestId": ...}``
    Cancel the run (any current run when ``requestId`` is missing).
``{"type": "resume", "requestId": ..., "id"?: chatId, "runId"?: ..., "lastSequence"?: N}``
    Reattach to the chat's running run (or the run ``runId``) on a host that keeps runs: its
    events from the start, or those after sequence ``N``; ``{"type": "no-active"}`` when there
    is none.

From the server:

``{"type": "no-active", "requestId"}`` answers a ``resume`` with nothing to resume;
``{"type": "start", "requestId"}``, then ``{"type": "chunk", "requestId", "sequence", "chunk"}``
per protocol event (``sequence`` counts from 0 without gaps), then ``{"type": "end",
"requestId"}``; ``{"type": "error", "requestId", "errorText"}`` refuses a frame.  For an SSE
protocol a ``chunk`` is the event's JSON data (what AI SDK clients expect) and a named event's
name rides along as ``"event"``; data that is not JSON travels as a string with ``"raw": true``.
For a line protocol a ``chunk`` is the line.  SSE's ``[DONE]`` sentinel is not sent: the ``end``
frame says the same, and AI SDK clients accept only real chunks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from .._jsonlib import dumps
from .errors import HTTPError
from .events import Event
from .request import decode_json

__all__ = [
    "Abort",
    "ClientFrame",
    "EnvelopeError",
    "Resume",
    "Send",
    "chunk_event",
    "chunk_frame",
    "end_frame",
    "error_frame",
    "no_active_frame",
    "parse_client_frame",
    "start_frame",
]

_DONE = "[DONE]"
_ENVELOPE_FIELDS = frozenset({"type", "requestId", "protocol", "body", "headers", "metadata"})


# -- from the server -----------------------------------------------------------------------------


def start_frame(request_id: str, run_id: str | None = None) -> str:
    """A run's first frame; ``run_id`` where the host keeps its runs, so that a client that
    loses the connection can ``resume`` it by id (clients ignore fields they do not know: the
    AI SDK's WebSocket transport reads only ``type`` and ``requestId`` here)."""
    frame = {"type": "start", "requestId": request_id}
    if run_id is not None:
        frame["runId"] = run_id
    return dumps(frame)


def end_frame(request_id: str) -> str:
    return dumps({"type": "end", "requestId": request_id})


def no_active_frame(request_id: str) -> str:
    return dumps({"type": "no-active", "requestId": request_id})


def error_frame(request_id: str, message: str) -> str:
    return dumps({"type": "error", "requestId": request_id, "errorText": message})


def chunk_frame(request_id: str, sequence: int, event: Event, framing: str) -> str | None:
    """The frame for one event, or ``None`` for an event the envelope does not carry."""
    frame: dict[str, Any] = {"type": "chunk", "requestId": request_id, "sequence": sequence}
    if framing == "sse":
        if event.data == _DONE:
            return None
        if event.name is not None:
            frame["event"] = event.name
        try:
            frame["chunk"] = json.loads(event.data)
            return _sendable(dumps(frame))
        except (ValueError, RecursionError):
            # Not JSON, or nested too deep to parse again: the event's text as it is.
            frame["chunk"] = event.data
            frame["raw"] = True
    else:
        frame["chunk"] = event.data
    return _sendable(dumps(frame))


def _sendable(text: str) -> str:
    """``text`` as a WebSocket can send it: UTF-8, so a lone surrogate (which can only sit
    inside a JSON string here) becomes its ``\\uXXXX`` escape, the same code unit once decoded."""
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode()
    return text


def chunk_event(frame: dict[str, Any], framing: Literal["sse", "lines"]) -> Event:
    """The protocol event a ``chunk`` frame carries (the inverse of :func:`chunk_frame`), e.g. to
    feed a protocol's decoder on the client side."""
    chunk = frame["chunk"]
    if framing == "lines" or frame.get("raw"):
        return Event(frame.get("event"), str(chunk))
    return Event(frame.get("event"), dumps(chunk))


# -- from the client -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    request_id: str
    body: dict[str, Any] = field(default_factory=dict)
    """What the protocol's HTTP POST body would be."""
    protocol: str | None = None


@dataclass(frozen=True, slots=True)
class Abort:
    request_id: str | None


@dataclass(frozen=True, slots=True)
class Resume:
    request_id: str
    chat_id: str | None = None
    run_id: str | None = None
    last_sequence: int = -1
    """The last ``chunk`` sequence the client has (-1: none)."""
    protocol: str | None = None


ClientFrame = Send | Abort | Resume


class EnvelopeError(Exception):
    """A client frame that cannot be served; answered with an ``error`` frame."""

    def __init__(self, request_id: str, message: str) -> None:
        super().__init__(message)
        self.request_id = request_id
        self.message = message


def parse_client_frame(message: str | bytes, max_bytes: int) -> ClientFrame:
    """Read one client frame; :class:`EnvelopeError` says what is wrong with a bad one."""
    size = len(message) if isinstance(message, bytes) else len(message.encode())
    if size > max_bytes:
        raise EnvelopeError("", f"the frame is larger than the {max_bytes} bytes accepted here")
    try:
        # The checks of an HTTP body: strict JSON, finite numbers, bounded nesting, no
        # '__proto__' key.
        data = message if isinstance(message, bytes) else message.encode("utf-8", "surrogatepass")
        frame = decode_json(data)
    except HTTPError as exc:
        raise EnvelopeError("", exc.message.replace("the request body", "the frame")) from None
    if not isinstance(frame, dict):
        raise EnvelopeError("", "a frame must be a JSON object with a 'type'")
    request_id = frame.get("requestId")
    kind = frame.get("type")
    if kind == "abort":
        if request_id is not None and not isinstance(request_id, str):
            raise EnvelopeError("", "'requestId' must be a string")
        return Abort(request_id)
    if not isinstance(request_id, str) or not request_id:
        raise EnvelopeError("", f"a {kind!r} frame needs a non-empty string 'requestId'")
    if kind == "resume":
        return _resume(frame, request_id)
    if kind != "send":
        raise EnvelopeError(
            request_id, f"unknown frame type {kind!r}; expected 'send', 'abort' or 'resume'"
        )
    return _send(frame, request_id)


def _resume(frame: dict[str, Any], request_id: str) -> Resume:
    chat_id, run_id, protocol = frame.get("id"), frame.get("runId"), frame.get("protocol")
    last = frame.get("lastSequence", -1)
    if last is None:
        last = -1
    for name, value in (("id", chat_id), ("runId", run_id), ("protocol", protocol)):
        if value is not None and not isinstance(value, str):
            raise EnvelopeError(request_id, f"{name!r} must be a string")
    if isinstance(last, bool) or not isinstance(last, int) or last < -1:
        raise EnvelopeError(request_id, "'lastSequence' must be a whole number, 0 or more")
    if chat_id is None and run_id is None:
        raise EnvelopeError(request_id, "a 'resume' frame names the chat ('id') or the 'runId'")
    return Resume(request_id, chat_id, run_id, last, protocol)


def _send(frame: dict[str, Any], request_id: str) -> Send:
    body = frame.get("body")
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise EnvelopeError(request_id, "'body' must be a JSON object")
    protocol = frame.get("protocol")
    if protocol is not None and not isinstance(protocol, str):
        raise EnvelopeError(request_id, "'protocol' must be a string")
    request = {**body, **{k: v for k, v in frame.items() if k not in _ENVELOPE_FIELDS}}
    return Send(request_id, request, protocol)
