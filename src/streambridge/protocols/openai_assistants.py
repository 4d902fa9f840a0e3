"""``openai-assistants``: the run-event stream of OpenAI's Assistants API (``stream: true`` on
``POST /threads/{thread_id}/runs`` or ``POST /threads/runs``).

The run is announced (``thread.run.created``, ``queued``, ``in_progress``).  Text is a message in
a ``message_creation`` run step, streamed as ``thread.message.delta``; tool calls are function
calls in a ``tool_calls`` run step, streamed as ``thread.run.step.delta`` (a tool the server ran
gets its result as the call's ``output``).  Each ``StepFinish`` completes the current run step
with its usage.  The run ends ``completed``, ``incomplete`` (length), ``requires_action`` (tool
calls wait for results), ``failed`` (``last_error``) or, stopped, ``cancelled`` (its open step
``thread.run.step.cancelled``, its message incomplete as ``run_cancelled``), with the run's usage,
then ``event: done``.
What the API has no field for (reasoning, sources, files, data, state, annotations) travels as
one JSON string in the final run's ``metadata["streambridge"]``.
"""

from __future__ import annotations

import math
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
from ._conversation import Conversation, image_from, text_of
from ._request import optional, require_object
from ._sse import KEEPALIVE, sse
from ._tool_args import ToolCallArgs

__all__ = [
    "OPENAI_ASSISTANTS",
    "OpenAIAssistantsDecoder",
    "OpenAIAssistantsEncoder",
    "parse_request",
]


DEFAULT_ASSISTANT_ID = "asst_streambridge"
"""``assistant_id`` when the input names none (the Run and RunStep objects require one)."""

_DONE = sse("[DONE]", "done")
_TEXT_TAIL = "}}]}}\n\n"
_ARGS_TAIL = "}}]}}}\n\n"
_TOOL_TYPES = ("function", "code_interpreter", "file_search")


def _event(name: str, value: Any) -> str:
    return sse(dumps(value), name)


class _Call:
    __slots__ = ("args", "id", "index", "name", "output", "prefix", "step_id")

    def __init__(self, call_id: str, name: str, step_id: str, index: int) -> None:
        self.id = call_id
        self.name = name
        self.step_id = step_id
        self.index = index
        self.args: list[str] = []
        self.output: str | None = None
        # The streamed arguments are a hot path: one string encode per delta, not a dict dump.
        self.prefix = (
            'event: thread.run.step.delta\ndata: {"id":'
            + dumps_str(step_id)
            + ',"object":"thread.run.step.delta","delta":{"step_details":{"type":"tool_calls",'
            + f'"tool_calls":[{{"index":{index},"type":"function","function":{{"arguments":'
        )

    def wire(self) -> dict[str, Any]:
        function = {"name": self.name, "arguments": "".join(self.args), "output": self.output}
        return {"id": self.id, "type": "function", "function": function}


def _args_end(call: _Call, missing: str) -> str:
    """The end of a call's arguments: the API has no event for it, only the text still missing
    (the empty object for a call that streamed none)."""
    if not missing:
        return ""
    call.args.append(missing)
    return call.prefix + dumps_str(missing) + _ARGS_TAIL


class _Step:
    """The open run step: a message (``message_id`` and its text) or a batch of tool calls."""

    __slots__ = ("calls", "id", "kind", "message_id", "text")

    def __init__(self, step_id: str, kind: str, message_id: str | None = None) -> None:
        self.id = step_id
        self.kind = kind
        self.message_id = message_id
        self.text: list[str] = []
        self.calls: list[_Call] = []


class OpenAIAssistantsEncoder:
    """Encodes one stream as Assistants API run events.

    Ids come from ``input.run_id`` (``run_X`` gives ``step_X_1``, ``msg_X_1``, ...), the thread
    id from ``input.thread_id`` (else ``thread_X``), the assistant id from
    ``input.options["assistant_id"]``, every timestamp from ``input.created_at``.
    """

    def __init__(self, input: RunInput) -> None:
        suffix = (input.run_id or "streambridge").removeprefix("run_")
        self._suffix = suffix
        self._run_id = "run_" + suffix
        self._thread_id = input.thread_id or "thread_" + suffix
        self._created_at = input.created_at
        options = input.options
        assistant_id = options.get("assistant_id")
        self._assistant_id = (
            assistant_id if isinstance(assistant_id, str) and assistant_id else DEFAULT_ASSISTANT_ID
        )
        self._metadata = _string_map(options.get("metadata"))
        self._run_base = self._run_template(input)
        self._announce_thread = options.get("create_thread") is True
        self._started = False
        self._tally = RunTally()
        self._steps = 0
        self._messages = 0
        self._step: _Step | None = None
        self._text_prefix: str | None = None  # set while a message's text streams
        self._text_parts: list[str] = []  # that message's text
        self._calls: dict[str, _Call] = {}
        self._args: ToolCallArgs[_Call] = ToolCallArgs()
        self._error_message: str | None = None
        # What the API has no field for, as JSON fragments (encoded when their chunk arrives, so
        # a value JSON cannot hold fails that chunk, not the end of the stream).
        self._reasoning: list[str] = []
        self._sources: list[str] = []
        self._files: list[str] = []
        self._data_parts: list[str] = []
        self._annotation_values: list[str] = []
        self._state: list[str] = []
        self._last_append: tuple[list[str], str] | None = None  # the last state op, if append-text

    def _run_template(self, input: RunInput) -> dict[str, Any]:
        options = input.options
        model = options.get("model")
        parallel = options.get("parallel_tool_calls")
        return {
            "id": self._run_id,
            "object": "thread.run",
            "created_at": self._created_at,
            "assistant_id": self._assistant_id,
            "thread_id": self._thread_id,
            "status": "queued",
            "started_at": None,
            "expires_at": None,
            "cancelled_at": None,
            "failed_at": None,
            "completed_at": None,
            "required_action": None,
            "last_error": None,
            "model": model if isinstance(model, str) else "",
            "instructions": input.system or "",
            "tools": _assistant_tools(input.tools),
            "metadata": self._metadata,
            "usage": None,
            "temperature": _finite(options.get("temperature")),
            "top_p": _finite(options.get("top_p")),
            "max_completion_tokens": None,
            "max_prompt_tokens": None,
            "truncation_strategy": {"type": "auto", "last_messages": None},
            "incomplete_details": None,
            "response_format": "auto",
            "tool_choice": "auto",
            "parallel_tool_calls": parallel if isinstance(parallel, bool) else True,
        }

    # -- chunks --------------------------------------------------------------------------------

    def encode(self, chunk: Chunk) -> str:
        if type(chunk) is TextDelta and self._text_prefix is not None:  # the hot path
            self._text_parts.append(chunk.text_delta)
            return self._text_prefix + dumps_str(chunk.text_delta) + _TEXT_TAIL
        # The chunk first: if it cannot be encoded, the run's announcement is still to come.
        text = _ENCODERS[type(chunk)](self, chunk)
        if self._started:
            return text
        return self._start() + text

    def _text_delta(self, chunk: TextDelta) -> str:
        opened = self._open_message()
        step = self._step
        assert step is not None
        assert step.message_id is not None
        step.text.append(chunk.text_delta)
        self._text_parts = step.text
        self._text_prefix = (
            'event: thread.message.delta\ndata: {"id":'
            + dumps_str(step.message_id)
            + ',"object":"thread.message.delta","delta":{"content":[{"index":0,"type":"text",'
            + '"text":{"value":'
        )
        first = {
            "id": step.message_id,
            "object": "thread.message.delta",
            "delta": {
                "content": [
                    {
                        "index": 0,
                        "type": "text",
                        "text": {"value": chunk.text_delta, "annotations": []},
                    }
                ]
            },
        }
        return opened + _event("thread.message.delta", first)

    def _reasoning_delta(self, chunk: ReasoningDelta) -> str:
        self._reasoning.append(chunk.reasoning_delta)
        return ""

    def _tool_call_begin(self, chunk: ToolCallBegin) -> str:
        opened = ""
        if self._step is None or self._step.kind != "tool_calls":
            opened = self._close_step() + self._open_step("tool_calls")
        step = self._step
        assert step is not None
        call = _Call(chunk.tool_call_id, chunk.tool_name, step.id, len(step.calls))
        step.calls.append(call)
        self._calls[call.id] = call
        self._args.begin(call.id, call)
        self._tally.tool_call(call.id)
        first = {"index": call.index, "type": "function", "id": call.id}
        first["function"] = {"name": call.name, "arguments": "", "output": None}
        return opened + self._step_delta(step.id, first)

    def _tool_call_delta(self, chunk: ToolCallDelta) -> str:
        if not chunk.args_text_delta:
            return ""
        call = self._args.append(chunk.tool_call_id, chunk.args_text_delta)
        if call is None:
            return ""  # a call that never began has no run step to belong to
        call.args.append(chunk.args_text_delta)
        return call.prefix + dumps_str(chunk.args_text_delta) + _ARGS_TAIL

    def _tool_call_args_finish(self, chunk: ToolCallArgsFinish) -> str:
        closed = self._args.close(chunk.tool_call_id)
        return "" if closed is None else _args_end(*closed)

    def _tool_result(self, chunk: ToolResult) -> str:
        call = self._calls.get(chunk.tool_call_id)
        if call is None:
            return ""
        output = dumps(chunk.result)  # the API's output is a string: the result's JSON text
        if chunk.artifact is not None:
            dumps(chunk.artifact)  # not sent, but must be JSON as in every protocol
        closed = self._args.close(call.id)
        closing = "" if closed is None else _args_end(*closed)
        call.output = output
        self._tally.tool_result(call.id)
        delta = {"index": call.index, "type": "function", "function": {"output": output}}
        return closing + self._step_delta(call.step_id, delta)

    def _source(self, chunk: Source) -> str:
        value: dict[str, Any] = {"id": chunk.id, "url": chunk.url}
        if chunk.title is not None:
            value["title"] = chunk.title
        if chunk.source_type != "url":
            value["source_type"] = chunk.source_type
        self._sources.append(dumps(value))
        return ""

    def _file(self, chunk: File) -> str:
        self._files.append(dumps({"data": chunk.data, "mime_type": chunk.mime_type}))
        return ""

    def _data(self, chunk: Data) -> str:
        value: dict[str, Any] = {"data": chunk.data}
        if chunk.name is not None:
            value["name"] = chunk.name
        self._data_parts.append(dumps(value))
        return ""

    def _annotations(self, chunk: Annotations) -> str:
        encoded = [dumps(annotation) for annotation in chunk.annotations]
        self._annotation_values.extend(encoded)
        return ""

    def _update_state(self, chunk: StateUpdate) -> str:
        dumps(list(chunk.operations))  # refuse the whole update before keeping any of it
        for op in chunk.operations:
            path, value = op.get("path"), op.get("value")
            last = self._last_append
            if op.get("type") == "append-text" and isinstance(value, str):
                if last is not None and last[0] == path:
                    # Appending a then b is appending a + b: one operation, not one per token.
                    value = last[1] + value
                    self._state.pop()
                self._last_append = (list(path), value)
                self._state.append(dumps({"type": "append-text", "path": path, "value": value}))
            else:
                self._last_append = None
                self._state.append(dumps(op))
        return ""

    def _error(self, chunk: Error) -> str:
        self._tally.error()
        self._error_message = chunk.error
        return self._close_step(failed=True)

    def _step_start(self, chunk: StepStart) -> str:
        return ""

    def _step_finish(self, chunk: StepFinish) -> str:
        usage = _usage(chunk.input_tokens, chunk.output_tokens)
        dumps(usage)  # refuse bad counts before they are tallied
        self._tally.step_finish(chunk.finish_reason, chunk.input_tokens, chunk.output_tokens)
        # Every generation step gets the run step that carries its usage; one that made nothing
        # the API can show gets an empty message.
        if chunk.finish_reason == CANCELLED:  # the run was stopped: its open step is cancelled
            return self._close_step(usage=usage, cancelled=True)
        opened = self._open_message() if self._step is None else ""
        return opened + self._close_step(usage=usage, length=chunk.finish_reason == "length")

    # -- run steps and messages ----------------------------------------------------------------

    def _start(self) -> str:
        self._started = True
        base = self._run_base
        out = ""
        if self._announce_thread:
            thread = {
                "id": self._thread_id,
                "object": "thread",
                "created_at": self._created_at,
                "metadata": {},
                "tool_resources": {},
            }
            out = _event("thread.created", thread)
        queued = _event("thread.run.created", base) + _event("thread.run.queued", base)
        running = {**base, "status": "in_progress", "started_at": self._created_at}
        return out + queued + _event("thread.run.in_progress", running)

    def _open_step(self, kind: str, message_id: str | None = None) -> str:
        self._steps += 1
        step = self._step = _Step(f"step_{self._suffix}_{self._steps}", kind, message_id)
        if kind == "message_creation":
            details: dict[str, Any] = {
                "type": "message_creation",
                "message_creation": {"message_id": message_id},
            }
        else:
            details = {"type": "tool_calls", "tool_calls": []}
        value = self._step_object(step, "in_progress", details)
        return _event("thread.run.step.created", value) + _event(
            "thread.run.step.in_progress", value
        )

    def _open_message(self) -> str:
        closed = self._close_step()
        self._messages += 1
        message_id = f"msg_{self._suffix}_{self._messages}"
        opened = self._open_step("message_creation", message_id)
        message = self._message_object(message_id, "in_progress", [])
        return (
            closed
            + opened
            + _event("thread.message.created", message)
            + _event("thread.message.in_progress", message)
        )

    def _close_step(
        self,
        *,
        usage: dict[str, int] | None = None,
        failed: bool = False,
        length: bool = False,
        cancelled: bool = False,
    ) -> str:
        step = self._step
        if step is None:
            return ""
        self._step = None
        self._text_prefix = None
        out = ""
        if step.kind == "message_creation":
            assert step.message_id is not None
            # Always one text block, even empty: the SDK's handler reads the block it last saw
            # streaming (index 0 of the previous message) in every completed message.
            text = {"value": "".join(step.text), "annotations": []}
            content = [{"type": "text", "text": text}]
            message = self._message_object(step.message_id, "completed", content)
            reason = (
                "run_failed"
                if failed
                else "run_cancelled"
                if cancelled
                else "max_tokens"
                if length
                else None
            )
            if reason is None:
                message["completed_at"] = self._created_at
                out = _event("thread.message.completed", message)
            else:
                message["status"] = "incomplete"
                message["incomplete_at"] = self._created_at
                message["incomplete_details"] = {"reason": reason}
                out = _event("thread.message.incomplete", message)
            details: dict[str, Any] = {
                "type": "message_creation",
                "message_creation": {"message_id": step.message_id},
            }
        else:
            details = {"type": "tool_calls", "tool_calls": [call.wire() for call in step.calls]}
        if failed:
            value = self._step_object(step, "failed", details)
            value["failed_at"] = self._created_at
            value["last_error"] = {"code": "server_error", "message": self._error_message or ""}
            return out + _event("thread.run.step.failed", value)
        if cancelled:
            value = self._step_object(step, "cancelled", details)
            value["cancelled_at"] = self._created_at
            value["usage"] = usage
            return out + _event("thread.run.step.cancelled", value)
        value = self._step_object(step, "completed", details)
        value["completed_at"] = self._created_at
        value["usage"] = usage
        return out + _event("thread.run.step.completed", value)

    def _step_delta(self, step_id: str, tool_call: dict[str, Any]) -> str:
        delta = {"step_details": {"type": "tool_calls", "tool_calls": [tool_call]}}
        value = {"id": step_id, "object": "thread.run.step.delta", "delta": delta}
        return _event("thread.run.step.delta", value)

    def _step_object(self, step: _Step, status: str, details: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": step.id,
            "object": "thread.run.step",
            "created_at": self._created_at,
            "run_id": self._run_id,
            "assistant_id": self._assistant_id,
            "thread_id": self._thread_id,
            "type": step.kind,
            "status": status,
            "cancelled_at": None,
            "completed_at": None,
            "expired_at": None,
            "failed_at": None,
            "last_error": None,
            "step_details": details,
            "usage": None,
            "metadata": {},
        }

    def _message_object(self, message_id: str, status: str, content: list[Any]) -> dict[str, Any]:
        return {
            "id": message_id,
            "object": "thread.message",
            "created_at": self._created_at,
            "thread_id": self._thread_id,
            "role": "assistant",
            "content": content,
            "status": status,
            "assistant_id": self._assistant_id,
            "run_id": self._run_id,
            "attachments": [],
            "metadata": {},
            "completed_at": None,
            "incomplete_at": None,
            "incomplete_details": None,
        }

    # -- the end -------------------------------------------------------------------------------

    def finish(self) -> str:
        out = "" if self._started else self._start()
        self._started = True
        out += "".join(_args_end(*closed) for closed in self._args.close_all())
        tally = self._tally
        reason = tally.finish_reason()
        run = {**self._run_base, "started_at": self._created_at}
        run["usage"] = _usage(tally.input_tokens, tally.output_tokens)
        run["metadata"] = self._final_metadata()
        if reason == "error":
            out += self._close_step(failed=True)
            run["status"], event = "failed", "thread.run.failed"
            run["failed_at"] = self._created_at
            run["last_error"] = {"code": "server_error", "message": self._error_message or ""}
        elif reason == CANCELLED:
            out += self._close_step(cancelled=True)
            run["status"], event = "cancelled", "thread.run.cancelled"
            run["cancelled_at"] = self._created_at
        elif reason == "tool-calls":
            # A tool step whose calls wait for results stays in progress, as in the API.
            if self._step is not None and self._step.kind != "tool_calls":
                out += self._close_step()
            waiting = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": "".join(call.args)},
                }
                for call in self._calls.values()
                if call.id in tally.awaiting_result
            ]
            run["status"], event = "requires_action", "thread.run.requires_action"
            run["required_action"] = {
                "type": "submit_tool_outputs",
                "submit_tool_outputs": {"tool_calls": waiting},
            }
        elif reason == "length":
            out += self._close_step()
            run["status"], event = "incomplete", "thread.run.incomplete"
            run["incomplete_details"] = {"reason": "max_completion_tokens"}
        else:
            out += self._close_step()
            run["status"], event = "completed", "thread.run.completed"
            run["completed_at"] = self._created_at
        return out + _event(event, run) + _DONE

    def _final_metadata(self) -> dict[str, str]:
        parts = []
        if self._reasoning:
            parts.append('"reasoning":' + dumps_str("".join(self._reasoning)))
        for key, fragments in (
            ("sources", self._sources),
            ("files", self._files),
            ("data", self._data_parts),
            ("state", self._state),
            ("annotations", self._annotation_values),
        ):
            if fragments:
                parts.append(f'"{key}":[' + ",".join(fragments) + "]")
        if not parts:
            return self._metadata
        return {**self._metadata, SIDE_CHANNEL_KEY: "{" + ",".join(parts) + "}"}


_ENCODERS: dict[type, Callable[[OpenAIAssistantsEncoder, Any], str]] = {
    TextDelta: OpenAIAssistantsEncoder._text_delta,
    ReasoningDelta: OpenAIAssistantsEncoder._reasoning_delta,
    ToolCallBegin: OpenAIAssistantsEncoder._tool_call_begin,
    ToolCallDelta: OpenAIAssistantsEncoder._tool_call_delta,
    ToolCallArgsFinish: OpenAIAssistantsEncoder._tool_call_args_finish,
    ToolResult: OpenAIAssistantsEncoder._tool_result,
    Source: OpenAIAssistantsEncoder._source,
    File: OpenAIAssistantsEncoder._file,
    Data: OpenAIAssistantsEncoder._data,
    Annotations: OpenAIAssistantsEncoder._annotations,
    Error: OpenAIAssistantsEncoder._error,
    StepStart: OpenAIAssistantsEncoder._step_start,
    StepFinish: OpenAIAssistantsEncoder._step_finish,
    StateUpdate: OpenAIAssistantsEncoder._update_state,
}


def _usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": input_tokens,
        "completion_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }


def _finite(value: Any) -> float | int | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return None


def _string_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def _assistant_tools(tools: list[Any]) -> list[dict[str, Any]]:
    """The input's tools as the Run object lists them.  Function tools keep name, description,
    parameters and strict; a tool in another protocol's shape (``{"name", "parameters"}``)
    becomes a function tool; anything else is left out."""
    out: list[dict[str, Any]] = []
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        kind = tool.get("type", "function")
        if kind in ("code_interpreter", "file_search"):
            out.append({"type": kind})
            continue
        if kind != "function":
            continue
        spec = tool.get("function", tool)
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            continue
        function: dict[str, Any] = {"name": spec["name"]}
        if isinstance(spec.get("description"), str):
            function["description"] = spec["description"]
        if isinstance(spec.get("parameters"), dict):
            try:
                dumps(spec["parameters"])
            except (TypeError, ValueError):
                continue
            function["parameters"] = spec["parameters"]
        if isinstance(spec.get("strict"), bool):
            function["strict"] = spec["strict"]
        out.append({"type": "function", "function": function})
    return out


# -- the request ---------------------------------------------------------------------------------


def parse_request(body: Any) -> RunInput:
    """The body of "create run" (``POST /threads/{thread_id}/runs``) or of "create thread and
    run" (``POST /threads/runs``, with ``thread: {messages}``).

    The messages are ``additional_messages`` (create run) or ``thread.messages``, as sent;
    ``instructions`` then ``additional_instructions`` are the system prompt; ``assistant_id``,
    ``model``, ``metadata``, ``temperature``, ``top_p`` and ``parallel_tool_calls`` go to
    ``options`` (the encoder echoes them in the Run object).  The thread id of "create run" is
    in the URL, not the body: a host sets ``input.thread_id`` from its route (a ``thread_id``
    in the body is read too).
    """
    body = require_object(body, "openai-assistants")
    assistant_id = body.get("assistant_id")
    if not isinstance(assistant_id, str) or not assistant_id:
        raise RequestError("'assistant_id' must be a non-empty string: the assistant to run")
    if body.get("stream") not in (None, True):
        raise RequestError("'stream' must be true: this endpoint answers with the run's events")
    thread = body.get("thread")
    if thread is not None:
        if not isinstance(thread, dict):
            raise RequestError("'thread' must be a JSON object (create thread and run)")
        if body.get("additional_messages") is not None:
            raise RequestError(
                "'additional_messages' belongs to create run; "
                "create thread and run takes 'thread.messages'"
            )
        messages = _messages(thread.get("messages"), "thread.messages")
    else:
        messages = _messages(body.get("additional_messages"), "additional_messages")
    prompts = [
        optional(body, "instructions", str, None),
        optional(body, "additional_instructions", str, None),
    ]
    options: dict[str, Any] = {"assistant_id": assistant_id}
    if thread is not None:
        options["create_thread"] = True
    model = optional(body, "model", str, None)
    if model is not None:
        options["model"] = model
    metadata = optional(body, "metadata", dict, None)
    if metadata is not None:
        if not all(isinstance(v, str) for v in metadata.values()):
            raise RequestError("'metadata' must map strings to strings")
        options["metadata"] = metadata
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is not None:
            if _finite(value) is None:
                raise RequestError(f"{key!r} must be a number")
            options[key] = value
    parallel = optional(body, "parallel_tool_calls", bool, None)
    if parallel is not None:
        options["parallel_tool_calls"] = parallel
    return RunInput(
        messages=parse_messages(messages),
        tools=_tools(optional(body, "tools", list, [])),
        thread_id=optional(body, "thread_id", str, None),
        system="\n\n".join(p for p in prompts if p) or None,
        options=options,
        raw=body,
    )


def _messages(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RequestError(f"{where!r} must be a JSON array of messages")
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            raise RequestError(f"{where}[{i}] must be a JSON object")
        if message.get("role") not in ("user", "assistant"):
            raise RequestError(f"{where}[{i}].role must be 'user' or 'assistant'")
        content = message.get("content")
        if isinstance(content, list):
            if not all(isinstance(p, dict) and isinstance(p.get("type"), str) for p in content):
                raise RequestError(f"{where}[{i}].content parts must be objects with a 'type'")
        elif not isinstance(content, str):
            raise RequestError(f"{where}[{i}].content must be a string or an array of parts")
    return value


def parse_messages(messages: list[dict[str, Any]]) -> list[Message]:
    """Thread messages (checked by ``_messages``), typed: text, ``image_url`` and
    ``image_file`` parts, and attachments as files by id.  Tool calls do not travel in these
    messages (their outputs go to ``submit_tool_outputs``), so there are none."""
    out = Conversation()
    for message in messages:
        content = message["content"]
        parts: list[Part] = text_of(content) if isinstance(content, str) else []
        for item in content if isinstance(content, list) else []:
            kind = item["type"]
            found: Part | None = None
            if kind == "text":
                text = item.get("text")
                value = text.get("value") if isinstance(text, dict) else text  # output or input
                found = TextPart(value) if isinstance(value, str) else None
            elif kind == "image_url" and isinstance(item.get("image_url"), dict):
                found = image_from(item["image_url"].get("url"))
            elif kind == "image_file" and isinstance(item.get("image_file"), dict):
                found = image_from(None, item["image_file"].get("file_id"))
            if found is not None:
                parts.append(found)
        for attachment in message.get("attachments") or []:
            if isinstance(attachment, dict) and isinstance(attachment.get("file_id"), str):
                parts.append(FilePart(None, None, file_id=attachment["file_id"]))
        out.add(message["role"], parts, metadata=message.get("metadata"))
    return out.messages


def _tools(tools: list[Any]) -> list[Any]:
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") not in _TOOL_TYPES:
            raise RequestError(
                f"tools[{i}] must be an object whose 'type' is 'function', "
                "'code_interpreter' or 'file_search'"
            )
        if tool["type"] == "function":
            function = tool.get("function")
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise RequestError(f"tools[{i}].function must be an object with a 'name'")
    return tools


# -- decoding ------------------------------------------------------------------------------------


class OpenAIAssistantsDecoder:
    """Reads Assistants API run events back into chunks."""

    def __init__(self) -> None:
        self._calls: dict[tuple[str, int], list[Any]] = {}  # (step, index) -> [id, args done]
        self._by_id: dict[str, list[Any]] = {}

    def decode(self, event: str | None, data: str) -> list[Decoded]:
        if event is None:
            raise ValueError("an openai-assistants event needs an event: line")
        if event == "done":
            return []
        handler = _DECODERS.get(event)
        if handler is None:
            raise ValueError(f"unknown openai-assistants event {event!r}")
        return handler(self, loads(data))

    def close(self) -> list[Decoded]:
        return []

    def _nothing(self, value: Any) -> list[Decoded]:
        return []

    def _message_delta(self, value: dict[str, Any]) -> list[Decoded]:
        out: list[Decoded] = []
        for block in value["delta"].get("content") or []:
            if block.get("type") == "text":
                text = (block.get("text") or {}).get("value")
                if text:
                    out.append(TextDelta(text))
        return out

    def _step_created(self, value: dict[str, Any]) -> list[Decoded]:
        details = value.get("step_details") or {}
        calls = (details.get("tool_calls") or []) if details.get("type") == "tool_calls" else []
        out: list[Decoded] = []
        for index, call in enumerate(calls):
            out += self._tool_call(value["id"], {"index": index, **call})
        return out

    def _step_delta(self, value: dict[str, Any]) -> list[Decoded]:
        details = value["delta"].get("step_details") or {}
        if details.get("type") != "tool_calls":
            return []
        out: list[Decoded] = []
        for call in details.get("tool_calls") or []:
            out += self._tool_call(value["id"], call)
        return out

    def _tool_call(self, step_id: str, delta: dict[str, Any]) -> list[Decoded]:
        if delta.get("type") != "function":
            return []  # code interpreter and file search calls have no chunk form
        function = delta.get("function") or {}
        out: list[Decoded] = []
        key = (step_id, delta["index"])
        call = self._calls.get(key)
        if call is None:
            call_id = delta.get("id")
            if not isinstance(call_id, str):
                raise ValueError(f"tool call {key} starts without an id")
            call = self._calls[key] = self._by_id[call_id] = [call_id, False]
            out.append(ToolCallBegin(call_id, function.get("name") or ""))
        if function.get("arguments"):
            out.append(ToolCallDelta(call[0], function["arguments"]))
        if function.get("output") is not None:
            out += self._args_done(call)
            out.append(ToolResult(call[0], _output(function["output"])))
        return out

    def _args_done(self, call: list[Any]) -> list[Decoded]:
        if call[1]:
            return []
        call[1] = True
        return [ToolCallArgsFinish(call[0])]

    def _step_end(self, value: dict[str, Any]) -> list[Decoded]:
        out: list[Decoded] = []
        for (step_id, _), call in self._calls.items():
            if step_id == value["id"]:
                out += self._args_done(call)
        usage = value.get("usage")
        if usage is not None:
            reason = "tool-calls" if value.get("type") == "tool_calls" else "stop"
            if value.get("status") == "cancelled":
                reason = CANCELLED
            out.append(StepFinish(reason, usage["prompt_tokens"], usage["completion_tokens"]))
        return out

    def _run_end(self, value: dict[str, Any], reason: str) -> list[Decoded]:
        out: list[Decoded] = []
        required = (value.get("required_action") or {}).get("submit_tool_outputs") or {}
        for call in required.get("tool_calls") or []:
            if call["id"] not in self._by_id:  # announced only here
                function = call.get("function") or {}
                out.append(ToolCallBegin(call["id"], function.get("name") or ""))
                if function.get("arguments"):
                    out.append(ToolCallDelta(call["id"], function["arguments"]))
                self._by_id[call["id"]] = [call["id"], False]
        for call in self._by_id.values():
            out += self._args_done(call)
        out += _extras((value.get("metadata") or {}).get(SIDE_CHANNEL_KEY))
        if reason == "error":
            error = value.get("last_error") or {}
            out.append(Error(error.get("message") or "The run failed."))
        usage = value.get("usage")
        if usage is None:
            out.append(StreamEnd(reason))
        else:
            out.append(StreamEnd(reason, usage["prompt_tokens"], usage["completion_tokens"]))
        return out

    def _error_event(self, value: dict[str, Any]) -> list[Decoded]:
        error = value.get("error", value)
        message = error.get("message") if isinstance(error, dict) else None
        return [Error(message or "The run failed."), StreamEnd("error")]


def _output(output: str) -> Any:
    """A call's output: the JSON text of its result (any other text is the result itself)."""
    try:
        return loads(output)
    except ValueError:
        return output


def _extras(text: Any) -> list[Decoded]:
    if text is None:
        return []
    extras = loads(text)
    out: list[Decoded] = []
    if extras.get("reasoning"):
        out.append(ReasoningDelta(extras["reasoning"]))
    for s in extras.get("sources", []):
        out.append(Source(s["id"], s["url"], s.get("title"), None, s.get("source_type", "url")))
    out += [File(f["data"], f["mime_type"]) for f in extras.get("files", [])]
    out += [Data(d["data"], d.get("name")) for d in extras.get("data", [])]
    if extras.get("state"):
        out.append(StateUpdate(tuple(extras["state"])))
    if extras.get("annotations"):
        out.append(Annotations(tuple(extras["annotations"])))
    return out


def _run_end(reason: str) -> Callable[[OpenAIAssistantsDecoder, Any], list[Decoded]]:
    return lambda decoder, value: decoder._run_end(value, reason)


_DECODERS: dict[str, Callable[[OpenAIAssistantsDecoder, Any], list[Decoded]]] = {
    "thread.created": OpenAIAssistantsDecoder._nothing,
    "thread.run.created": OpenAIAssistantsDecoder._nothing,
    "thread.run.queued": OpenAIAssistantsDecoder._nothing,
    "thread.run.in_progress": OpenAIAssistantsDecoder._nothing,
    "thread.run.cancelling": OpenAIAssistantsDecoder._nothing,
    "thread.run.step.created": OpenAIAssistantsDecoder._step_created,
    "thread.run.step.in_progress": OpenAIAssistantsDecoder._nothing,
    "thread.run.step.delta": OpenAIAssistantsDecoder._step_delta,
    "thread.run.step.completed": OpenAIAssistantsDecoder._step_end,
    "thread.run.step.failed": OpenAIAssistantsDecoder._step_end,
    "thread.run.step.cancelled": OpenAIAssistantsDecoder._step_end,
    "thread.run.step.expired": OpenAIAssistantsDecoder._step_end,
    "thread.message.created": OpenAIAssistantsDecoder._nothing,
    "thread.message.in_progress": OpenAIAssistantsDecoder._nothing,
    "thread.message.delta": OpenAIAssistantsDecoder._message_delta,
    "thread.message.completed": OpenAIAssistantsDecoder._nothing,
    "thread.message.incomplete": OpenAIAssistantsDecoder._nothing,
    "thread.run.completed": _run_end("stop"),
    "thread.run.incomplete": _run_end("length"),
    "thread.run.requires_action": _run_end("tool-calls"),
    "thread.run.failed": _run_end("error"),
    "thread.run.cancelled": _run_end(CANCELLED),
    "thread.run.expired": _run_end("other"),
    "error": OpenAIAssistantsDecoder._error_event,
}


def run_object(input: RunInput, chunks: list[Chunk], status: str) -> dict[str, Any]:
    """The ``Run`` of a stored run as ``GET /v1/threads/{thread_id}/runs/{run_id}`` and its
    cancel return it, with the run's status in the API's words."""
    encoder = OpenAIAssistantsEncoder(input)
    for chunk in chunks:
        encoder.encode(chunk)
    if status == "running":
        return {**encoder._run_base, "status": "in_progress", "started_at": input.created_at}
    run: dict[str, Any] = {}
    for event in encoder.finish().split("\n\n"):
        name, _, data = event.partition("\ndata: ")
        if name.startswith("event: thread.run.") and not name.startswith("event: thread.run.step"):
            run = loads(data)
    if status == "cancelled":
        run.update(status="cancelled", cancelled_at=input.created_at, completed_at=None)
    return run


OPENAI_ASSISTANTS = register(
    WireProtocol(
        name="openai-assistants",
        media_type="text/event-stream",
        framing="sse",
        new_encoder=OpenAIAssistantsEncoder,
        parse_request=parse_request,
        new_decoder=OpenAIAssistantsDecoder,
        keepalive=KEEPALIVE,
        headers={},
        run_object=run_object,
    )
)
