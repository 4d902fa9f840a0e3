"""``data-stream``: assistant-ui's data stream, one ``CODE:JSON`` line per event.

Plain codes carry what they can say (``0`` text, ``g`` reasoning, ``b``/``c``/``a`` tool calls,
``2`` data, ``3`` errors, ``8`` annotations, ``f``/``e`` steps, ``h`` sources, ``k`` files); the
``aui-*`` codes only what a plain code cannot (a parent id, state operations, named data).  A tool
call's arguments end with a ``c`` frame carrying ``isFinal: true``; the stream ends with ``d``
(a stopped run's with the finish reason ``cancelled``: assistant-stream's accumulator makes that
message ``incomplete`` with the reason ``cancelled``, assistant-ui's status for a cancelled one).
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
from ..messages import Message, Part, ReasoningPart, TextPart, ToolCallPart
from ..tally import RunTally
from . import Decoded, StreamEnd, WireProtocol, register
from ._conversation import Conversation, args_text, file_from, string, text_of
from ._request import optional, require_object
from ._tool_args import ToolCallArgs

__all__ = ["DATA_STREAM", "DataStreamDecoder", "DataStreamEncoder", "parse_request"]


def _frame(code: str, value: Any) -> str:
    return f"{code}:{dumps(value)}\n"


def _args_final(tool_call_id: str, missing: str) -> str:
    """The end of a call's arguments: the text still missing from them, marked final."""
    return _frame("c", {"toolCallId": tool_call_id, "argsTextDelta": missing, "isFinal": True})


class DataStreamEncoder:
    """Encodes one stream as assistant-ui data stream lines."""

    def __init__(self, input: RunInput | None = None) -> None:
        self._args: ToolCallArgs[str] = ToolCallArgs()  # a call's record is its id
        self._tally = RunTally()

    def encode(self, chunk: Chunk) -> str:
        if type(chunk) is TextDelta and chunk.parent_id is None:  # the hot path
            return "0:" + dumps_str(chunk.text_delta) + "\n"
        return _ENCODERS[type(chunk)](self, chunk)

    def _text_delta(self, chunk: TextDelta) -> str:
        return _frame(
            "aui-text-delta", {"textDelta": chunk.text_delta, "parentId": chunk.parent_id}
        )

    def _reasoning_delta(self, chunk: ReasoningDelta) -> str:
        if chunk.parent_id is None:
            return "g:" + dumps_str(chunk.reasoning_delta) + "\n"
        return _frame(
            "aui-reasoning-delta",
            {"reasoningDelta": chunk.reasoning_delta, "parentId": chunk.parent_id},
        )

    def _tool_call_begin(self, chunk: ToolCallBegin) -> str:
        self._args.begin(chunk.tool_call_id, chunk.tool_call_id)
        self._tally.tool_call(chunk.tool_call_id)
        value = {"toolCallId": chunk.tool_call_id, "toolName": chunk.tool_name}
        if chunk.parent_id is not None:
            value["parentId"] = chunk.parent_id
        return _frame("b", value)

    def _tool_call_delta(self, chunk: ToolCallDelta) -> str:
        self._args.append(chunk.tool_call_id, chunk.args_text_delta)
        # Streamed arguments are the second hot path: two string encodes, not a dict dump (7x).
        return (
            'c:{"toolCallId":'
            + dumps_str(chunk.tool_call_id)
            + ',"argsTextDelta":'
            + dumps_str(chunk.args_text_delta)
            + "}\n"
        )

    def _tool_call_args_finish(self, chunk: ToolCallArgsFinish) -> str:
        closed = self._args.close(chunk.tool_call_id)
        return "" if closed is None else _args_final(*closed)

    def _tool_result(self, chunk: ToolResult) -> str:
        closing = self._tool_call_args_finish(ToolCallArgsFinish(chunk.tool_call_id))
        self._tally.tool_result(chunk.tool_call_id)
        value: dict[str, Any] = {"toolCallId": chunk.tool_call_id, "result": chunk.result}
        if chunk.artifact is not None:
            value["artifact"] = chunk.artifact
        if chunk.is_error:
            value["isError"] = True
        return closing + _frame("a", value)

    def _source(self, chunk: Source) -> str:
        value = {"sourceType": chunk.source_type, "id": chunk.id, "url": chunk.url}
        if chunk.title is not None:
            value["title"] = chunk.title
        if chunk.parent_id is not None:
            value["parentId"] = chunk.parent_id
        return _frame("h", value)

    def _file(self, chunk: File) -> str:
        value = {"data": chunk.data, "mimeType": chunk.mime_type}
        if chunk.parent_id is not None:
            value["parentId"] = chunk.parent_id
        return _frame("k", value)

    def _data(self, chunk: Data) -> str:
        if chunk.name is None:
            return _frame("2", [chunk.data])
        return _frame("aui-data", {"name": chunk.name, "data": chunk.data})

    def _annotations(self, chunk: Annotations) -> str:
        return _frame("8", list(chunk.annotations))

    def _error(self, chunk: Error) -> str:
        self._tally.error()
        return self._close_open_args() + "3:" + dumps_str(chunk.error) + "\n"

    def _step_start(self, chunk: StepStart) -> str:
        return _frame("f", {"messageId": chunk.message_id})

    def _step_finish(self, chunk: StepFinish) -> str:
        self._tally.step_finish(chunk.finish_reason, chunk.input_tokens, chunk.output_tokens)
        return self._close_open_args() + _frame(
            "e",
            {
                "finishReason": chunk.finish_reason,
                "usage": {
                    "inputTokens": chunk.input_tokens,
                    "outputTokens": chunk.output_tokens,
                },
                "isContinued": chunk.is_continued,
            },
        )

    def _update_state(self, chunk: StateUpdate) -> str:
        return _frame("aui-state", list(chunk.operations))

    def _close_open_args(self) -> str:
        return "".join(_args_final(*closed) for closed in self._args.close_all())

    def finish(self) -> str:
        tally = self._tally
        return self._close_open_args() + _frame(
            "d",
            {
                "finishReason": tally.finish_reason(),
                "usage": {"inputTokens": tally.input_tokens, "outputTokens": tally.output_tokens},
            },
        )


_ENCODERS: dict[type, Callable[[DataStreamEncoder, Any], str]] = {
    TextDelta: DataStreamEncoder._text_delta,
    ReasoningDelta: DataStreamEncoder._reasoning_delta,
    ToolCallBegin: DataStreamEncoder._tool_call_begin,
    ToolCallDelta: DataStreamEncoder._tool_call_delta,
    ToolCallArgsFinish: DataStreamEncoder._tool_call_args_finish,
    ToolResult: DataStreamEncoder._tool_result,
    Source: DataStreamEncoder._source,
    File: DataStreamEncoder._file,
    Data: DataStreamEncoder._data,
    Annotations: DataStreamEncoder._annotations,
    Error: DataStreamEncoder._error,
    StepStart: DataStreamEncoder._step_start,
    StepFinish: DataStreamEncoder._step_finish,
    StateUpdate: DataStreamEncoder._update_state,
}


def parse_request(body: Any) -> RunInput:
    """The body of assistant-ui's data-stream runtime (``useDataStreamRuntime``)."""
    body = require_object(body, "data-stream")
    tools = optional(body, "tools", (dict, list), [])
    if isinstance(tools, dict):  # {name: {description, parameters}}
        tools = [{"name": name, **spec} for name, spec in tools.items() if isinstance(spec, dict)]
    return RunInput(
        messages=parse_messages(optional(body, "messages", list, [])),
        tools=tools,
        state=body.get("state"),
        thread_id=optional(body, "threadId", str, None),
        run_id=optional(body, "unstable_assistantMessageId", str, None),
        system=optional(body, "system", str, None),
        options={"runConfig": body["runConfig"]} if "runConfig" in body else {},
        raw=body,
    )


def parse_messages(messages: list[Any]) -> list[Message]:
    """assistant-ui's language-model messages (``toLanguageModelMessages``: AI SDK model
    messages, V2 ``input``/``output`` and V1 ``args``/``result`` spellings alike)."""
    out = Conversation()
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise RequestError(
                f"messages[{index}] must be an object whose 'role' is 'system', 'user', "
                "'assistant' or 'tool'"
            )
        role, content, id = message["role"], message.get("content"), message.get("unstable_id")
        if role == "tool":
            for part in content if isinstance(content, list) else []:
                if isinstance(part, dict) and part.get("type") == "tool-result":
                    _tool_result(out, part)
            continue
        parts: list[Part] = []
        if isinstance(content, str):
            parts = text_of(content)
        for part in content if isinstance(content, list) else []:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                parts.append(TextPart(part["text"]))
            elif kind == "reasoning" and isinstance(part.get("text"), str):
                parts.append(ReasoningPart(part["text"]))
            elif kind == "image":
                found = file_from(part.get("image"), part.get("mimeType") or part.get("mediaType"))
                if found is not None:
                    parts.append(found)
            elif kind == "file":
                mime = part.get("mediaType") or part.get("mimeType")
                found = file_from(part.get("data"), mime, part.get("filename"))
                if found is not None:
                    parts.append(found)
            elif kind == "tool-call" and isinstance(part.get("toolCallId"), str):
                arguments = part["input"] if "input" in part else part.get("args")
                call = ToolCallPart(
                    part["toolCallId"], str(part.get("toolName", "")), args_text(arguments), True
                )
                parts.append(call)
        if role == "assistant":
            out.assistant(parts, id)
        else:
            out.add(role, parts, id)
    return out.messages


_ROLES = ("system", "user", "assistant", "tool")


def _tool_result(out: Conversation, part: dict[str, Any]) -> None:
    call_id = string(part.get("toolCallId"))
    if call_id is None:
        return
    is_error = bool(part.get("isError"))
    result = part.get("result")
    output = part.get("output")
    if isinstance(output, dict) and "type" in output:  # V2: {type: json | text | error-*, value}
        result = output.get("value")
        is_error = is_error or str(output["type"]).startswith("error")
    out.result(call_id, result, is_error=is_error, tool_name=string(part.get("toolName")))


class DataStreamDecoder:
    """Reads data-stream lines back into chunks."""

    def decode(self, event: str | None, data: str) -> list[Decoded]:
        if not data:
            return []  # keepalive
        code, sep, payload = data.partition(":")
        if not sep:
            raise ValueError(f"not a data-stream line: {data[:80]!r}")
        handler = _DECODERS.get(code)
        if handler is None:
            raise ValueError(f"unknown data-stream code {code!r}")
        return handler(loads(payload))

    def close(self) -> list[Decoded]:
        return []


def _decode_args(value: dict[str, Any]) -> list[Decoded]:
    call_id = value["toolCallId"]
    out: list[Decoded] = []
    if value.get("argsTextDelta"):
        out.append(ToolCallDelta(call_id, value["argsTextDelta"]))
    if value.get("isFinal"):
        out.append(ToolCallArgsFinish(call_id))
    return out


def _decode_step_finish(value: dict[str, Any]) -> list[Decoded]:
    usage = value.get("usage") or {}
    return [
        StepFinish(
            value.get("finishReason", "stop"),
            usage.get("inputTokens", 0),
            usage.get("outputTokens", 0),
            bool(value.get("isContinued", False)),
        )
    ]


def _decode_finish(value: dict[str, Any]) -> list[Decoded]:
    usage = value.get("usage") or {}
    return [
        StreamEnd(value.get("finishReason"), usage.get("inputTokens"), usage.get("outputTokens"))
    ]


_DECODERS: dict[str, Callable[[Any], list[Decoded]]] = {
    "0": lambda v: [TextDelta(v)],
    "g": lambda v: [ReasoningDelta(v)],
    "aui-text-delta": lambda v: [TextDelta(v["textDelta"], v.get("parentId"))],
    "aui-reasoning-delta": lambda v: [ReasoningDelta(v["reasoningDelta"], v.get("parentId"))],
    "b": lambda v: [ToolCallBegin(v["toolCallId"], v["toolName"], v.get("parentId"))],
    "c": _decode_args,
    "a": lambda v: [
        ToolResult(v["toolCallId"], v.get("result"), v.get("artifact"), bool(v.get("isError")))
    ],
    "h": lambda v: [
        Source(v["id"], v["url"], v.get("title"), v.get("parentId"), v.get("sourceType", "url"))
    ],
    "k": lambda v: [File(v["data"], v["mimeType"], v.get("parentId"))],
    "2": lambda v: [Data(item) for item in v],
    "aui-data": lambda v: [Data(v["data"], v["name"])],
    "8": lambda v: [Annotations(tuple(v))],
    "3": lambda v: [Error(v)],
    "f": lambda v: [StepStart(v.get("messageId"))],
    "e": _decode_step_finish,
    "aui-state": lambda v: [StateUpdate(tuple(v))],
    "d": _decode_finish,
}

DATA_STREAM = register(
    WireProtocol(
        name="data-stream",
        media_type="text/plain; charset=utf-8",
        framing="lines",
        new_encoder=DataStreamEncoder,
        parse_request=parse_request,
        new_decoder=DataStreamDecoder,
        keepalive=b"\n",
        headers={"x-vercel-ai-data-stream": "v1"},
    )
)
