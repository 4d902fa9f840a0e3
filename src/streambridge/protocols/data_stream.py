"""``data-stream``: assistant-ui's data stream, one ``CODE:JSON`` line per event.

Plain codes carry what they can say (``0`` text, ``g`` reasoning, ``b``/``c``/``a`` tool calls,
``2`` data, ``3`` errors, ``8`` annotations, ``f``/``e`` steps, ``h`` sources, ``k`` files); the
``aui-*`` codes only what a plain code cannot (a parent id, state operations, named data).  A tool
call's arguments end with a ``c`` frame carrying ``isFinal: true``; the stream ends with ``d``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._jsonlib import dumps, dumps_str
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
    ToolCallArgsDelta,
    ToolCallArgsFinish,
    ToolCallBegin,
    ToolResult,
)
from . import WireProtocol, register

__all__ = ["DATA_STREAM", "DataStreamEncoder"]


def _frame(code: str, value: Any) -> str:
    return f"{code}:{dumps(value)}\n"


class DataStreamEncoder:
    """Encodes one stream as assistant-ui data stream lines."""

    def __init__(self) -> None:
        self._open_args: dict[str, bool] = {}  # tool call id -> has any args text been sent
        self._awaiting_result: set[str] = set()
        self._input_tokens = 0
        self._output_tokens = 0
        self._last_finish_reason: str | None = None
        self._errored = False

    def encode(self, chunk: Chunk) -> str:
        if type(chunk) is TextDelta and chunk.parent_id is None:  # the hot path
            return "0:" + dumps_str(chunk.text) + "\n"
        return _ENCODERS[type(chunk)](self, chunk)

    def _text(self, chunk: TextDelta) -> str:
        return _frame("aui-text-delta", {"textDelta": chunk.text, "parentId": chunk.parent_id})

    def _reasoning(self, chunk: ReasoningDelta) -> str:
        if chunk.parent_id is None:
            return "g:" + dumps_str(chunk.text) + "\n"
        return _frame(
            "aui-reasoning-delta", {"reasoningDelta": chunk.text, "parentId": chunk.parent_id}
        )

    def _tool_call_begin(self, chunk: ToolCallBegin) -> str:
        self._open_args[chunk.tool_call_id] = False
        self._awaiting_result.add(chunk.tool_call_id)
        value = {"toolCallId": chunk.tool_call_id, "toolName": chunk.tool_name}
        if chunk.parent_id is not None:
            value["parentId"] = chunk.parent_id
        return _frame("b", value)

    def _tool_call_args(self, chunk: ToolCallArgsDelta) -> str:
        if chunk.text:
            self._open_args[chunk.tool_call_id] = True
        # Streamed arguments are the second hot path: two string encodes, not a dict dump (7x).
        return (
            'c:{"toolCallId":'
            + dumps_str(chunk.tool_call_id)
            + ',"argsTextDelta":'
            + dumps_str(chunk.text)
            + "}\n"
        )

    def _tool_call_args_finish(self, chunk: ToolCallArgsFinish) -> str:
        had_text = self._open_args.pop(chunk.tool_call_id, None)
        if had_text is None:
            return ""
        # A call that never streamed arguments has the empty object as its arguments.
        delta = "" if had_text else "{}"
        return _frame(
            "c", {"toolCallId": chunk.tool_call_id, "argsTextDelta": delta, "isFinal": True}
        )

    def _tool_result(self, chunk: ToolResult) -> str:
        closing = self._tool_call_args_finish(ToolCallArgsFinish(chunk.tool_call_id))
        self._awaiting_result.discard(chunk.tool_call_id)
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
        self._errored = True
        return self._close_open_args() + "3:" + dumps_str(chunk.message) + "\n"

    def _step_start(self, chunk: StepStart) -> str:
        return _frame("f", {"messageId": chunk.message_id})

    def _step_finish(self, chunk: StepFinish) -> str:
        self._input_tokens += chunk.input_tokens
        self._output_tokens += chunk.output_tokens
        self._last_finish_reason = chunk.finish_reason
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

    def _state(self, chunk: StateUpdate) -> str:
        return _frame("aui-state", list(chunk.operations))

    def _close_open_args(self) -> str:
        return "".join(
            self._tool_call_args_finish(ToolCallArgsFinish(tool_call_id))
            for tool_call_id in list(self._open_args)
        )

    def finish_reason(self) -> str:
        """Why the message ended, as assistant-ui's message status understands it."""
        if self._errored:
            return "error"
        if self._awaiting_result:
            return "tool-calls"  # the frontend has tools to run: "requires action"
        if self._last_finish_reason not in (None, "tool-calls"):
            return self._last_finish_reason
        return "stop"

    def finish(self) -> str:
        return self._close_open_args() + _frame(
            "d",
            {
                "finishReason": self.finish_reason(),
                "usage": {"inputTokens": self._input_tokens, "outputTokens": self._output_tokens},
            },
        )


_ENCODERS: dict[type, Callable[[DataStreamEncoder, Any], str]] = {
    TextDelta: DataStreamEncoder._text,
    ReasoningDelta: DataStreamEncoder._reasoning,
    ToolCallBegin: DataStreamEncoder._tool_call_begin,
    ToolCallArgsDelta: DataStreamEncoder._tool_call_args,
    ToolCallArgsFinish: DataStreamEncoder._tool_call_args_finish,
    ToolResult: DataStreamEncoder._tool_result,
    Source: DataStreamEncoder._source,
    File: DataStreamEncoder._file,
    Data: DataStreamEncoder._data,
    Annotations: DataStreamEncoder._annotations,
    Error: DataStreamEncoder._error,
    StepStart: DataStreamEncoder._step_start,
    StepFinish: DataStreamEncoder._step_finish,
    StateUpdate: DataStreamEncoder._state,
}

DATA_STREAM = register(
    WireProtocol(
        name="data-stream",
        media_type="text/plain; charset=utf-8",
        new_encoder=DataStreamEncoder,
        keepalive=b"\n",
        headers={"x-vercel-ai-data-stream": "v1"},
    )
)
