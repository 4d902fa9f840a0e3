"""``ui-message-stream``: the Vercel AI SDK 5+ UI message stream (what ``useChat`` reads).

Server-sent events, each ``data: {JSON chunk}``, ending with ``data: [DONE]``.  A stream opens
with ``start``; text and reasoning stream as ``*-start`` / ``*-delta`` / ``*-end`` runs that share
an id; a tool call streams ``tool-input-start`` / ``tool-input-delta`` and ends its input with
``tool-input-available`` (the parsed arguments) before ``tool-output-available`` or
``tool-output-error``.  The stream ends with ``finish`` (its ``finishReason``, and the usage in
``messageMetadata``), or, for a run that was stopped, with ``abort`` instead, as the AI SDK's own
``toUIMessageStream`` ends an aborted one.

What the chunk vocabulary has and this protocol does not is sent in the closest form the AI SDK
client keeps: state as a ``data-state`` part with a fixed id and the whole value (the client
replaces a data part with the same type and id), per-step usage and annotations as message
metadata, parent ids as ``providerMetadata.streambridge.parentId``.  Every chunk fits the strict
chunk schema of ``ai`` 5.0.92 (the first release with ``finish.finishReason``) and later.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .._jsonlib import dumps, dumps_str, json_text, loads
from ..chunks import (
    Annotations,
    Chunk,
    Data,
    Error,
    File,
    ReasoningDelta,
    Source,
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
from ..messages import (
    DataPart,
    Message,
    ReasoningPart,
    SourcePart,
    TextPart,
    ToolApproval,
    ToolCallPart,
)
from ..state import apply_operation, copy_json
from ..tally import CANCELLED, RunTally
from . import SIDE_CHANNEL_KEY, Decoded, StreamEnd, WireProtocol, register
from ._conversation import Conversation, args_text, file_from, string
from ._request import optional, require_object
from ._sse import DONE, KEEPALIVE, sse_json
from ._tool_args import ToolCallArgs

__all__ = [
    "STATE_ID",
    "UI_MESSAGE_STREAM",
    "UNNAMED_DATA_TYPE",
    "UIMessageStreamDecoder",
    "UIMessageStreamEncoder",
    "parse_request",
]

STATE_ID = "state"
"""The id of the ``data-state`` part that carries the run's state (the whole value each time)."""

UNNAMED_DATA_TYPE = "data-data"
"""The part type of :class:`~streambridge.chunks.Data` without a name (every data part needs a
``data-<name>`` type)."""

FINISH_REASONS = frozenset({"stop", "length", "content-filter", "tool-calls", "error", "other"})
"""The finish reasons every client from ai 5.0.92 on accepts; any other becomes ``"other"``
(``"interrupted"`` came later, ``"unknown"`` went away)."""

_UNSET: Any = object()


def _parse_arguments(text: str) -> Any:
    """A tool call's arguments as JSON, refusing NaN and Infinity (``ValueError``)."""
    return _ARGUMENTS_DECODER.decode(text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_ARGUMENTS_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def _provider_metadata(**values: Any) -> dict[str, dict[str, Any]]:
    return {SIDE_CHANNEL_KEY: values}


class _ToolCall:
    __slots__ = ("args", "name", "parent_id", "tool_call_id")

    def __init__(self, tool_call_id: str, name: str, parent_id: str | None) -> None:
        self.tool_call_id = tool_call_id
        self.name = name
        self.parent_id = parent_id
        self.args: list[str] = []


def _input_available(call: _ToolCall, missing: str) -> str:
    """``tool-input-available`` with the parsed arguments (``{}`` when none streamed), or
    ``tool-input-error`` with the raw text when they are not JSON."""
    text = "".join(call.args) or missing
    call.args = []
    value: dict[str, Any] = {
        "type": "tool-input-available",
        "toolCallId": call.tool_call_id,
        "toolName": call.name,
    }
    try:
        value["input"] = _parse_arguments(text) if text.strip() else {}
    except ValueError:
        value["type"] = "tool-input-error"
        value["input"] = text
        value["errorText"] = "The tool call's arguments are not valid JSON."
    if call.parent_id is not None:
        value["providerMetadata"] = _provider_metadata(parentId=call.parent_id)
    return sse_json(value)


class UIMessageStreamEncoder:
    """Encodes one stream as UI message stream events.

    Pure: part ids come from a counter and the message id from ``input.run_id``, so the same
    chunks and input give the same text.
    """

    def __init__(self, input: RunInput | None = None) -> None:
        self._message_id = input.run_id if input is not None else None
        self._initial_state = input.state if input is not None else None
        self._state_value: Any = _UNSET
        self._started = False
        self._parts = 0
        # The text or reasoning part being streamed: its chunk type and parent, the prefix of
        # its delta frames and its end frame.
        self._open_type: type | None = None
        self._open_parent: str | None = None
        self._delta_prefix = ""
        self._open_end = ""
        self._calls: dict[str, _ToolCall] = {}
        self._args: ToolCallArgs[_ToolCall] = ToolCallArgs()
        self._steps: list[dict[str, Any]] = []
        self._sent_annotations: list[Any] = []
        self._tally = RunTally()

    def encode(self, chunk: Chunk) -> str:
        if (  # the hot path: one more piece of the text part being streamed
            type(chunk) is TextDelta
            and self._open_type is TextDelta
            and chunk.parent_id == self._open_parent
        ):
            return self._delta_prefix + dumps_str(chunk.text_delta) + "}\n\n"
        return _ENCODERS[type(chunk)](self, chunk)

    # -- framing helpers ----------------------------------------------------------------------

    def _begin(self) -> str:
        """The ``start`` chunk, before anything else."""
        if self._started:
            return ""
        self._started = True
        start: dict[str, Any] = {"type": "start"}
        if self._message_id is not None:
            start["messageId"] = self._message_id
        return sse_json(start)

    def _lead(self) -> str:
        """What must precede a new part: ``start`` once, and the end of an open text run."""
        out = self._begin()
        if self._open_type is not None:
            out += self._open_end
            self._open_type = None
        return out

    def _stream_part(self, chunk: TextDelta | ReasoningDelta, kind: str, text: str) -> str:
        if type(chunk) is self._open_type and chunk.parent_id == self._open_parent:
            return self._delta_prefix + dumps_str(text) + "}\n\n"
        out = self._lead()
        self._parts += 1
        part_id = f"{kind}-{self._parts}"
        start: dict[str, Any] = {"type": f"{kind}-start", "id": part_id}
        if chunk.parent_id is not None:
            start["providerMetadata"] = _provider_metadata(parentId=chunk.parent_id)
        quoted_id = dumps_str(part_id)
        self._open_type = type(chunk)
        self._open_parent = chunk.parent_id
        self._delta_prefix = 'data: {"type":"' + kind + '-delta","id":' + quoted_id + ',"delta":'
        self._open_end = 'data: {"type":"' + kind + '-end","id":' + quoted_id + "}\n\n"
        return out + sse_json(start) + self._delta_prefix + dumps_str(text) + "}\n\n"

    # -- one method per chunk kind ------------------------------------------------------------

    def _text_delta(self, chunk: TextDelta) -> str:
        return self._stream_part(chunk, "text", chunk.text_delta)

    def _reasoning_delta(self, chunk: ReasoningDelta) -> str:
        return self._stream_part(chunk, "reasoning", chunk.reasoning_delta)

    def _tool_call_begin(self, chunk: ToolCallBegin) -> str:
        frame = sse_json(
            {
                "type": "tool-input-start",
                "toolCallId": chunk.tool_call_id,
                "toolName": chunk.tool_name,
            }
        )
        out = self._lead()
        call = _ToolCall(chunk.tool_call_id, chunk.tool_name, chunk.parent_id)
        self._calls[chunk.tool_call_id] = call
        self._args.begin(chunk.tool_call_id, call)
        self._tally.tool_call(chunk.tool_call_id)
        return out + frame

    def _tool_call_delta(self, chunk: ToolCallDelta) -> str:
        if not chunk.args_text_delta:
            return ""
        call = self._args.append(chunk.tool_call_id, chunk.args_text_delta)
        if call is None:
            return ""  # the client rejects input for a call it does not stream
        call.args.append(chunk.args_text_delta)
        # Streamed arguments are the second hot path: string encodes, not a dict dump.
        return (
            self._lead()
            + 'data: {"type":"tool-input-delta","toolCallId":'
            + dumps_str(chunk.tool_call_id)
            + ',"inputTextDelta":'
            + dumps_str(chunk.args_text_delta)
            + "}\n\n"
        )

    def _tool_call_args_finish(self, chunk: ToolCallArgsFinish) -> str:
        closed = self._args.close(chunk.tool_call_id)
        if closed is None:
            return ""
        return self._lead() + _input_available(*closed)

    def _close_calls(self) -> str:
        return "".join(_input_available(*closed) for closed in self._args.close_all())

    def _tool_result(self, chunk: ToolResult) -> str:
        call = self._calls.get(chunk.tool_call_id)
        if call is None:
            return ""  # the client fails on a result for a call it never saw
        if chunk.artifact is not None:
            dumps(chunk.artifact)  # not sent, but must be JSON as in every protocol
        if chunk.is_error:
            error = chunk.result if isinstance(chunk.result, str) else json_text(chunk.result)
            frame = sse_json(
                {"type": "tool-output-error", "toolCallId": chunk.tool_call_id, "errorText": error}
            )
        else:
            frame = sse_json(
                {
                    "type": "tool-output-available",
                    "toolCallId": chunk.tool_call_id,
                    "output": chunk.result,
                }
            )
        out = self._lead()
        closed = self._args.close(chunk.tool_call_id)
        if closed is not None:
            out += _input_available(*closed)
        self._tally.tool_result(chunk.tool_call_id)
        return out + frame

    def _source(self, chunk: Source) -> str:
        value: dict[str, Any] = {"type": "source-url", "sourceId": chunk.id, "url": chunk.url}
        if chunk.title is not None:
            value["title"] = chunk.title
        extra: dict[str, Any] = {}
        if chunk.parent_id is not None:
            extra["parentId"] = chunk.parent_id
        if chunk.source_type != "url":
            extra["sourceType"] = chunk.source_type
        if extra:
            value["providerMetadata"] = _provider_metadata(**extra)
        frame = sse_json(value)
        return self._lead() + frame

    def _file(self, chunk: File) -> str:
        value: dict[str, Any] = {
            "type": "file",
            "url": "data:" + chunk.mime_type + ";base64," + chunk.data,
            "mediaType": chunk.mime_type,
        }
        if chunk.parent_id is not None:
            value["providerMetadata"] = _provider_metadata(parentId=chunk.parent_id)
        frame = sse_json(value)
        return self._lead() + frame

    def _data(self, chunk: Data) -> str:
        kind = UNNAMED_DATA_TYPE if chunk.name is None else "data-" + chunk.name
        frame = sse_json({"type": kind, "data": chunk.data})
        return self._lead() + frame

    def _annotations(self, chunk: Annotations) -> str:
        # No annotations in this protocol: they become message metadata, the whole list each
        # time (the client replaces arrays when it merges metadata).
        annotations = [*self._sent_annotations, *chunk.annotations]
        frame = sse_json(
            {"type": "message-metadata", "messageMetadata": {"annotations": annotations}}
        )
        self._sent_annotations = annotations
        return self._begin() + frame

    def _error(self, chunk: Error) -> str:
        frame = sse_json({"type": "error", "errorText": chunk.error})
        out = self._lead()
        self._tally.error()
        return out + frame

    def _step_start(self, chunk: StepStart) -> str:
        return self._lead() + 'data: {"type":"start-step"}\n\n'

    def _step_finish(self, chunk: StepFinish) -> str:
        step: dict[str, Any] = {
            "finishReason": chunk.finish_reason,
            "usage": {"inputTokens": chunk.input_tokens, "outputTokens": chunk.output_tokens},
        }
        if chunk.is_continued:
            step["isContinued"] = True
        steps = [*self._steps, step]
        metadata = sse_json({"type": "message-metadata", "messageMetadata": {"steps": steps}})
        out = self._lead() + self._close_calls()
        self._steps = steps
        self._tally.step_finish(chunk.finish_reason, chunk.input_tokens, chunk.output_tokens)
        return out + 'data: {"type":"finish-step"}\n\n' + metadata

    def _update_state(self, chunk: StateUpdate) -> str:
        # No patch form here: apply the operations to a private copy and send the whole value.
        state = copy_json(self._initial_state) if self._state_value is _UNSET else self._state_value
        for operation in chunk.operations:
            if operation["type"] == "set":
                operation = {**operation, "value": copy_json(operation["value"])}
            state = apply_operation(state, operation)
        self._state_value = state
        return self._begin() + sse_json({"type": "data-state", "id": STATE_ID, "data": state})

    def finish(self) -> str:
        tally = self._tally
        reason = tally.finish_reason()
        if reason == CANCELLED:  # no finish after an abort: the client keeps what it has
            return self._lead() + self._close_calls() + _ABORT + DONE
        usage = {
            "inputTokens": tally.input_tokens,
            "outputTokens": tally.output_tokens,
            "totalTokens": tally.input_tokens + tally.output_tokens,
        }
        finish = {
            "type": "finish",
            "finishReason": reason if reason in FINISH_REASONS else "other",
            "messageMetadata": {"usage": usage},
        }
        return self._lead() + self._close_calls() + sse_json(finish) + DONE


_ABORT = sse_json({"type": "abort"})
"""A stopped run's end (no ``reason``: the strict schema of ai 5.0.92 had none)."""

_ENCODERS: dict[type, Callable[[UIMessageStreamEncoder, Any], str]] = {
    TextDelta: UIMessageStreamEncoder._text_delta,
    ReasoningDelta: UIMessageStreamEncoder._reasoning_delta,
    ToolCallBegin: UIMessageStreamEncoder._tool_call_begin,
    ToolCallDelta: UIMessageStreamEncoder._tool_call_delta,
    ToolCallArgsFinish: UIMessageStreamEncoder._tool_call_args_finish,
    ToolResult: UIMessageStreamEncoder._tool_result,
    Source: UIMessageStreamEncoder._source,
    File: UIMessageStreamEncoder._file,
    Data: UIMessageStreamEncoder._data,
    Annotations: UIMessageStreamEncoder._annotations,
    Error: UIMessageStreamEncoder._error,
    StepStart: UIMessageStreamEncoder._step_start,
    StepFinish: UIMessageStreamEncoder._step_finish,
    StateUpdate: UIMessageStreamEncoder._update_state,
}


# -- the request ------------------------------------------------------------------------------

_ROLES = ("system", "user", "assistant")


def parse_request(body: Any) -> RunInput:
    """The body the AI SDK's ``DefaultChatTransport`` (``useChat``) POSTs:
    ``{id, messages, trigger, messageId, ...body}``.

    ``messages`` are the chat's UI messages, kept as they are.  The run id is the id of the last
    message when that is an assistant message (the response continues it, as the AI SDK's own
    servers do); otherwise it is left for ``create_run`` to make.
    """
    body = require_object(body, "ui-message-stream")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise RequestError(
            "the ui-message-stream request body needs 'messages': a JSON array of UI messages "
            "({id, role, parts})"
        )
    for index, message in enumerate(messages):
        _check_message(index, message)
    tools = optional(body, "tools", (dict, list), [])
    if isinstance(tools, dict):  # {name: {description, parameters}}
        tools = [{"name": name, **spec} for name, spec in tools.items() if isinstance(spec, dict)]
    last = messages[-1] if messages else None
    run_id = None
    if last is not None and last["role"] == "assistant" and isinstance(last.get("id"), str):
        run_id = last["id"]
    options: dict[str, Any] = {}
    for key in ("trigger", "messageId"):
        value = optional(body, key, str, None)
        if value is not None:
            options[key] = value
    return RunInput(
        messages=parse_messages(messages),
        tools=tools,
        state=body.get("state"),
        thread_id=optional(body, "id", str, None),
        run_id=run_id,
        system=optional(body, "system", str, None),
        options=options,
        raw=body,
    )


def _check_message(index: int, message: Any) -> None:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise RequestError(f"{where} must be a JSON object (a UI message: {{id, role, parts}})")
    role = message.get("role")
    if role not in _ROLES:
        raise RequestError(f"{where}.role must be one of 'system', 'user', 'assistant'")
    if "id" in message and not isinstance(message["id"], str):
        raise RequestError(f"{where}.id must be a JSON string")
    parts = message.get("parts")
    if not isinstance(parts, list):
        raise RequestError(f"{where}.parts must be a JSON array (UI messages carry parts)")
    for part_index, part in enumerate(parts):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise RequestError(
                f"{where}.parts[{part_index}] must be a JSON object with a string 'type'"
            )


def parse_messages(messages: list[dict[str, Any]]) -> list[Message]:
    """The AI SDK's UI messages (checked by ``_check_message``), typed: text, reasoning, files,
    sources, ``data-*`` parts and tool parts (``tool-NAME`` and ``dynamic-tool``) with their
    input, output or error and their approval."""
    out = Conversation()
    for message in messages:
        target = out.add(message["role"], [], message.get("id"), message.get("metadata"))
        for part in message["parts"]:
            _ui_part(out, target, part)
    return out.messages


def _ui_part(out: Conversation, target: Message, part: dict[str, Any]) -> None:
    kind: str = part["type"]
    if kind == "text" and isinstance(part.get("text"), str):
        target.parts.append(TextPart(part["text"]))
    elif kind == "reasoning" and isinstance(part.get("text"), str):
        # The provider's own data (OpenAI's reasoning item id and encrypted content, say)
        # travels with it, for the converters that can give the reasoning back.
        provider = part.get("providerMetadata")
        metadata = provider if isinstance(provider, dict) else None
        target.parts.append(ReasoningPart(part["text"], provider_metadata=metadata))
    elif kind == "file":
        found = file_from(
            part.get("url"), part.get("mediaType"), part.get("filename"), base64_if_bare=False
        )
        if found is not None:
            target.parts.append(found)
    elif kind == "source-url" and isinstance(part.get("url"), str):
        target.parts.append(
            SourcePart(str(part.get("sourceId", "")), part["url"], string(part.get("title")))
        )
    elif kind == "source-document":
        source = SourcePart(str(part.get("sourceId", "")), "", string(part.get("title")))
        source.source_type = "document"
        source.media_type = string(part.get("mediaType"))
        source.filename = string(part.get("filename"))
        target.parts.append(source)
    elif kind.startswith("data-"):
        target.parts.append(DataPart(part.get("data"), kind[len("data-") :]))
    elif (kind.startswith("tool-") or kind == "dynamic-tool") and isinstance(
        part.get("toolCallId"), str
    ):
        name = string(part.get("toolName")) if kind == "dynamic-tool" else kind[len("tool-") :]
        out.add_tool_call(target, _tool_part(part, name or ""))


def _tool_part(part: dict[str, Any], name: str) -> ToolCallPart:
    state = part.get("state")
    streaming = state == "input-streaming"
    text = args_text(part.get("input"))
    if not text and isinstance(part.get("rawInput"), str):
        text = part["rawInput"]
    call = ToolCallPart(part["toolCallId"], name, text, not streaming)
    approval = part.get("approval")
    if isinstance(approval, dict) and isinstance(approval.get("id"), str):
        approved = approval.get("approved")
        call.approval = ToolApproval(
            approval["id"],
            approved if isinstance(approved, bool) else None,
            string(approval.get("reason")),
        )
    if state == "output-available":
        call.set_result(part.get("output"))
    elif state == "output-error":
        call.set_result(part.get("errorText"), is_error=True)
    return call


# -- decoding ---------------------------------------------------------------------------------


def _parent_id(value: dict[str, Any]) -> str | None:
    return _metadata(value).get("parentId")


def _metadata(value: dict[str, Any]) -> dict[str, Any]:
    provider = value.get("providerMetadata")
    if isinstance(provider, dict):
        ours = provider.get(SIDE_CHANNEL_KEY)
        if isinstance(ours, dict):
            return ours
    return {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class UIMessageStreamDecoder:
    """Reads UI message stream events back into chunks."""

    def __init__(self) -> None:
        self._message_id: str | None = None
        self._parts: dict[str, TextDelta | ReasoningDelta] = {}  # open part id -> an empty delta
        self._calls: dict[str, bool] = {}  # tool call id -> input still streaming
        self._streamed: set[str] = set()  # calls whose input came as deltas
        self._steps = 0
        self._seen_annotations = 0

    def decode(self, event: str | None, data: str) -> list[Decoded]:
        if not data or data == "[DONE]":
            return []
        value = loads(data)
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            raise ValueError(f"not a UI message chunk: {data[:80]!r}")
        kind: str = value["type"]
        handler = _DECODERS.get(kind)
        if handler is not None:
            return handler(self, value)
        if kind.startswith("data-"):
            return self._data(value)
        if kind in _IGNORED:
            return []
        raise ValueError(f"unknown UI message chunk type {kind!r}")

    def close(self) -> list[Decoded]:
        return []

    def _start(self, value: dict[str, Any]) -> list[Decoded]:
        if isinstance(value.get("messageId"), str):
            self._message_id = value["messageId"]
        return self._message_metadata(value.get("messageMetadata"))

    def _part_start(self, value: dict[str, Any]) -> list[Decoded]:
        parent = _parent_id(value)
        text = value["type"] == "text-start"
        self._parts[value["id"]] = TextDelta("", parent) if text else ReasoningDelta("", parent)
        return []

    def _part_delta(self, value: dict[str, Any]) -> list[Decoded]:
        part = self._parts.get(value["id"])
        kind = value["type"][: -len("-delta")]
        if part is None or (type(part) is TextDelta) != (kind == "text"):
            raise ValueError(f"{value['type']} for {kind} part {value['id']!r}, which is not open")
        return [type(part)(value["delta"], part.parent_id)]

    def _part_end(self, value: dict[str, Any]) -> list[Decoded]:
        self._parts.pop(value["id"], None)
        return []

    def _tool_input_start(self, value: dict[str, Any]) -> list[Decoded]:
        call_id = value["toolCallId"]
        self._calls[call_id] = True
        return [ToolCallBegin(call_id, value["toolName"], _parent_id(value))]

    def _tool_input_delta(self, value: dict[str, Any]) -> list[Decoded]:
        call_id = value["toolCallId"]
        if not self._calls.get(call_id):
            raise ValueError(f"tool-input-delta for tool call {call_id!r}, which is not streaming")
        if not value["inputTextDelta"]:
            return []
        self._streamed.add(call_id)
        return [ToolCallDelta(call_id, value["inputTextDelta"])]

    def _tool_input_end(self, value: dict[str, Any]) -> list[Decoded]:
        """``tool-input-available`` or ``tool-input-error``: the call's input is complete."""
        call_id = value["toolCallId"]
        out: list[Decoded] = []
        state = self._calls.get(call_id)
        if state is None:  # a call sent whole, without streaming its input
            out.append(ToolCallBegin(call_id, value["toolName"], _parent_id(value)))
        elif not state:
            return []
        self._calls[call_id] = False
        if call_id not in self._streamed:
            arguments = value.get("input")
            if isinstance(arguments, str) and value["type"] == "tool-input-error":
                text = arguments
            else:
                text = "" if arguments in (None, {}) else dumps(arguments)
            if text:
                out.append(ToolCallDelta(call_id, text))
        self._streamed.discard(call_id)
        out.append(ToolCallArgsFinish(call_id))
        return out

    def _tool_output(self, value: dict[str, Any]) -> list[Decoded]:
        call_id = value["toolCallId"]
        if value["type"] == "tool-output-error":
            return [ToolResult(call_id, value["errorText"], is_error=True)]
        return [ToolResult(call_id, value.get("output"))]

    def _source(self, value: dict[str, Any]) -> list[Decoded]:
        metadata = _metadata(value)
        return [
            Source(
                value["sourceId"],
                value["url"],
                value.get("title"),
                metadata.get("parentId"),
                metadata.get("sourceType", "url"),
            )
        ]

    def _file(self, value: dict[str, Any]) -> list[Decoded]:
        url: str = value["url"]
        header, sep, payload = url.partition(",")
        if url.startswith("data:") and sep and header.endswith(";base64"):
            url = payload
        return [File(url, value["mediaType"], _parent_id(value))]

    def _data(self, value: dict[str, Any]) -> list[Decoded]:
        kind: str = value["type"]
        if kind == "data-state" and value.get("id") == STATE_ID:
            return [StateUpdate(({"type": "set", "path": [], "value": value.get("data")},))]
        name = None if kind == UNNAMED_DATA_TYPE else kind[len("data-") :]
        return [Data(value.get("data"), name)]

    def _error(self, value: dict[str, Any]) -> list[Decoded]:
        return [Error(value["errorText"])]

    def _start_step(self, value: dict[str, Any]) -> list[Decoded]:
        # The wire has no step message id: the message's own id is the closest.
        return [StepStart(self._message_id or "")]

    def _metadata_chunk(self, value: dict[str, Any]) -> list[Decoded]:
        return self._message_metadata(value.get("messageMetadata"))

    def _message_metadata(self, metadata: Any) -> list[Decoded]:
        """Steps and annotations come as whole lists: decode the entries not seen yet."""
        if not isinstance(metadata, dict):
            return []
        out: list[Decoded] = []
        steps = metadata.get("steps")
        if isinstance(steps, list):
            for step in steps[self._steps :]:
                if not isinstance(step, dict):
                    raise ValueError(f"a step in the message metadata is not an object: {step!r}")
                usage = step.get("usage")
                usage = usage if isinstance(usage, dict) else {}
                out.append(
                    StepFinish(
                        step.get("finishReason", "stop"),
                        _int(usage.get("inputTokens")) or 0,
                        _int(usage.get("outputTokens")) or 0,
                        bool(step.get("isContinued", False)),
                    )
                )
            self._steps = max(self._steps, len(steps))
        annotations = metadata.get("annotations")
        if isinstance(annotations, list) and len(annotations) > self._seen_annotations:
            out.append(Annotations(tuple(annotations[self._seen_annotations :])))
            self._seen_annotations = len(annotations)
        return out

    def _finish(self, value: dict[str, Any]) -> list[Decoded]:
        metadata = value.get("messageMetadata")
        out = self._message_metadata(metadata)
        usage = metadata.get("usage") if isinstance(metadata, dict) else None
        usage = usage if isinstance(usage, dict) else {}
        reason = value.get("finishReason")
        out.append(
            StreamEnd(
                reason if isinstance(reason, str) else None,
                _int(usage.get("inputTokens")),
                _int(usage.get("outputTokens")),
            )
        )
        return out

    def _abort(self, value: dict[str, Any]) -> list[Decoded]:
        return [StreamEnd(CANCELLED)]


_DECODERS: dict[str, Callable[[UIMessageStreamDecoder, dict[str, Any]], list[Decoded]]] = {
    "start": UIMessageStreamDecoder._start,
    "text-start": UIMessageStreamDecoder._part_start,
    "text-delta": UIMessageStreamDecoder._part_delta,
    "text-end": UIMessageStreamDecoder._part_end,
    "reasoning-start": UIMessageStreamDecoder._part_start,
    "reasoning-delta": UIMessageStreamDecoder._part_delta,
    "reasoning-end": UIMessageStreamDecoder._part_end,
    "tool-input-start": UIMessageStreamDecoder._tool_input_start,
    "tool-input-delta": UIMessageStreamDecoder._tool_input_delta,
    "tool-input-available": UIMessageStreamDecoder._tool_input_end,
    "tool-input-error": UIMessageStreamDecoder._tool_input_end,
    "tool-output-available": UIMessageStreamDecoder._tool_output,
    "tool-output-error": UIMessageStreamDecoder._tool_output,
    "source-url": UIMessageStreamDecoder._source,
    "file": UIMessageStreamDecoder._file,
    "error": UIMessageStreamDecoder._error,
    "start-step": UIMessageStreamDecoder._start_step,
    "message-metadata": UIMessageStreamDecoder._metadata_chunk,
    "finish": UIMessageStreamDecoder._finish,
    "abort": UIMessageStreamDecoder._abort,
}

_IGNORED = frozenset(
    {
        # Chunks of the protocol that no chunk kind expresses: nothing to give back.
        "finish-step",
        "custom",
        "source-document",
        "reasoning-file",
        "tool-approval-request",
        "tool-approval-response",
        "tool-output-denied",
        "reset-step",
        "steering-message",
    }
)

UI_MESSAGE_STREAM = register(
    WireProtocol(
        name="ui-message-stream",
        media_type="text/event-stream",
        framing="sse",
        new_encoder=UIMessageStreamEncoder,
        parse_request=parse_request,
        new_decoder=UIMessageStreamDecoder,
        keepalive=KEEPALIVE,
        event_ids=True,  # its official client reads `id:` lines (tests/test_event_ids.py)
        headers={"x-vercel-ai-ui-message-stream": "v1"},
    )
)
