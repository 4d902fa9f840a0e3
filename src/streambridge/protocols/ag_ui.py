"""``ag-ui``: AG-UI protocol events (CopilotKit's ``@ag-ui/client``), one SSE ``data:`` per event.

A stream is one AG-UI run: ``RUN_STARTED`` first, ``RUN_FINISHED`` or ``RUN_ERROR`` last and
nothing after it (no ``[DONE]``); a stopped run's ``RUN_FINISHED`` has the ``cancelled``
outcome.  Text streams as ``TEXT_MESSAGE_*`` in an assistant message,
reasoning as ``REASONING_*`` in a reasoning message, tool calls as ``TOOL_CALL_*`` inside the
assistant message of their step (``parentMessageId``), results as ``TOOL_CALL_RESULT``.  State
goes out as one ``STATE_SNAPSHOT`` at the first write, then RFC 6902 ``STATE_DELTA`` patches
computed against a shadow copy.  Sources, files, data and annotations are ``CUSTOM`` events.
What AG-UI has no field for (a part's parent id, a step's usage, a tool error, the finish
reason) rides in the ``metadata`` object every event has, under the ``"streambridge"`` key.

Message ids are derived from the run id, so the same chunks and input give the same bytes:
``{runId}-msg-{n}`` for the assistant message of the ``n``-th turn (a step, or the text after a
tool result), ``{runId}-reasoning-{n}`` for its reasoning, ``{runId}-result-{toolCallId}`` for a
tool result; a part with a ``parent_id`` gets its own message, ``...-{n}-{parent_id}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from .._jsonlib import dumps, dumps_str, json_text, loads
from ..chunks import (
    Annotations,
    Chunk,
    Data,
    Error,
    File,
    ReasoningDelta,
    Source,
    StateOperation,
    StateUpdate,
    StepFinish,
    StepStart,
    TextDelta,
    ToolCallArgsFinish,
    ToolCallBegin,
    ToolCallDelta,
    ToolResult,
)
from ..exceptions import RequestError
from ..input import RunInput
from ..messages import FilePart, Message, Part, ReasoningPart, TextPart, ToolApproval
from ..state import apply_operation, copy_json
from ..tally import CANCELLED, RunTally
from . import SIDE_CHANNEL_KEY, Decoded, StreamEnd, WireProtocol, register
from ._conversation import (
    Conversation,
    add_function_calls,
    args_text,
    file_from,
    joined_text,
    string,
    text_of,
)
from ._json_patch import apply_patch, json_pointer, patch_operation, value_at
from ._request import optional, require_object
from ._sse import KEEPALIVE, sse
from ._tool_args import ToolCallArgs

__all__ = ["AG_UI", "AGUIDecoder", "AGUIEncoder", "json_pointer", "parse_request"]

PROTOCOL_VERSION = "1.0"
"""The AG-UI protocol version this module speaks (declared on ``RUN_STARTED``)."""


_TEXT, _REASONING = "text", "reasoning"


def _event(value: dict[str, Any]) -> str:
    return sse(dumps(value))


def _meta(**fields: Any) -> dict[str, Any]:
    return {SIDE_CHANNEL_KEY: {key: value for key, value in fields.items() if value is not None}}


def _call_end(tool_call_id: str, missing: str) -> str:
    """The end of a call's arguments: the text still missing from them, then the call's end."""
    head = (
        ""
        if not missing
        else _event({"type": "TOOL_CALL_ARGS", "toolCallId": tool_call_id, "delta": missing})
    )
    return head + _event({"type": "TOOL_CALL_END", "toolCallId": tool_call_id})


class AGUIEncoder:
    """Encodes one stream as the events of one AG-UI run."""

    def __init__(self, input: RunInput | None = None) -> None:
        input = input or RunInput(run_id=None)
        self._run_id = input.run_id or "run"
        self._thread_id = input.thread_id or self._run_id
        self._parent_run_id = input.options.get("parentRunId")
        self._created_at = input.created_at
        self._started = False
        self._ended = False
        self._tally = RunTally()
        self._pending: dict[str, None] = {}  # calls waiting for a result, in call order
        self._args: ToolCallArgs[str] = ToolCallArgs()  # a call's record is its id
        # The turn: an assistant message and its reasoning.  A tool result or a step boundary
        # ends it; the next content starts turn n + 1 (unless the turn had no content yet).
        self._turn = 1
        self._turn_used = False
        self._turn_over = False
        self._open: tuple[str, str | None, str] | None = None  # (kind, parent id, message id)
        self._text_prefix: str | None = None  # set while a text message without parent is open
        self._content_prefix = ""  # the open message's content event, up to its delta
        self._step: str | None = None
        self._steps = 0
        self._state: Any = copy_json(input.state)
        self._state_sent = False

    # -- the hot path and the dispatch --------------------------------------------------------

    def encode(self, chunk: Chunk) -> str:
        prefix = self._text_prefix  # the hot path: more text for the open message
        if (
            prefix is not None
            and type(chunk) is TextDelta
            and chunk.parent_id is None
            and chunk.text_delta
        ):
            return prefix + dumps_str(chunk.text_delta) + "}\n\n"
        if self._ended:
            return ""  # nothing follows RUN_ERROR
        text = _ENCODERS[type(chunk)](self, chunk)
        if not self._started:
            self._started = True
            return self._run_started() + text
        return text

    def _run_started(self) -> str:
        value: dict[str, Any] = {
            "type": "RUN_STARTED",
            "threadId": self._thread_id,
            "runId": self._run_id,
            "protocolVersion": PROTOCOL_VERSION,
        }
        if isinstance(self._parent_run_id, str):
            value["parentRunId"] = self._parent_run_id
        value["timestamp"] = int(self._created_at * 1000)
        return _event(value)

    # -- messages ------------------------------------------------------------------------------

    def _message_id(self, kind: str, parent_id: str | None) -> str:
        if self._turn_over:
            self._turn_over = False
            if self._turn_used:
                self._turn += 1
        self._turn_used = True
        name = "msg" if kind == _TEXT else "reasoning"
        base = f"{self._run_id}-{name}-{self._turn}"
        return base if parent_id is None else f"{base}-{parent_id}"

    def _open_message(self, kind: str, parent_id: str | None) -> str:
        """Open a ``kind`` message for ``parent_id`` unless it is the open one; the events."""
        if self._open is not None and self._open[0] == kind and self._open[1] == parent_id:
            return ""
        out = self._close_message()
        message_id = self._message_id(kind, parent_id)
        self._open = (kind, parent_id, message_id)
        start: dict[str, Any] = {"messageId": message_id}
        content = "TEXT_MESSAGE_CONTENT" if kind == _TEXT else "REASONING_MESSAGE_CONTENT"
        self._content_prefix = (
            'data: {"type":"' + content + '","messageId":' + dumps_str(message_id) + ',"delta":'
        )
        if kind == _TEXT:
            start = {"type": "TEXT_MESSAGE_START", **start, "role": "assistant"}
            if parent_id is None:
                self._text_prefix = self._content_prefix
        else:
            out += _event({"type": "REASONING_START", "messageId": message_id})
            start = {"type": "REASONING_MESSAGE_START", **start, "role": "reasoning"}
        if parent_id is not None:
            start["metadata"] = _meta(parentId=parent_id)
        return out + _event(start)

    def _close_message(self) -> str:
        if self._open is None:
            return ""
        kind, _, message_id = self._open
        self._open = None
        self._text_prefix = None
        if kind == _TEXT:
            return _event({"type": "TEXT_MESSAGE_END", "messageId": message_id})
        return _event({"type": "REASONING_MESSAGE_END", "messageId": message_id}) + _event(
            {"type": "REASONING_END", "messageId": message_id}
        )

    def _end_turn(self) -> str:
        self._turn_over = True
        return self._close_message()

    def _text_delta(self, chunk: TextDelta) -> str:
        if not chunk.text_delta:
            return ""
        out = self._open_message(_TEXT, chunk.parent_id)
        return out + self._content_prefix + dumps_str(chunk.text_delta) + "}\n\n"

    def _reasoning_delta(self, chunk: ReasoningDelta) -> str:
        if not chunk.reasoning_delta:
            return ""
        out = self._open_message(_REASONING, chunk.parent_id)
        return out + self._content_prefix + dumps_str(chunk.reasoning_delta) + "}\n\n"

    # -- tool calls ----------------------------------------------------------------------------

    def _tool_call_begin(self, chunk: ToolCallBegin) -> str:
        self._args.begin(chunk.tool_call_id, chunk.tool_call_id)
        self._pending[chunk.tool_call_id] = None
        self._tally.tool_call(chunk.tool_call_id)
        value: dict[str, Any] = {
            "type": "TOOL_CALL_START",
            "toolCallId": chunk.tool_call_id,
            "toolCallName": chunk.tool_name,
            "parentMessageId": self._message_id(_TEXT, chunk.parent_id),
        }
        if chunk.parent_id is not None:
            value["metadata"] = _meta(parentId=chunk.parent_id)
        return _event(value)

    def _tool_call_delta(self, chunk: ToolCallDelta) -> str:
        if not chunk.args_text_delta:
            return ""
        if self._args.append(chunk.tool_call_id, chunk.args_text_delta) is None:
            return ""
        # Streamed arguments are the second hot path: two string encodes, not a dict dump.
        return (
            'data: {"type":"TOOL_CALL_ARGS","toolCallId":'
            + dumps_str(chunk.tool_call_id)
            + ',"delta":'
            + dumps_str(chunk.args_text_delta)
            + "}\n\n"
        )

    def _tool_call_args_finish(self, chunk: ToolCallArgsFinish) -> str:
        return self._end_call(chunk.tool_call_id)

    def _end_call(self, tool_call_id: str) -> str:
        closed = self._args.close(tool_call_id)
        return "" if closed is None else _call_end(*closed)

    def _end_calls(self) -> str:
        return "".join(_call_end(*closed) for closed in self._args.close_all())

    def _tool_result(self, chunk: ToolResult) -> str:
        result = chunk.result
        is_text = isinstance(result, str)
        event: dict[str, Any] = {
            "type": "TOOL_CALL_RESULT",
            "messageId": f"{self._run_id}-result-{chunk.tool_call_id}",
            "toolCallId": chunk.tool_call_id,
            "content": result if is_text else json_text(result),
            "role": "tool",
        }
        meta = _meta(
            text=True if is_text else None,
            isError=True if chunk.is_error else None,
            artifact=chunk.artifact,
        )
        if meta[SIDE_CHANNEL_KEY]:
            event["metadata"] = meta
        frame = _event(event)  # first, so a value JSON cannot carry changes nothing
        out = self._end_call(chunk.tool_call_id) + self._end_turn()
        self._tally.tool_result(chunk.tool_call_id)
        self._pending.pop(chunk.tool_call_id, None)
        return out + frame

    # -- custom events -------------------------------------------------------------------------

    def _custom(self, name: str, value: Any) -> str:
        return _event({"type": "CUSTOM", "name": name, "value": value})

    def _source(self, chunk: Source) -> str:
        value: dict[str, Any] = {"id": chunk.id, "url": chunk.url}
        if chunk.title is not None:
            value["title"] = chunk.title
        if chunk.source_type != "url":
            value["sourceType"] = chunk.source_type
        if chunk.parent_id is not None:
            value["parentId"] = chunk.parent_id
        return self._custom("source", value)

    def _file(self, chunk: File) -> str:
        value = {"data": chunk.data, "mimeType": chunk.mime_type}
        if chunk.parent_id is not None:
            value["parentId"] = chunk.parent_id
        return self._custom("file", value)

    def _data(self, chunk: Data) -> str:
        return self._custom("data" if chunk.name is None else chunk.name, chunk.data)

    def _annotations(self, chunk: Annotations) -> str:
        return self._custom("annotations", list(chunk.annotations))

    # -- steps, state, the end -----------------------------------------------------------------

    def _step_start(self, chunk: StepStart) -> str:
        self._steps += 1
        out = self._end_turn() + self._close_step()
        self._step = chunk.message_id or f"step-{self._steps}"
        return out + _event({"type": "STEP_STARTED", "stepName": self._step})

    def _step_finish(self, chunk: StepFinish) -> str:
        usage = {"inputTokens": chunk.input_tokens, "outputTokens": chunk.output_tokens}
        # Serialized first, so a value JSON cannot carry changes nothing (usage counts once).
        meta = dumps(
            _meta(finishReason=chunk.finish_reason, usage=usage, isContinued=chunk.is_continued)
        )
        self._tally.step_finish(chunk.finish_reason, chunk.input_tokens, chunk.output_tokens)
        out = self._end_turn() + self._end_calls()
        if self._step is None and chunk.finish_reason == CANCELLED:
            return out  # stopped between steps: no step of its own, RUN_FINISHED says it
        if self._step is None:  # a step that never said it started: AG-UI pairs them
            self._steps += 1
            self._step = f"step-{self._steps}"
            out += _event({"type": "STEP_STARTED", "stepName": self._step})
        step, self._step = self._step, None
        return out + sse(
            '{"type":"STEP_FINISHED","stepName":' + dumps_str(step) + ',"metadata":' + meta + "}"
        )

    def _close_step(self) -> str:
        if self._step is None:
            return ""
        step, self._step = self._step, None
        return _event({"type": "STEP_FINISHED", "stepName": step})

    def _update_state(self, chunk: StateUpdate) -> str:
        # Copy every value first: a value JSON cannot carry raises before the shadow changes,
        # and the shadow never shares (and later mutates) an object of a shared chunk.
        operations = [
            cast(StateOperation, {**op, "value": copy_json(op["value"])}) for op in chunk.operations
        ]
        patch: list[str] | None = [] if self._state_sent else None
        for op in operations:
            step = None if patch is None else patch_operation(self._state, op)
            self._state = apply_operation(self._state, op)
            if step is None:
                patch = None  # not expressible as a patch: send a snapshot instead
            elif patch is not None:
                if op["type"] == "append-text":  # the whole new string replaces the old one
                    step["value"] = value_at(self._state, op["path"])
                # Serialized now: a later operation of the batch may change the value in place.
                patch.append(dumps(step))
        self._state_sent = True
        if patch is None:
            return _event({"type": "STATE_SNAPSHOT", "snapshot": self._state})
        return 'data: {"type":"STATE_DELTA","delta":[' + ",".join(patch) + "]}\n\n"

    def _error(self, chunk: Error) -> str:
        self._tally.error()
        out = self._end_turn() + self._end_calls() + self._close_step()
        self._ended = True
        return out + _event({"type": "RUN_ERROR", "message": chunk.error, "usage": [self._usage()]})

    def _usage(self) -> dict[str, int]:
        tally = self._tally
        return {
            "inputTokens": tally.input_tokens,
            "outputTokens": tally.output_tokens,
            "totalTokens": tally.input_tokens + tally.output_tokens,
        }

    def finish(self) -> str:
        if self._ended:
            return ""
        out = "" if self._started else self._run_started()
        self._started = self._ended = True
        out += self._end_turn() + self._end_calls() + self._close_step()
        value: dict[str, Any] = {
            "type": "RUN_FINISHED",
            "threadId": self._thread_id,
            "runId": self._run_id,
        }
        reason = self._tally.finish_reason()
        if reason == CANCELLED:
            value["outcome"] = {"type": "cancelled"}
        elif self._pending:
            value["outcome"] = {"type": "success", "pendingToolCallIds": list(self._pending)}
        value["usage"] = [self._usage()]
        value["metadata"] = _meta(finishReason=reason)
        return out + _event(value)


_ENCODERS: dict[type, Callable[[AGUIEncoder, Any], str]] = {
    TextDelta: AGUIEncoder._text_delta,
    ReasoningDelta: AGUIEncoder._reasoning_delta,
    ToolCallBegin: AGUIEncoder._tool_call_begin,
    ToolCallDelta: AGUIEncoder._tool_call_delta,
    ToolCallArgsFinish: AGUIEncoder._tool_call_args_finish,
    ToolResult: AGUIEncoder._tool_result,
    Source: AGUIEncoder._source,
    File: AGUIEncoder._file,
    Data: AGUIEncoder._data,
    Annotations: AGUIEncoder._annotations,
    Error: AGUIEncoder._error,
    StepStart: AGUIEncoder._step_start,
    StepFinish: AGUIEncoder._step_finish,
    StateUpdate: AGUIEncoder._update_state,
}


# -- the request --------------------------------------------------------------------------------


def _objects(body: dict[str, Any], key: str, required: tuple[str, ...]) -> list[Any]:
    items: list[Any] = optional(body, key, list, [])
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise RequestError(f"{key}[{index}] must be a JSON object")
        for field in required:
            if not isinstance(item.get(field), str):
                raise RequestError(f"{key}[{index}] needs a string {field!r}")
    return items


def parse_messages(messages: list[dict[str, Any]]) -> list[Message]:
    """AG-UI messages, typed: ``developer`` and ``system`` are system messages; a user's text
    and media parts (``image``/``audio``/``video``/``document`` with a ``source``, and the
    older ``binary``); an assistant's ``content`` and ``toolCalls``; a ``reasoning`` message
    is an assistant message of reasoning; a ``tool`` message's content (and ``error``) is the
    result of the call it names.  ``activity`` messages are not conversation: left out."""
    out = Conversation()
    for message in messages:
        role, content, id = message["role"], message.get("content"), message["id"]
        if role == "tool":
            call_id = string(message.get("toolCallId"))
            if call_id is not None:
                error = string(message.get("error"))
                result = content if isinstance(content, str) else joined_text(content)
                out.result(
                    call_id, error if error is not None else result, is_error=error is not None
                )
        elif role in ("system", "developer"):
            out.add("system", text_of(content), id)
        elif role == "user":
            out.add("user", _user_parts(content), id)
        elif role == "reasoning" and isinstance(content, str):
            out.assistant([ReasoningPart(content)], id)
        elif role == "assistant":
            target = out.assistant(text_of(content), id)
            add_function_calls(out, target, message.get("toolCalls"))
    return out.messages


def _user_parts(content: Any) -> list[Part]:
    if not isinstance(content, list):
        return text_of(content)
    parts: list[Part] = []
    for item in content:
        kind = item.get("type") if isinstance(item, dict) else None
        found: TextPart | FilePart | None = None
        if kind == "text" and isinstance(item.get("text"), str):
            found = TextPart(item["text"])
        elif kind in ("image", "audio", "video", "document") and isinstance(
            item.get("source"), dict
        ):
            source = item["source"]
            value, mime = source.get("value"), string(source.get("mimeType"))
            if source.get("type") == "data":
                found = file_from(value, mime)
            elif source.get("type") == "url":
                found = file_from(value, mime, base64_if_bare=False)
            elif source.get("type") == "file" and isinstance(value, str):
                found = FilePart(None, mime, file_id=value)
            if isinstance(found, FilePart) and found.mime_type is None:
                found.mime_type = f"{kind}/*" if kind != "document" else None
        elif kind == "binary":
            url = item.get("url")
            found = file_from(item.get("data"), item.get("mimeType"), item.get("filename"))
            if found is None and isinstance(url, str):
                found = FilePart.from_url(url, string(item.get("mimeType")))
                found.filename = string(item.get("filename"))
        if found is not None:
            parts.append(found)
    return parts


def answer_interrupts(messages: list[Message], resume: list[dict[str, Any]]) -> None:
    """``resume`` entries (``RunAgentInput.resume``) as the approvals of the tool calls their
    interrupts were raised for: an interrupt is answered by its ``id`` alone, so a run that
    interrupts for a tool call gives the interrupt the call's id, and an entry whose
    ``interruptId`` is the id of a call in ``messages`` answers that call.

    ``cancelled``, or a ``payload`` that is ``false`` or has ``"approved": false``, denies the
    call (AG-UI says a denial inside the payload); any other ``resolved`` answer approves it,
    and its ``editedArgs`` (approve with edits) replace the call's arguments.  Entries that
    name no call are the run's to read (``options["resume"]``)."""
    calls = {call.tool_call_id: call for message in messages for call in message.tool_calls}
    for entry in resume:
        call = calls.get(entry["interruptId"])
        if call is None:
            continue
        payload = entry.get("payload")
        answer = payload if isinstance(payload, dict) else {}
        denied = payload is False or answer.get("approved") is False
        approved = entry["status"] == "resolved" and not denied
        call.approval = ToolApproval(entry["interruptId"], approved, string(answer.get("reason")))
        if approved and isinstance(answer.get("editedArgs"), dict):
            call.args_text = args_text(answer["editedArgs"])


def _resume(body: dict[str, Any]) -> list[dict[str, Any]]:
    entries = _objects(body, "resume", ("interruptId", "status"))
    for index, entry in enumerate(entries):
        if entry["status"] not in ("resolved", "cancelled"):
            raise RequestError(f"resume[{index}].status must be 'resolved' or 'cancelled'")
    return entries


def parse_request(body: Any) -> RunInput:
    """AG-UI's ``RunAgentInput``, the body ``HttpAgent`` POSTs: ``threadId``, ``runId``,
    ``messages``, ``tools``, ``state``, ``context``, ``forwardedProps``, ``parentRunId``, and
    ``resume``, the answers to the interrupts that ended the previous run (see
    :func:`answer_interrupts`)."""
    body = require_object(body, "ag-ui")
    options: dict[str, Any] = {}
    if "context" in body:
        options["context"] = _objects(body, "context", ("description", "value"))
    if body.get("forwardedProps") is not None:
        options["forwardedProps"] = body["forwardedProps"]
    parent_run_id = optional(body, "parentRunId", str, None)
    if parent_run_id is not None:
        options["parentRunId"] = parent_run_id
    messages = parse_messages(_objects(body, "messages", ("id", "role")))
    if body.get("resume") is not None:
        options["resume"] = _resume(body)
        answer_interrupts(messages, options["resume"])
    return RunInput(
        messages=messages,
        tools=_objects(body, "tools", ("name",)),
        state=body.get("state"),
        thread_id=optional(body, "threadId", str, None),
        run_id=optional(body, "runId", str, None),
        options=options,
        raw=body,
    )


# -- the decoder --------------------------------------------------------------------------------


def _streambridge(event: dict[str, Any]) -> dict[str, Any]:
    metadata = event.get("metadata")
    mine = metadata.get(SIDE_CHANNEL_KEY) if isinstance(metadata, dict) else None
    return mine if isinstance(mine, dict) else {}


class AGUIDecoder:
    """Reads AG-UI events back into chunks."""

    def __init__(self) -> None:
        self._parents: dict[str, str | None] = {}  # message id -> the parent id it carries
        self._state: Any = None
        self._tally = RunTally()
        self._chunk_call: str | None = None  # the call TOOL_CALL_CHUNK events continue

    def decode(self, event: str | None, data: str) -> list[Decoded]:
        if not data:
            return []
        value = loads(data)
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            raise ValueError(f"not an AG-UI event: {data[:80]!r}")
        handler = _DECODERS.get(value["type"])
        if handler is None:
            raise ValueError(f"unknown AG-UI event type {value['type']!r}")
        decoded = handler(self, value)
        for item in decoded:
            if isinstance(item, ToolCallBegin):
                self._tally.tool_call(item.tool_call_id)
            elif isinstance(item, ToolResult):
                self._tally.tool_result(item.tool_call_id)
            elif isinstance(item, StepFinish):
                self._tally.step_finish(item.finish_reason, item.input_tokens, item.output_tokens)
        return decoded

    def close(self) -> list[Decoded]:
        return []  # a stream without RUN_FINISHED / RUN_ERROR was cut short: no end to report

    def _message_start(self, event: dict[str, Any]) -> list[Decoded]:
        parent = _streambridge(event).get("parentId")
        self._parents[event["messageId"]] = parent if isinstance(parent, str) else None
        return []

    def _text(self, event: dict[str, Any]) -> list[Decoded]:
        if not event["delta"]:
            return []
        return [TextDelta(event["delta"], self._parents.get(event["messageId"]))]

    def _reasoning(self, event: dict[str, Any]) -> list[Decoded]:
        if not event["delta"]:
            return []
        return [ReasoningDelta(event["delta"], self._parents.get(event["messageId"]))]

    def _text_chunk(self, event: dict[str, Any]) -> list[Decoded]:
        delta = event.get("delta")
        return [TextDelta(delta)] if delta else []

    def _reasoning_chunk(self, event: dict[str, Any]) -> list[Decoded]:
        delta = event.get("delta")
        return [ReasoningDelta(delta)] if delta else []

    def _tool_call_start(self, event: dict[str, Any]) -> list[Decoded]:
        parent = _streambridge(event).get("parentId")
        return [
            ToolCallBegin(
                event["toolCallId"],
                event["toolCallName"],
                parent if isinstance(parent, str) else None,
            )
        ]

    def _tool_call_chunk(self, event: dict[str, Any]) -> list[Decoded]:
        """Another producer's shorthand: a chunk with a new id starts a call (ending the last)."""
        out: list[Decoded] = []
        call_id = event.get("toolCallId")
        if call_id is not None and call_id != self._chunk_call:
            if self._chunk_call is not None:
                out.append(ToolCallArgsFinish(self._chunk_call))
            self._chunk_call = call_id
            out.append(ToolCallBegin(call_id, event.get("toolCallName") or "", None))
        if event.get("delta") and self._chunk_call is not None:
            out.append(ToolCallDelta(self._chunk_call, event["delta"]))
        return out

    def _tool_call_result(self, event: dict[str, Any]) -> list[Decoded]:
        mine = _streambridge(event)
        content = event["content"]
        result: Any = content
        if isinstance(content, str) and not mine.get("text"):
            try:
                result = loads(content)
            except ValueError:
                result = content  # a plain text result from another producer
        return [
            ToolResult(event["toolCallId"], result, mine.get("artifact"), bool(mine.get("isError")))
        ]

    def _step_finished(self, event: dict[str, Any]) -> list[Decoded]:
        mine = _streambridge(event)
        if "finishReason" not in mine:
            return []  # a step closed without a finish of its own (or another producer's)
        usage = mine.get("usage") or {}
        return [
            StepFinish(
                mine["finishReason"],
                usage.get("inputTokens", 0),
                usage.get("outputTokens", 0),
                bool(mine.get("isContinued", False)),
            )
        ]

    def _snapshot(self, event: dict[str, Any]) -> list[Decoded]:
        self._state = copy_json(event["snapshot"])
        return [StateUpdate(({"type": "set", "path": [], "value": copy_json(self._state)},))]

    def _delta(self, event: dict[str, Any]) -> list[Decoded]:
        self._state, operations = apply_patch(self._state, event["delta"])
        return [StateUpdate(tuple(operations))] if operations else []

    def _custom(self, event: dict[str, Any]) -> list[Decoded]:
        name, value = event["name"], event.get("value")
        fields: dict[str, Any] = value if isinstance(value, dict) else {}
        if name == "source" and _has_strings(fields, "id", "url"):
            return [
                Source(
                    fields["id"],
                    fields["url"],
                    fields.get("title"),
                    fields.get("parentId"),
                    fields.get("sourceType", "url"),
                )
            ]
        if name == "file" and _has_strings(fields, "data", "mimeType"):
            return [File(fields["data"], fields["mimeType"], fields.get("parentId"))]
        if name == "annotations" and isinstance(value, list):
            return [Annotations(tuple(value))]
        return [Data(value, None if name == "data" else name)]

    def _usage(self, event: dict[str, Any]) -> tuple[int | None, int | None]:
        usage = event.get("usage")
        if not isinstance(usage, list):
            return None, None
        entries = [entry for entry in usage if isinstance(entry, dict)]
        return (
            sum(entry.get("inputTokens", 0) for entry in entries),
            sum(entry.get("outputTokens", 0) for entry in entries),
        )

    def _run_finished(self, event: dict[str, Any]) -> list[Decoded]:
        reason = _streambridge(event).get("finishReason")
        if not isinstance(reason, str):  # another producer: the outcome, else the tally
            outcome = event.get("outcome")
            outcome = outcome if isinstance(outcome, dict) else {}
            pending = outcome.get("pendingToolCallIds")
            reason = "tool-calls" if pending else self._tally.finish_reason()
            if outcome.get("type") == CANCELLED:
                reason = CANCELLED
        return [StreamEnd(reason, *self._usage(event))]

    def _run_error(self, event: dict[str, Any]) -> list[Decoded]:
        return [Error(event["message"]), StreamEnd("error", *self._usage(event))]


def _has_strings(value: Any, *keys: str) -> bool:
    return isinstance(value, dict) and all(isinstance(value.get(key), str) for key in keys)


def _nothing(decoder: AGUIDecoder, event: dict[str, Any]) -> list[Decoded]:
    return []


_DECODERS: dict[str, Callable[[AGUIDecoder, dict[str, Any]], list[Decoded]]] = {
    "RUN_STARTED": _nothing,
    "TEXT_MESSAGE_START": AGUIDecoder._message_start,
    "TEXT_MESSAGE_CONTENT": AGUIDecoder._text,
    "TEXT_MESSAGE_END": _nothing,
    "TEXT_MESSAGE_CHUNK": AGUIDecoder._text_chunk,
    "REASONING_START": _nothing,
    "REASONING_MESSAGE_START": AGUIDecoder._message_start,
    "REASONING_MESSAGE_CONTENT": AGUIDecoder._reasoning,
    "REASONING_MESSAGE_END": _nothing,
    "REASONING_MESSAGE_CHUNK": AGUIDecoder._reasoning_chunk,
    "REASONING_END": _nothing,
    "REASONING_ENCRYPTED_VALUE": _nothing,
    "TOOL_CALL_START": AGUIDecoder._tool_call_start,
    "TOOL_CALL_ARGS": lambda d, e: (
        [ToolCallDelta(e["toolCallId"], e["delta"])] if e["delta"] else []
    ),
    "TOOL_CALL_END": lambda d, e: [ToolCallArgsFinish(e["toolCallId"])],
    "TOOL_CALL_CHUNK": AGUIDecoder._tool_call_chunk,
    "TOOL_CALL_RESULT": AGUIDecoder._tool_call_result,
    "STEP_STARTED": lambda d, e: [StepStart(e["stepName"])],
    "STEP_FINISHED": AGUIDecoder._step_finished,
    "STATE_SNAPSHOT": AGUIDecoder._snapshot,
    "STATE_DELTA": AGUIDecoder._delta,
    "MESSAGES_SNAPSHOT": _nothing,
    "ACTIVITY_SNAPSHOT": _nothing,
    "ACTIVITY_DELTA": _nothing,
    "RAW": _nothing,
    "CUSTOM": AGUIDecoder._custom,
    "SUBAGENT_STARTED": _nothing,
    "SUBAGENT_FINISHED": _nothing,
    "SUBAGENT_ERROR": _nothing,
    "RUN_FINISHED": AGUIDecoder._run_finished,
    "RUN_ERROR": AGUIDecoder._run_error,
}

AG_UI = register(
    WireProtocol(
        name="ag-ui",
        media_type="text/event-stream",
        framing="sse",
        new_encoder=AGUIEncoder,
        parse_request=parse_request,
        new_decoder=AGUIDecoder,
        keepalive=KEEPALIVE,
        event_ids=True,  # its official client reads `id:` lines (tests/test_event_ids.py)
        headers={},
    )
)
