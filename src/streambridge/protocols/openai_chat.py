"""``openai-chat``: OpenAI Chat Completions streaming, ``chat.completion.chunk`` objects as SSE.

Every chunk is ``data: {"id","object","created","model","choices":[{"index":0,"delta":{…},
"finish_reason":…}]}``: the first announces the role, text goes in ``delta.content``, reasoning in
``delta.reasoning_content`` and tool calls in ``delta.tool_calls[index]`` (the first fragment
names the call, the rest carry argument text; one call at a time, see ``_tool_call_begin``).  The
last choice chunk has the ``finish_reason``;
a usage chunk (``choices: []``) follows when the request asked ``stream_options.include_usage``;
``data: [DONE]`` ends the stream.  An error is a ``{"error": {...}}`` frame in place of a finish
reason (the SDK raises ``APIError`` on it).  Chat completions have no finish reason for a stopped
run: its stream ends with ``"stop"``, and only the ``streambridge`` step-finish says
``"cancelled"``.

What chat completions cannot say (tool results, sources, files, data, annotations, steps, state,
parent ids) rides in a top-level ``"streambridge"`` object on a chunk whose delta is empty: OpenAI
clients ignore unknown fields, :mod:`streambridge.client` reads them back.
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
from ..messages import FilePart, Message, Part, TextPart
from ..tally import CANCELLED, RunTally
from . import SIDE_CHANNEL_KEY, Decoded, StreamEnd, WireProtocol, register
from ._conversation import (
    Conversation,
    add_function_calls,
    file_from,
    image_from,
    joined_text,
    string,
    text_of,
)
from ._request import optional, require_object
from ._sse import DONE, KEEPALIVE
from ._tool_args import ToolCallArgs

__all__ = [
    "DEFAULT_MODEL",
    "OPENAI_CHAT",
    "OpenAIChatDecoder",
    "OpenAIChatEncoder",
    "parse_request",
]

DEFAULT_MODEL = "streambridge"
"""The ``model`` echoed when the request named none."""


# The chunk vocabulary's finish reasons in chat-completion spelling.  The SDK's schema allows
# only stop, length, tool_calls, content_filter and function_call: anything else is sent as stop.
_WIRE_REASONS = {"tool-calls": "tool_calls", "length": "length", "content-filter": "content_filter"}
_CHUNK_REASONS = {
    "tool_calls": "tool-calls",
    "function_call": "tool-calls",
    "content_filter": "content-filter",
}


class _WaitingCall:
    """A tool call that began while another was on the wire."""

    __slots__ = ("args", "held", "missing", "parent_id", "tool_name")

    def __init__(self, tool_name: str, parent_id: str | None) -> None:
        self.tool_name = tool_name
        self.parent_id = parent_id
        self.args: list[str] = []
        self.missing: str | None = None  # once its arguments closed: the text still missing
        self.held: list[str] = []  # frames that must follow it (its result)


class OpenAIChatEncoder:
    """Encodes one stream as OpenAI ``chat.completion.chunk`` server-sent events."""

    def __init__(self, input: RunInput | None = None) -> None:
        input = input or RunInput()
        options = input.options
        model = options.get("model")
        if not isinstance(model, str) or not model:
            model = DEFAULT_MODEL
        completion_id = "chatcmpl-" + (input.run_id or "streambridge")
        head = (
            'data: {"id":'
            + dumps_str(completion_id)
            + ',"object":"chat.completion.chunk","created":'
            + str(int(input.created_at))
            + ',"model":'
            + dumps_str(model)
        )
        self._head = head
        self._delta_open = head + ',"choices":[{"index":0,"delta":{'
        self._delta_close = '},"finish_reason":null}]}\n\n'
        self._include_usage = bool(options.get("include_usage"))
        self._started = False
        self._indexes: dict[str, int] = {}  # tool call id -> its index in delta.tool_calls
        self._fragment_heads: dict[str, str] = {}  # tool call id -> its fragments' first part
        self._fragment_tail = "}}]" + self._delta_close
        self._active: str | None = None  # the tool call whose fragments are on the wire
        self._args: ToolCallArgs[str] = ToolCallArgs()  # a call's record is its id
        self._waiting: dict[str, _WaitingCall] = {}  # calls that began meanwhile, in order
        self._tally = RunTally()

    def encode(self, chunk: Chunk) -> str:
        if type(chunk) is TextDelta and chunk.parent_id is None and self._started:  # hot path
            return self._delta_open + '"content":' + dumps_str(chunk.text_delta) + self._delta_close
        return _ENCODERS[type(chunk)](self, chunk)

    # -- frames ------------------------------------------------------------------------------

    def _start(self) -> str:
        """The role chunk that opens every stream, before its first other frame."""
        if self._started:
            return ""
        self._started = True
        return self._delta_open + '"role":"assistant"' + self._delta_close

    def _delta(self, delta: str, parent_id: str | None = None) -> str:
        if parent_id is None:
            return self._start() + self._delta_open + delta + self._delta_close
        extension = ',"' + SIDE_CHANNEL_KEY + '":{"parent_id":' + dumps_str(parent_id) + "}"
        return (
            self._start() + self._delta_open + delta + self._delta_close[:-3] + extension + "}\n\n"
        )

    def _extension(self, value: str) -> str:
        """A chunk with an empty delta and ``value`` (JSON text) as its extension."""
        return (
            self._start()
            + self._delta_open
            + self._delta_close[:-3]
            + ',"'
            + SIDE_CHANNEL_KEY
            + '":'
            + value
            + "}\n\n"
        )

    # -- chunk kinds -------------------------------------------------------------------------

    def _text_delta(self, chunk: TextDelta) -> str:
        return self._delta('"content":' + dumps_str(chunk.text_delta), chunk.parent_id)

    def _reasoning_delta(self, chunk: ReasoningDelta) -> str:
        return self._delta(
            '"reasoning_content":' + dumps_str(chunk.reasoning_delta), chunk.parent_id
        )

    # Tool calls go on the wire one at a time, each call's fragments together: OpenAI clients
    # take a fragment with a new index to mean the previous call's arguments are complete (the
    # SDK parses them right then).  A call that begins while another is on the wire waits, its
    # argument text and result held, until the one before it is finished.

    def _tool_call_begin(self, chunk: ToolCallBegin) -> str:
        call_id = chunk.tool_call_id
        if call_id in self._indexes:
            raise ValueError(f"tool call {call_id!r} began twice")
        index = len(self._indexes)
        self._indexes[call_id] = index
        self._fragment_heads[call_id] = (
            self._delta_open + '"tool_calls":[{"index":' + str(index) + ',"function":{"arguments":'
        )
        self._tally.tool_call(call_id)
        self._args.begin(call_id, call_id)
        if self._active is not None:
            self._waiting[call_id] = _WaitingCall(chunk.tool_name, chunk.parent_id)
            return ""
        return self._begin(call_id, chunk.tool_name, chunk.parent_id)

    def _begin(self, call_id: str, tool_name: str, parent_id: str | None) -> str:
        self._active = call_id
        return self._delta(
            '"tool_calls":[{"index":'
            + str(self._indexes[call_id])
            + ',"id":'
            + dumps_str(call_id)
            + ',"type":"function","function":{"name":'
            + dumps_str(tool_name)
            + ',"arguments":""}}]',
            parent_id,
        )

    def _args_fragment(self, call_id: str, text: str) -> str:
        # The second hot path: one string encode between precomputed text, not a dict dump.
        head = self._fragment_heads.get(call_id)
        if head is None:
            raise ValueError(f"arguments for tool call {call_id!r}, which never began")
        return head + dumps_str(text) + self._fragment_tail

    def _tool_call_delta(self, chunk: ToolCallDelta) -> str:
        if not chunk.args_text_delta:
            return ""
        call_id = chunk.tool_call_id
        if self._args.append(call_id, chunk.args_text_delta) is None and call_id in self._indexes:
            return ""  # its arguments are closed: the text is not the call's
        if call_id in self._waiting:
            self._waiting[call_id].args.append(chunk.args_text_delta)
            return ""
        return self._args_fragment(call_id, chunk.args_text_delta)

    def _tool_call_args_finish(self, chunk: ToolCallArgsFinish) -> str:
        call_id = chunk.tool_call_id
        if call_id == self._active:
            return self._end_active() + self._next_calls()
        waiting = self._waiting.get(call_id)
        if waiting is not None:
            self._finish_waiting(call_id, waiting)
        return ""  # the wire has no "arguments done": they end where the next call starts

    def _finish_waiting(self, call_id: str, waiting: _WaitingCall) -> None:
        closed = self._args.close(call_id)
        if waiting.missing is None:
            waiting.missing = "" if closed is None else closed[1]

    def _end_active(self, missing: str | None = None) -> str:
        """The active call's arguments are complete: one that sent no text gets the empty
        object, as OpenAI sends for a call without arguments.  ``missing``: the text its
        arguments closed with earlier, while it waited."""
        call_id, self._active = self._active, None
        if call_id is None:
            return ""
        if missing is None:
            closed = self._args.close(call_id)
            missing = "" if closed is None else closed[1]
        return self._args_fragment(call_id, missing) if missing else ""

    def _next_calls(self) -> str:
        """Put waiting calls on the wire, in the order they began, until one is unfinished."""
        text = ""
        while self._active is None and self._waiting:
            call_id = next(iter(self._waiting))
            call = self._waiting.pop(call_id)
            text += self._begin(call_id, call.tool_name, call.parent_id)
            if call.args:
                text += self._args_fragment(call_id, "".join(call.args))
            if call.missing is not None:
                text += self._end_active(call.missing) + "".join(call.held)
        return text

    def _end_all_calls(self) -> str:
        """Every call's arguments end here (an error, a step's end, the stream's end)."""
        for call_id, call in self._waiting.items():
            self._finish_waiting(call_id, call)
        return self._end_active() + self._next_calls()

    def _tool_result(self, chunk: ToolResult) -> str:
        value: dict[str, Any] = {
            "type": "tool-result",
            "tool_call_id": chunk.tool_call_id,
            "result": chunk.result,
        }
        if chunk.artifact is not None:
            value["artifact"] = chunk.artifact
        if chunk.is_error:
            value["is_error"] = True
        frame = self._extension(dumps(value))  # before any state changes: it may raise
        call_id = chunk.tool_call_id
        self._tally.tool_result(call_id)
        if call_id == self._active:
            return self._end_active() + frame + self._next_calls()
        waiting = self._waiting.get(call_id)
        if waiting is not None:  # it follows its call onto the wire
            self._finish_waiting(call_id, waiting)
            waiting.held.append(frame)
            return ""
        return frame

    def _source(self, chunk: Source) -> str:
        value = {
            "type": "source",
            "source_type": chunk.source_type,
            "id": chunk.id,
            "url": chunk.url,
        }
        if chunk.title is not None:
            value["title"] = chunk.title
        if chunk.parent_id is not None:
            value["parent_id"] = chunk.parent_id
        return self._extension(dumps(value))

    def _file(self, chunk: File) -> str:
        value = {"type": "file", "data": chunk.data, "mime_type": chunk.mime_type}
        if chunk.parent_id is not None:
            value["parent_id"] = chunk.parent_id
        return self._extension(dumps(value))

    def _data(self, chunk: Data) -> str:
        value: dict[str, Any] = {"type": "data", "data": chunk.data}
        if chunk.name is not None:
            value["name"] = chunk.name
        return self._extension(dumps(value))

    def _annotations(self, chunk: Annotations) -> str:
        return self._extension(
            dumps({"type": "annotations", "annotations": list(chunk.annotations)})
        )

    def _error(self, chunk: Error) -> str:
        frame = (
            'data: {"error":{"message":'
            + dumps_str(chunk.error)
            + ',"type":"server_error","param":null,"code":null}}\n\n'
        )
        self._tally.error()
        return self._start() + self._end_all_calls() + frame

    def _step_start(self, chunk: StepStart) -> str:
        return self._extension(dumps({"type": "step-start", "message_id": chunk.message_id}))

    def _step_finish(self, chunk: StepFinish) -> str:
        extension = dumps(
            {
                "type": "step-finish",
                "finish_reason": chunk.finish_reason,
                "input_tokens": chunk.input_tokens,
                "output_tokens": chunk.output_tokens,
                "is_continued": chunk.is_continued,
            }
        )
        self._tally.step_finish(chunk.finish_reason, chunk.input_tokens, chunk.output_tokens)
        return self._end_all_calls() + self._extension(extension)

    def _update_state(self, chunk: StateUpdate) -> str:
        return self._extension(
            dumps({"type": "update-state", "operations": list(chunk.operations)})
        )

    def finish(self) -> str:
        """The finish reason (none after an error: its frame said how the stream ended), the
        usage chunk if the request asked for it, then ``[DONE]``."""
        tally = self._tally
        text = self._start() + self._end_all_calls()
        reason = tally.finish_reason()
        if reason != "error":
            wire_reason = _WIRE_REASONS.get(reason, "stop")
            text += self._delta_open + '},"finish_reason":"' + wire_reason + '"}]}\n\n'
        if self._include_usage:
            text += (
                self._head
                + ',"choices":[],"usage":{"prompt_tokens":'
                + dumps(tally.input_tokens)
                + ',"completion_tokens":'
                + dumps(tally.output_tokens)
                + ',"total_tokens":'
                + dumps(tally.input_tokens + tally.output_tokens)
                + "}}\n\n"
            )
        return text + DONE


_ENCODERS: dict[type, Callable[[OpenAIChatEncoder, Any], str]] = {
    TextDelta: OpenAIChatEncoder._text_delta,
    ReasoningDelta: OpenAIChatEncoder._reasoning_delta,
    ToolCallBegin: OpenAIChatEncoder._tool_call_begin,
    ToolCallDelta: OpenAIChatEncoder._tool_call_delta,
    ToolCallArgsFinish: OpenAIChatEncoder._tool_call_args_finish,
    ToolResult: OpenAIChatEncoder._tool_result,
    Source: OpenAIChatEncoder._source,
    File: OpenAIChatEncoder._file,
    Data: OpenAIChatEncoder._data,
    Annotations: OpenAIChatEncoder._annotations,
    Error: OpenAIChatEncoder._error,
    StepStart: OpenAIChatEncoder._step_start,
    StepFinish: OpenAIChatEncoder._step_finish,
    StateUpdate: OpenAIChatEncoder._update_state,
}


# -- requests ------------------------------------------------------------------------------

_NOT_OPTIONS = frozenset({"messages", "tools", "stream_options"})


def parse_request(body: Any) -> RunInput:
    """An OpenAI ``POST /v1/chat/completions`` body (what ``client.chat.completions.create``
    sends).  ``messages`` stay as sent; ``system`` joins the text of the system and developer
    messages; function tools become ``{"name", "description", "parameters", ...}``; every other
    field (``model``, ``temperature``, ...) lands in ``options``, with ``include_usage`` from
    ``stream_options``."""
    body = require_object(body, "openai-chat")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise RequestError("'messages' must be a JSON array of chat messages")
    system: list[str] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise RequestError(f"messages[{i}] must be an object with a string 'role'")
        if message["role"] in ("system", "developer"):
            system.append(_text_of(message.get("content"), f"messages[{i}].content"))
    model = optional(body, "model", str, None)
    if optional(body, "stream", bool, True) is False:
        raise RequestError("this endpoint only streams: send 'stream': true (or leave it out)")
    if optional(body, "n", int, 1) != 1:
        raise RequestError("'n' must be 1: the stream carries one choice")
    stream_options = optional(body, "stream_options", dict, {})
    include_usage = stream_options.get("include_usage", False)
    if not isinstance(include_usage, bool):
        raise RequestError("'stream_options.include_usage' must be a JSON boolean")
    tools = [_tool(i, tool) for i, tool in enumerate(optional(body, "tools", list, []))]
    options = {key: value for key, value in body.items() if key not in _NOT_OPTIONS}
    if model is None:
        options.pop("model", None)
    options["include_usage"] = include_usage
    return RunInput(
        messages=parse_messages(messages),
        tools=tools,
        system="\n\n".join(system) if system else None,
        options=options,
        raw=body,
    )


def parse_messages(messages: list[dict[str, Any]]) -> list[Message]:
    """Chat messages, typed: ``system`` and ``developer`` are system messages; a user's text,
    images, audio and files; an assistant's text and ``tool_calls``; a ``tool`` message's
    content is the result of the call it names."""
    out = Conversation()
    for message in messages:
        role, content = message["role"], message.get("content")
        if role == "tool":
            call_id = string(message.get("tool_call_id"))
            if call_id is not None:
                result = content if isinstance(content, str) else joined_text(content)
                out.result(call_id, result)
            continue
        if role in ("system", "developer"):
            out.add("system", text_of(content))
        elif role == "user":
            out.add("user", _user_parts(content))
        elif role == "assistant":
            target = out.assistant(text_of(content))
            add_function_calls(out, target, message.get("tool_calls"))
    return out.messages


def _user_parts(content: Any) -> list[Part]:
    if not isinstance(content, list):
        return text_of(content)
    parts: list[Part] = []
    for item in content:
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "text" and isinstance(item.get("text"), str):
            parts.append(TextPart(item["text"]))
        elif kind == "image_url" and isinstance(item.get("image_url"), dict):
            found = image_from(item["image_url"].get("url"))
            if found is not None:
                parts.append(found)
        elif kind == "input_audio" and isinstance(item.get("input_audio"), dict):
            audio = item["input_audio"]
            if isinstance(audio.get("data"), str):
                parts.append(FilePart(audio["data"], f"audio/{audio.get('format', 'wav')}"))
        elif kind == "file" and isinstance(item.get("file"), dict):
            file = item["file"]
            found = file_from(file.get("file_data"), filename=file.get("filename"))
            if found is None and isinstance(file.get("file_id"), str):
                found = FilePart(None, None, file_id=file["file_id"])
            if found is not None:
                parts.append(found)
    return parts


def _text_of(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict):
                raise RequestError(f"{where} must hold content part objects")
            if part.get("type") == "text":
                if not isinstance(part.get("text"), str):
                    raise RequestError(f"{where}: a text part needs a string 'text'")
                parts.append(part["text"])
        return "".join(parts)
    raise RequestError(f"{where} must be a string or an array of content parts")


def _tool(i: int, tool: Any) -> Any:
    if not isinstance(tool, dict) or not isinstance(tool.get("type", "function"), str):
        raise RequestError(f"tools[{i}] must be an object with a string 'type'")
    if tool.get("type", "function") != "function":
        return tool  # another kind of tool (e.g. "custom"): passed on as sent
    function = tool.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise RequestError(f"tools[{i}].function must be an object with a string 'name'")
    return dict(function)


# -- decoding ------------------------------------------------------------------------------


class OpenAIChatDecoder:
    """Reads ``chat.completion.chunk`` events (and the ``streambridge`` extension) back into
    chunks.  Arguments have no end on the wire: a call's arguments count as finished at its
    result, a step's end, an error, or the finish reason."""

    def __init__(self) -> None:
        self._calls: dict[int, str] = {}  # delta.tool_calls index -> tool call id
        self._open_args: dict[str, None] = {}  # ordered set of calls whose arguments stream
        self._finish_reason: str | None = None
        self._errored = False
        self._cancelled = False  # the extension said the run was stopped
        self._usage: tuple[int, int] | None = None
        self._ended = False

    def decode(self, event: str | None, data: str) -> list[Decoded]:
        if event is not None:
            raise ValueError(f"openai-chat events are unnamed, not {event!r}")
        if not data:
            return []
        if self._ended:
            raise ValueError("openai-chat data after [DONE]")
        if data == "[DONE]":
            return self._end()
        value = loads(data)
        if not isinstance(value, dict):
            raise ValueError(f"not an openai-chat chunk: {data[:80]!r}")
        error = value.get("error")
        if error:
            message = error.get("message") if isinstance(error, dict) else None
            self._errored = True
            if not isinstance(message, str) or not message:
                message = "An error occurred during streaming"  # what the SDK says then
            return [*self._close_args(), Error(message)]
        if value.get("object") != "chat.completion.chunk":
            raise ValueError(f"not a chat.completion.chunk: {data[:80]!r}")
        extension = value.get(SIDE_CHANNEL_KEY) or {}
        parent_id = extension.get("parent_id")
        out: list[Decoded] = []
        for choice in value.get("choices") or ():
            if choice.get("index", 0) != 0:
                raise ValueError("openai-chat streams decode one choice (index 0)")
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                out.append(ReasoningDelta(delta["reasoning_content"], parent_id))
            if delta.get("content"):
                out.append(TextDelta(delta["content"], parent_id))
            for call in delta.get("tool_calls") or ():
                out += self._tool_call(call, parent_id)
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
                out += self._close_args()
        kind = extension.get("type")
        if kind is not None:
            handler = _EXTENSIONS.get(kind)
            if handler is None:
                raise ValueError(f"unknown {SIDE_CHANNEL_KEY} extension type {kind!r}")
            out += handler(self, extension)
        usage = value.get("usage")
        if usage:
            self._usage = (usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))
        return out

    def close(self) -> list[Decoded]:
        # A stream that said how it ended (finish reason or error) but lost its [DONE] still
        # ended; one that said neither was cut off and has no end.
        if not self._ended and (self._finish_reason or self._errored):
            return self._end()
        return []

    def _end(self) -> list[Decoded]:
        self._ended = True
        if self._errored:
            reason: str | None = "error"
        elif self._cancelled:
            reason = CANCELLED
        elif self._finish_reason is None:
            reason = None
        else:
            reason = _CHUNK_REASONS.get(self._finish_reason, self._finish_reason)
        input_tokens, output_tokens = self._usage or (None, None)
        return [*self._close_args(), StreamEnd(reason, input_tokens, output_tokens)]

    def _tool_call(self, call: dict[str, Any], parent_id: str | None) -> list[Decoded]:
        index = call["index"]
        function = call.get("function") or {}
        out: list[Decoded] = []
        call_id = self._calls.get(index)
        if call_id is None:
            call_id = call.get("id")
            if not isinstance(call_id, str):
                raise ValueError(f"tool call fragment for index {index} before its id")
            self._calls[index] = call_id
            self._open_args[call_id] = None
            out.append(ToolCallBegin(call_id, function.get("name") or "", parent_id))
        if function.get("arguments"):
            out.append(ToolCallDelta(call_id, function["arguments"]))
        return out

    def _close_args(self, tool_call_id: str | None = None) -> list[Decoded]:
        if tool_call_id is not None:
            if self._open_args.pop(tool_call_id, False) is None:
                return [ToolCallArgsFinish(tool_call_id)]
            return []
        closing: list[Decoded] = [ToolCallArgsFinish(call_id) for call_id in self._open_args]
        self._open_args.clear()
        return closing

    def _tool_result(self, v: dict[str, Any]) -> list[Decoded]:
        call_id = v["tool_call_id"]
        result = ToolResult(call_id, v.get("result"), v.get("artifact"), bool(v.get("is_error")))
        return [*self._close_args(call_id), result]

    def _step_finish(self, v: dict[str, Any]) -> list[Decoded]:
        step = StepFinish(
            v.get("finish_reason", "stop"),
            v.get("input_tokens", 0),
            v.get("output_tokens", 0),
            bool(v.get("is_continued", False)),
        )
        self._cancelled = step.finish_reason == CANCELLED
        return [*self._close_args(), step]


_EXTENSIONS: dict[str, Callable[[OpenAIChatDecoder, dict[str, Any]], list[Decoded]]] = {
    "tool-result": OpenAIChatDecoder._tool_result,
    "source": lambda _, v: [
        Source(v["id"], v["url"], v.get("title"), v.get("parent_id"), v.get("source_type", "url"))
    ],
    "file": lambda _, v: [File(v["data"], v["mime_type"], v.get("parent_id"))],
    "data": lambda _, v: [Data(v.get("data"), v.get("name"))],
    "annotations": lambda _, v: [Annotations(tuple(v["annotations"]))],
    "step-start": lambda _, v: [StepStart(v["message_id"])],
    "step-finish": OpenAIChatDecoder._step_finish,
    "update-state": lambda _, v: [StateUpdate(tuple(v["operations"]))],
}

OPENAI_CHAT = register(
    WireProtocol(
        name="openai-chat",
        media_type="text/event-stream",
        framing="sse",
        new_encoder=OpenAIChatEncoder,
        parse_request=parse_request,
        new_decoder=OpenAIChatDecoder,
        keepalive=KEEPALIVE,
        headers={},
    )
)
