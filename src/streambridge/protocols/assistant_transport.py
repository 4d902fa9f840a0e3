"""``assistant-transport``: assistant-ui's assistant-transport stream, one ``data: JSON`` SSE event
per chunk, ended by ``data: [DONE]``.

The message's content lives in parts.  ``part-start`` (at ``path: []``, the message root) appends
a part; ``text-delta``, ``tool-call-args-text-finish``, ``result`` and ``part-finish`` address it
as ``path: [index]``, its position among the parts started so far.  Every other event is
message-level and carries no path: ``data``, ``annotations``, ``step-start``, ``step-finish``,
``update-state``, ``error`` and the closing ``message-finish`` (finish reason and usage; a
stopped run's is ``cancelled``, which assistant-stream's accumulator turns into the message status
``incomplete``/``cancelled``).

Every part is finished before the stream ends, and a complete stream, errors included, ends with
``data: [DONE]``: assistant-stream's decoder treats a stream without it as cut off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._jsonlib import dumps, dumps_str, loads
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
from ..messages import DataPart, Message, ReasoningPart, SourcePart, TextPart, ToolCallPart
from ..tally import RunTally
from . import Decoded, StreamEnd, WireProtocol, register
from ._conversation import Conversation, args_text, file_from, string
from ._request import optional, require_object
from ._sse import DONE, KEEPALIVE
from ._tool_args import ToolCallArgs

__all__ = [
    "ASSISTANT_TRANSPORT",
    "AssistantTransportDecoder",
    "AssistantTransportEncoder",
    "parse_request",
]


def _event(value: Any) -> str:
    return "data: " + dumps(value) + "\n\n"


def _delta_prefix(index: int) -> str:
    """Everything of a ``text-delta`` event at part ``index`` before its JSON string."""
    return 'data: {"type":"text-delta","path":[' + str(index) + '],"textDelta":'


def _part_finish(index: int) -> str:
    return 'data: {"type":"part-finish","path":[' + str(index) + "]}\n\n"


class _OpenText:
    """The text or reasoning part that deltas of the same kind and parent id extend."""

    __slots__ = ("delta_prefix", "finish", "kind", "parent_id")

    def __init__(self, kind: type, parent_id: str | None, index: int) -> None:
        self.kind = kind
        self.parent_id = parent_id
        self.delta_prefix = _delta_prefix(index)
        self.finish = _part_finish(index)


class _Call:
    """A tool-call part: where it is, and how far it got."""

    __slots__ = ("delta_prefix", "finished", "index")

    def __init__(self, index: int) -> None:
        self.index = index
        self.delta_prefix = _delta_prefix(index)
        self.finished = False


def _args_finish(call: _Call, missing: str) -> str:
    """The end of a call's arguments: the text still missing from them, then the finish."""
    head = "" if not missing else call.delta_prefix + dumps_str(missing) + "}\n\n"
    index = str(call.index)
    return head + 'data: {"type":"tool-call-args-text-finish","path":[' + index + "]}\n\n"


class AssistantTransportEncoder:
    """Encodes one stream as assistant-transport SSE events.

    Nothing in the output depends on the run's input: the protocol carries no ids or timestamps
    of its own, so the bytes are a function of the chunks alone.
    """

    def __init__(self, input: RunInput | None = None) -> None:
        self._parts = 0  # parts started so far: the index the next part gets
        self._text: _OpenText | None = None
        self._plain_text_prefix: str | None = None  # the open part's, if plain text (hot path)
        self._calls: dict[str, _Call] = {}
        self._args: ToolCallArgs[_Call] = ToolCallArgs()
        self._tally = RunTally()

    def encode(self, chunk: Chunk) -> str:
        if type(chunk) is TextDelta and chunk.parent_id is None:  # the hot path
            prefix = self._plain_text_prefix
            if prefix is not None:
                return prefix + dumps_str(chunk.text_delta) + "}\n\n"
        return _ENCODERS[type(chunk)](self, chunk)

    # Each method below serializes everything that can fail (NaN, non-JSON values) before it
    # changes any state, so a chunk that raises leaves the encoder as it was and the error and
    # finish that follow still close exactly the parts that are open.

    def _start_part(self, part_json: str) -> str:
        """Finish the open text part (a new part ends it, as in assistant-stream), then start
        the part whose JSON is ``part_json`` at index ``self._parts - 1``."""
        head = self._close_text()
        self._parts += 1
        return head + 'data: {"type":"part-start","path":[],"part":' + part_json + "}\n\n"

    def _close_text(self) -> str:
        text = self._text
        if text is None:
            return ""
        self._text = self._plain_text_prefix = None
        return text.finish

    def _append(self, kind: type, part_type: str, text: str, parent_id: str | None) -> str:
        delta = dumps_str(text)
        open_text = self._text
        head = ""
        if open_text is None or open_text.kind is not kind or open_text.parent_id != parent_id:
            part: dict[str, Any] = {"type": part_type}
            if parent_id is not None:
                part["parentId"] = parent_id
            head = self._start_part(dumps(part))
            open_text = self._text = _OpenText(kind, parent_id, self._parts - 1)
            if kind is TextDelta and parent_id is None:
                self._plain_text_prefix = open_text.delta_prefix
        return head + open_text.delta_prefix + delta + "}\n\n"

    def _text_delta(self, chunk: TextDelta) -> str:
        return self._append(TextDelta, "text", chunk.text_delta, chunk.parent_id)

    def _reasoning_delta(self, chunk: ReasoningDelta) -> str:
        return self._append(ReasoningDelta, "reasoning", chunk.reasoning_delta, chunk.parent_id)

    def _tool_call_begin(self, chunk: ToolCallBegin) -> str:
        part = {"type": "tool-call", "toolCallId": chunk.tool_call_id, "toolName": chunk.tool_name}
        if chunk.parent_id is not None:
            part["parentId"] = chunk.parent_id
        head = self._start_part(dumps(part))
        call = self._calls[chunk.tool_call_id] = _Call(self._parts - 1)
        self._args.begin(chunk.tool_call_id, call)
        self._tally.tool_call(chunk.tool_call_id)
        return head

    def _tool_call_delta(self, chunk: ToolCallDelta) -> str:
        # Streamed arguments are the second hot path: one string encode, no dict dump.
        delta = dumps_str(chunk.args_text_delta)
        call = self._args.append(chunk.tool_call_id, chunk.args_text_delta)
        if call is None:
            return ""  # no part to address, or arguments already complete
        return call.delta_prefix + delta + "}\n\n"

    def _tool_call_args_finish(self, chunk: ToolCallArgsFinish) -> str:
        closed = self._args.close(chunk.tool_call_id)
        return "" if closed is None else _args_finish(*closed)

    def _tool_result(self, chunk: ToolResult) -> str:
        call = self._calls.get(chunk.tool_call_id)
        if call is None:
            return ""  # a result for a call this stream never started: no part to address
        value: dict[str, Any] = {
            "type": "result",
            "path": [call.index],
            "result": chunk.result,
            "isError": chunk.is_error,
        }
        if chunk.artifact is not None:
            value["artifact"] = chunk.artifact
        event = _event(value)
        self._tally.tool_result(chunk.tool_call_id)
        closed = self._args.close(chunk.tool_call_id)
        head = "" if closed is None else _args_finish(*closed)
        if call.finished:
            return head + event
        call.finished = True
        return head + event + _part_finish(call.index)

    def _closed_part(self, part: dict[str, Any], parent_id: str | None) -> str:
        """A part that is complete at once (source, file, named data): start and finish."""
        if parent_id is not None:
            part["parentId"] = parent_id
        head = self._start_part(dumps(part))
        return head + _part_finish(self._parts - 1)

    def _source(self, chunk: Source) -> str:
        part = {"type": "source", "sourceType": chunk.source_type, "id": chunk.id, "url": chunk.url}
        if chunk.title is not None:
            part["title"] = chunk.title
        return self._closed_part(part, chunk.parent_id)

    def _file(self, chunk: File) -> str:
        part = {"type": "file", "data": chunk.data, "mimeType": chunk.mime_type}
        return self._closed_part(part, chunk.parent_id)

    def _data(self, chunk: Data) -> str:
        if chunk.name is None:
            return 'data: {"type":"data","data":[' + dumps(chunk.data) + "]}\n\n"
        return self._closed_part({"type": "data", "name": chunk.name, "data": chunk.data}, None)

    def _annotations(self, chunk: Annotations) -> str:
        return _event({"type": "annotations", "annotations": list(chunk.annotations)})

    def _error(self, chunk: Error) -> str:
        event = 'data: {"type":"error","error":' + dumps_str(chunk.error) + "}\n\n"
        self._tally.error()
        return self._close_open() + event

    def _step_start(self, chunk: StepStart) -> str:
        if chunk.message_id is None:
            return 'data: {"type":"step-start"}\n\n'
        return 'data: {"type":"step-start","messageId":' + dumps_str(chunk.message_id) + "}\n\n"

    def _step_finish(self, chunk: StepFinish) -> str:
        event = _event(
            {
                "type": "step-finish",
                "finishReason": chunk.finish_reason,
                "usage": {"inputTokens": chunk.input_tokens, "outputTokens": chunk.output_tokens},
                "isContinued": chunk.is_continued,
            }
        )
        self._tally.step_finish(chunk.finish_reason, chunk.input_tokens, chunk.output_tokens)
        return self._close_open() + event

    def _update_state(self, chunk: StateUpdate) -> str:
        return _event({"type": "update-state", "operations": list(chunk.operations)})

    def _close_open(self) -> str:
        """Finish the open text part and close every tool call's open arguments."""
        return self._close_text() + "".join(
            _args_finish(*closed) for closed in self._args.close_all()
        )

    def finish(self) -> str:
        head = self._close_open()
        for call in self._calls.values():
            if not call.finished:  # a call still waiting for its result (a frontend tool)
                call.finished = True
                head += _part_finish(call.index)
        tally = self._tally
        return (
            head
            + _event(
                {
                    "type": "message-finish",
                    "finishReason": tally.finish_reason(),
                    "usage": {
                        "inputTokens": tally.input_tokens,
                        "outputTokens": tally.output_tokens,
                    },
                }
            )
            + DONE
        )


_ENCODERS: dict[type, Callable[[AssistantTransportEncoder, Any], str]] = {
    TextDelta: AssistantTransportEncoder._text_delta,
    ReasoningDelta: AssistantTransportEncoder._reasoning_delta,
    ToolCallBegin: AssistantTransportEncoder._tool_call_begin,
    ToolCallDelta: AssistantTransportEncoder._tool_call_delta,
    ToolCallArgsFinish: AssistantTransportEncoder._tool_call_args_finish,
    ToolResult: AssistantTransportEncoder._tool_result,
    Source: AssistantTransportEncoder._source,
    File: AssistantTransportEncoder._file,
    Data: AssistantTransportEncoder._data,
    Annotations: AssistantTransportEncoder._annotations,
    Error: AssistantTransportEncoder._error,
    StepStart: AssistantTransportEncoder._step_start,
    StepFinish: AssistantTransportEncoder._step_finish,
    StateUpdate: AssistantTransportEncoder._update_state,
}


# -- the request ---------------------------------------------------------------------------------


def _command(command: Any, index: int) -> Any:
    """A command, checked; for the messages list, what it adds (``None`` for other commands)."""
    where = f"commands[{index}]"
    if not isinstance(command, dict) or not isinstance(command.get("type"), str):
        raise RequestError(f"{where} must be a JSON object with a string 'type'")
    if command["type"] == "add-message":
        message = command.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise RequestError(f"{where} (add-message) needs a 'message' object with a 'role'")
        if not isinstance(message.get("parts"), list):
            raise RequestError(f"{where} (add-message): 'message.parts' must be a JSON array")
        return message
    if command["type"] == "add-tool-result":
        if not isinstance(command.get("toolCallId"), str):
            raise RequestError(f"{where} (add-tool-result) needs a string 'toolCallId'")
        if "isError" in command and not isinstance(command["isError"], bool):
            raise RequestError(f"{where} (add-tool-result): 'isError' must be a JSON boolean")
        result = {
            "type": "tool-result",
            "toolCallId": command["toolCallId"],
            "toolName": command.get("toolName"),
            "result": command.get("result"),
            "isError": command.get("isError", False),
        }
        if command.get("artifact") is not None:
            result["artifact"] = command["artifact"]
        return {"role": "tool", "parts": [result]}
    return None  # an application's own command: in options["commands"] and raw


def parse_messages(messages: list[dict[str, Any]]) -> list[Message]:
    """What the commands add, typed: an ``add-message``'s assistant-ui message (its ``parts``
    and its attachments' parts) and each ``add-tool-result``'s result, set on its call when
    that call is in the request, else kept as a ``tool`` message."""
    out = Conversation()
    for message in messages:
        if message["role"] == "tool":
            for part in message["parts"]:
                out.result(
                    part["toolCallId"],
                    part["result"],
                    is_error=part["isError"],
                    tool_name=string(part.get("toolName")),
                    artifact=part.get("artifact"),
                )
            continue
        target = out.add(message["role"], [], message.get("id"))
        attachments = message.get("attachments")
        extra = [
            part
            for attachment in (attachments if isinstance(attachments, list) else [])
            if isinstance(attachment, dict) and isinstance(attachment.get("content"), list)
            for part in attachment["content"]
        ]
        for part in [*message["parts"], *extra]:
            _thread_part(out, target, part)
    return out.messages


def _thread_part(out: Conversation, target: Message, part: Any) -> None:
    """One assistant-ui message part (``ThreadMessage`` content)."""
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text" and isinstance(part.get("text"), str):
        target.parts.append(TextPart(part["text"]))
    elif kind == "reasoning" and isinstance(part.get("text"), str):
        target.parts.append(ReasoningPart(part["text"]))
    elif kind == "image":
        found = file_from(part.get("image"), part.get("mimeType"), part.get("filename"))
        if found is not None:
            target.parts.append(found)
    elif kind == "file":
        found = file_from(part.get("data"), part.get("mimeType"), part.get("filename"))
        if found is not None:
            target.parts.append(found)
    elif kind == "source" and isinstance(part.get("url"), str):
        source = SourcePart(str(part.get("id", "")), part["url"], string(part.get("title")))
        target.parts.append(source)
    elif kind == "data":
        target.parts.append(DataPart(part.get("data"), string(part.get("name"))))
    elif kind == "tool-call" and isinstance(part.get("toolCallId"), str):
        text = part["argsText"] if isinstance(part.get("argsText"), str) else None
        call = ToolCallPart(
            part["toolCallId"],
            str(part.get("toolName", "")),
            text if text is not None else args_text(part.get("args")),
            True,
        )
        out.add_tool_call(target, call)
        if "result" in part:
            call.set_result(
                part["result"], is_error=bool(part.get("isError")), artifact=part.get("artifact")
            )


def parse_request(body: Any) -> RunInput:
    """The body assistant-ui's ``useAssistantTransportRuntime`` POSTs.

    ``{"commands": [...], "state": ..., "system": ..., "tools": {name: {description,
    parameters}}, "threadId": ..., "runId"?: ..., "parentId"?: ..., "callSettings": ...,
    "config": ..., ...}``.  ``messages`` holds what the commands add, in order: an
    ``add-message``'s message (``{"role", "parts"}``) and, for an ``add-tool-result``, a
    ``{"role": "tool", "parts": [{"type": "tool-result", ...}]}`` message.  The commands
    themselves (an application's own ones too) are in ``options["commands"]``.
    """
    body = require_object(body, "assistant-transport")
    if "commands" not in body:
        raise RequestError(
            "the assistant-transport request body needs 'commands' (a JSON array of commands "
            "such as add-message and add-tool-result)"
        )
    commands = body["commands"]
    if not isinstance(commands, list):
        raise RequestError("'commands' must be a JSON array")
    messages = parse_messages(
        [m for i, c in enumerate(commands) if (m := _command(c, i)) is not None]
    )
    tools = optional(body, "tools", (dict, list), [])
    if isinstance(tools, dict):  # {name: {description, parameters}}
        tools = [{"name": name, **spec} for name, spec in tools.items() if isinstance(spec, dict)]
    options: dict[str, Any] = {"commands": commands}
    for key in ("callSettings", "config", "parentId"):
        if key in body:
            options[key] = body[key]
    return RunInput(
        messages=messages,
        tools=tools,
        state=body.get("state"),
        thread_id=optional(body, "threadId", str, None),
        run_id=optional(body, "runId", str, None),
        system=optional(body, "system", str, None),
        options=options,
        raw=body,
    )


# -- decoding ------------------------------------------------------------------------------------


class AssistantTransportDecoder:
    """Reads assistant-transport events back into chunks.

    Like assistant-stream's decoder it refuses named SSE events and stops at ``[DONE]``; a
    stream without ``[DONE]`` was cut off and ends without a :class:`StreamEnd`.  A part of a
    type it does not know keeps its index (later paths still line up) and gives no chunk.
    """

    def __init__(self) -> None:
        # Per part index: its type, its parent id and, for a tool call, the call's id.
        self._parts: list[tuple[str, str | None, str | None]] = []
        self._done = False

    def decode(self, event: str | None, data: str) -> list[Decoded]:
        if self._done:
            return []  # nothing after [DONE] is read
        if event is not None:
            raise ValueError(f"assistant-transport has no named SSE events, got {event!r}")
        if not data:
            return []
        if data == "[DONE]":
            self._done = True
            return []
        value = loads(data)
        if not isinstance(value, dict):
            raise ValueError(f"not an assistant-transport event: {data[:80]!r}")
        kind = value.get("type")
        handler = _DECODERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            raise ValueError(f"unknown assistant-transport event type {kind!r}")
        try:
            return handler(self, value)
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"malformed assistant-transport event: {data[:80]!r}") from exc

    def close(self) -> list[Decoded]:
        return []

    def _part(self, value: dict[str, Any]) -> tuple[str, str | None, str | None]:
        path = value["path"]
        if not (
            isinstance(path, list)
            and len(path) == 1
            and type(path[0]) is int
            and 0 <= path[0] < len(self._parts)
        ):
            raise ValueError(f"no part at path {path!r} of {value['type']!r}")
        return self._parts[path[0]]

    def _part_start(self, value: dict[str, Any]) -> list[Decoded]:
        part = value["part"]
        kind, parent_id = part["type"], part.get("parentId")
        call_id = part["toolCallId"] if kind == "tool-call" else None
        self._parts.append((kind, parent_id, call_id))
        if kind == "tool-call":
            return [ToolCallBegin(part["toolCallId"], part["toolName"], parent_id)]
        if kind == "source":
            source_type = part.get("sourceType", "url")
            return [Source(part["id"], part["url"], part.get("title"), parent_id, source_type)]
        if kind == "file":
            return [File(part["data"], part["mimeType"], parent_id)]
        if kind == "data":
            return [Data(part["data"], part["name"])]
        return []  # text and reasoning start empty; unknown parts only hold their index

    def _text_delta(self, value: dict[str, Any]) -> list[Decoded]:
        kind, parent_id, call_id = self._part(value)
        text = value["textDelta"]
        if not isinstance(text, str):
            raise TypeError("textDelta must be a string")
        if kind == "text":
            return [TextDelta(text, parent_id)]
        if kind == "reasoning":
            return [ReasoningDelta(text, parent_id)]
        if call_id is not None:
            return [ToolCallDelta(call_id, text)]
        raise ValueError(f"text-delta for a {kind!r} part")

    def _call_id(self, value: dict[str, Any]) -> str:
        call_id = self._part(value)[2]
        if call_id is None:
            raise ValueError(f"{value['type']!r} for a part that is not a tool call")
        return call_id

    def _args_finish(self, value: dict[str, Any]) -> list[Decoded]:
        return [ToolCallArgsFinish(self._call_id(value))]

    def _result(self, value: dict[str, Any]) -> list[Decoded]:
        call_id = self._call_id(value)
        return [
            ToolResult(
                call_id, value.get("result"), value.get("artifact"), bool(value.get("isError"))
            )
        ]

    def _part_finish(self, value: dict[str, Any]) -> list[Decoded]:
        self._part(value)
        return []


def _decode_step_start(value: Any) -> list[Decoded]:
    return [StepStart(value.get("messageId"))]  # none when the step had no id


def _decode_step_finish(value: dict[str, Any]) -> list[Decoded]:
    usage = value.get("usage") or {}
    return [
        StepFinish(
            value["finishReason"],
            usage.get("inputTokens", 0),
            usage.get("outputTokens", 0),
            bool(value.get("isContinued", False)),
        )
    ]


def _decode_message_finish(value: dict[str, Any]) -> list[Decoded]:
    usage = value.get("usage") or {}
    return [StreamEnd(value["finishReason"], usage.get("inputTokens"), usage.get("outputTokens"))]


def _message_level(
    decode: Callable[[dict[str, Any]], list[Decoded]],
) -> Callable[[AssistantTransportDecoder, dict[str, Any]], list[Decoded]]:
    return lambda _decoder, value: decode(value)


_DECODERS: dict[str, Callable[[AssistantTransportDecoder, dict[str, Any]], list[Decoded]]] = {
    "part-start": AssistantTransportDecoder._part_start,
    "text-delta": AssistantTransportDecoder._text_delta,
    "tool-call-args-text-finish": AssistantTransportDecoder._args_finish,
    "result": AssistantTransportDecoder._result,
    "part-finish": AssistantTransportDecoder._part_finish,
    "data": _message_level(lambda v: [Data(item) for item in v["data"]]),
    "annotations": _message_level(lambda v: [Annotations(tuple(v["annotations"]))]),
    "step-start": _message_level(_decode_step_start),
    "step-finish": _message_level(_decode_step_finish),
    "message-finish": _message_level(_decode_message_finish),
    "error": _message_level(lambda v: [Error(v.get("error", "unknown error"))]),
    "update-state": _message_level(lambda v: [StateUpdate(tuple(v["operations"]))]),
}

ASSISTANT_TRANSPORT = register(
    WireProtocol(
        name="assistant-transport",
        media_type="text/event-stream",
        framing="sse",
        new_encoder=AssistantTransportEncoder,
        parse_request=parse_request,
        new_decoder=AssistantTransportDecoder,
        keepalive=KEEPALIVE,
        event_ids=True,  # its official client reads `id:` lines (tests/test_event_ids.py)
        headers={},  # Cache-Control and the rest come from the transport, alike for all
    )
)
