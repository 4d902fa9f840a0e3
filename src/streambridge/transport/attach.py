"""Requests about a run already started: attach to its stream, read its status, stop it.

They are served under the path a host serves runs on, the same for every host, when the host
keeps runs (``store=``):

========================================  =========================================================
``GET  …/runs/{run_id}``                  the run's status, as JSON
``GET  …/runs/{run_id}/stream``           its stream from the start, in its own protocol or
                                          ``?protocol=``; ``?after=N`` or ``Last-Event-ID: N``
                                          resumes after event ``N`` (events count from 0)
``POST …/runs/{run_id}/cancel``           stop it, as a disconnect would
``GET  …/{chat_id}/stream``               the chat's running run from its start (the AI SDK's
                                          resume), ``204`` when it has none
``GET  …/responses/{id}``                 OpenAI Responses: the ``Response`` so far, or with
                                          ``?stream=true&starting_after=N`` its events after ``N``
``POST …/responses/{id}/cancel``          OpenAI Responses: stop it; the cancelled ``Response``
========================================  =========================================================

A run's status (and a cancel's answer) is its protocol's own object where the protocol has one
(OpenAI Responses' ``Response``), else :func:`run_json`.

A run is read or stopped only by a request the host's ``authorize`` hook admits (by default any
request that names it: run ids are 128 random bits); an unknown run and a refused one get the
same 404, so a guess learns nothing.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Literal

import anyio

from ..encoding import EncodedStream
from ..protocols import get_protocol
from ..runs import LogTrimmedError, RunRecord, RunStore, read_run
from .errors import HTTPError, Reply
from .options import StreamOptions
from .request import query_value, select_protocol

__all__ = ["RunRequest", "answer_run_request", "match_run_request", "run_json"]

Action = Literal["status", "stream", "cancel", "resume-chat", "response"]


@dataclass(frozen=True, slots=True)
class RunRequest:
    """A request about a run (or a chat's run) rather than one that starts a run."""

    action: Action
    id: str
    """The run's id; the chat's (thread's) id for ``resume-chat``."""


_ROUTES: dict[tuple[str, ...], tuple[Action, str]] = {
    ("runs", "*"): ("status", "GET"),
    ("runs", "*", "stream"): ("stream", "GET"),
    ("runs", "*", "cancel"): ("cancel", "POST"),
    ("*", "stream"): ("resume-chat", "GET"),
    ("responses", "*"): ("response", "GET"),
    ("responses", "*", "cancel"): ("cancel", "POST"),
}
_RESPONSE_ID = "resp_"  # a Responses API id is the run's with this prefix


def match_run_request(method: str, path: str) -> RunRequest | None:
    """The request about a run that ``method`` and ``path`` (ending in one of the routes above)
    name, or ``None`` for any other request (a POST to start a run, whatever its path)."""
    if method == "HEAD":
        method = "GET"
    segments = path.rstrip("/").split("/")
    for shape, (action, allowed) in _ROUTES.items():
        if method != allowed or len(segments) <= len(shape):
            continue
        tail = segments[-len(shape) :]
        if all(want in ("*", got) and got for want, got in zip(shape, tail, strict=True)):
            run_id = tail[shape.index("*")]
            if shape[0] == "responses":
                run_id = run_id.removeprefix(_RESPONSE_ID)
            return RunRequest(action, run_id)
    return None


def run_json(record: RunRecord) -> dict[str, Any]:
    """What a status request answers: the run's id, chat, status and protocol."""
    return {
        "id": record.run_id,
        "object": "run",
        "thread_id": record.thread_id,
        "status": record.status.value,
        "protocol": record.protocol,
        "created_at": int(record.created_at),
    }


async def answer_run_request(
    run_request: RunRequest,
    options: StreamOptions,
    *,
    query_string: bytes | str,
    last_event_id: str | None,
    request: Any,
    heartbeat: float | None,
) -> EncodedStream | Reply:
    """The stream or the JSON reply for ``run_request``, or :class:`HTTPError`; a stream's
    keepalives come every ``heartbeat`` seconds."""
    store = options.store
    assert store is not None  # only a host that keeps runs serves these requests
    action = run_request.action
    if action == "resume-chat":
        run_id = await store.active_run(run_request.id)
        if run_id is None:
            return Reply(204)
    else:
        run_id = run_request.id
    record = await admitted(
        store, options, run_id, request, "stop" if action == "cancel" else "read"
    )
    if record is None:
        if action == "resume-chat":
            return Reply(204)
        raise HTTPError(404, f"there is no run {run_id!r} here (or it has expired)")
    if action == "cancel":
        if await store.request_stop(run_id):
            await _until_finished(store, run_id)
            record = await store.get(run_id) or record  # a record may be a snapshot (Redis)
        return Reply(200, await _status(store, record))
    if action == "status" or (action == "response" and not _truthy(query_string, "stream")):
        return Reply(200, await _status(store, record))
    protocol = select_protocol(options, query_value(query_string, "protocol") or record.protocol)
    after = query_value(query_string, "starting_after" if action == "response" else "after")
    return await read_run(
        store,
        record,
        protocol,
        heartbeat=heartbeat,
        skip_events=_events_held(after, last_event_id),
    )


async def _status(store: RunStore, record: RunRecord) -> dict[str, Any]:
    """The run's status object: its protocol's own, where it has one."""
    run_object = get_protocol(record.protocol).run_object
    if run_object is None:
        return run_json(record)
    try:
        cursor = await store.read(record.run_id)
        try:
            chunks = cursor.take_batch() or []
        finally:
            await cursor.aclose()
    except (LogTrimmedError, KeyError):  # its start is gone (or it just expired)
        return run_json(record)
    return run_object(record.input, chunks, record.status.value)


_CANCEL_WAIT = 2.0


async def _until_finished(store: RunStore, run_id: str) -> None:
    """Wait (a little) for a run asked to stop to end, so its status says so."""
    with anyio.move_on_after(_CANCEL_WAIT):
        while (record := await store.get(run_id)) is not None and not record.finished:
            try:  # followed from its end: only the end matters here
                cursor = await store.read(run_id, record.length)
                try:
                    while await cursor.next_batch() is not None:
                        pass
                finally:
                    await cursor.aclose()
            except (LogTrimmedError, KeyError):
                continue  # fell behind a log trimmed meanwhile: from its new end


def _truthy(query_string: bytes | str, name: str) -> bool:
    return (query_value(query_string, name) or "").lower() in ("true", "1")


async def admitted(
    store: RunStore, options: StreamOptions, run_id: str, request: Any, action: str
) -> RunRecord | None:
    """The run's record if it exists and the ``authorize`` hook lets ``request`` do ``action``
    (``"read"`` or ``"stop"``) to it; ``None`` otherwise, whichever the reason."""
    record = await store.get(run_id)
    if record is None or options.authorize is None:
        return record
    allowed = options.authorize(request, record, action)
    if inspect.isawaitable(allowed):
        allowed = await allowed
    return record if allowed else None


def _events_held(after: str | None, last_event_id: str | None) -> int:
    """How many events a resuming reader has: one more than the last event's id."""
    value = after if after is not None else last_event_id
    if value is None or value.strip() in ("", "-1"):
        return 0
    try:
        last = int(value)
    except ValueError:
        raise HTTPError(
            400, f"the event id to resume after must be a number, got {value!r}"
        ) from None
    if last < -1:
        raise HTTPError(400, f"the event id to resume after must be -1 or more, got {last}")
    return last + 1
