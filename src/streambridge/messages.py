"""The conversation in one shape: typed messages for every wire protocol, in and out.

A request's messages (``controller.input.messages``) and the message a run produced (what
``on_finish`` and :mod:`streambridge.client` receive) are both lists of :class:`Message`: a role
and ordered parts (text, reasoning, tool calls with their parsed arguments and, once known, their
result, files, sources and data).  Each protocol's request parser fills what its protocol carries;
what a protocol cannot express is absent, never made up.

:class:`MessageAccumulator` builds one assistant message from chunks.  The run engine uses it for
``on_finish`` and the Python client for a decoded stream, so both read a stream the same way.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .chunks import (
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
from .state import apply_operation, copy_json
from .tally import RunTally

__all__ = [
    "DataPart",
    "FilePart",
    "Message",
    "MessageAccumulator",
    "Part",
    "ReasoningPart",
    "Role",
    "SourcePart",
    "TextPart",
    "Tool",
    "ToolApproval",
    "ToolCallPart",
    "ToolResultPart",
    "Usage",
    "accumulate",
]

Role = Literal["system", "user", "assistant", "tool"]


@dataclass
class TextPart:
    """Text of a message; ``parent_id`` groups parts (see ``RunController.with_parent_id``)."""

    text: str
    parent_id: str | None = None


@dataclass
class ReasoningPart:
    """A model's reasoning (its thinking), shown apart from the answer.

    ``provider_metadata`` holds what a model provider needs to be given this reasoning back,
    keyed by provider as the AI SDK's ``providerMetadata`` is: for an OpenAI Responses
    ``reasoning`` item, ``{"openai": {"itemId": ..., "reasoningEncryptedContent": ...}}``.
    """

    text: str
    parent_id: str | None = None
    provider_metadata: dict[str, Any] | None = None


@dataclass
class ToolApproval:
    """A human-in-the-loop decision on a tool call (AI SDK tool approvals).

    ``approved`` is ``None`` while the approval is requested and not yet answered.
    """

    id: str
    approved: bool | None = None
    reason: str | None = None


@dataclass
class ToolCallPart:
    """A tool call with its arguments and, once known, its result (``has_result``).

    A call whose result the frontend sent in a later message (a frontend-executed tool, a
    human-in-the-loop answer) carries that result here: the conversation pairs them.
    """

    tool_call_id: str
    tool_name: str
    args_text: str = ""
    args_complete: bool = False
    has_result: bool = False
    result: Any = None
    artifact: Any = None
    is_error: bool = False
    parent_id: str | None = None
    approval: ToolApproval | None = None

    @property
    def args(self) -> Any:
        """The arguments, parsed: ``{}`` before any text; while they still stream (a client
        reading a stream), the longest valid prefix, which needs the ``client`` extra."""
        if not self.args_text.strip():
            return {}
        try:
            return json.loads(self.args_text)
        except ValueError:
            if self.args_complete:
                raise
        try:
            import jiter
        except ImportError:  # pragma: no cover - depends on the environment
            return {}
        return jiter.from_json(self.args_text.encode(), partial_mode="trailing-strings")

    def set_result(self, result: Any, *, is_error: bool = False, artifact: Any = None) -> None:
        """Record the call's result (say, after running an approved tool) so the converters
        send it to the model."""
        self.args_complete = self.has_result = True
        self.result, self.is_error, self.artifact = result, is_error, artifact


@dataclass
class ToolResultPart:
    """A tool result whose call is not in the conversation the request carried (an
    assistant-transport ``add-tool-result``: the call lives in the application's own state)."""

    tool_call_id: str
    result: Any
    tool_name: str | None = None
    is_error: bool = False
    artifact: Any = None


@dataclass
class SourcePart:
    """A source the message cites: a ``url`` (``source_type="url"``) or a document."""

    id: str
    url: str
    title: str | None = None
    source_type: str = "url"
    parent_id: str | None = None
    media_type: str | None = None
    filename: str | None = None


@dataclass
class FilePart:
    """A file: inline as base64 ``data``, or by ``url`` (which may be remote), or by the model
    provider's ``file_id``.  ``mime_type`` is ``None`` where the protocol did not say."""

    data: str | None
    mime_type: str | None
    parent_id: str | None = None
    url: str | None = None
    file_id: str | None = None
    filename: str | None = None

    @property
    def data_url(self) -> str | None:
        """``data:<mime>;base64,<data>`` for an inline file, else its ``url``."""
        if self.data is not None:
            return f"data:{self.mime_type or 'application/octet-stream'};base64,{self.data}"
        return self.url

    @property
    def is_image(self) -> bool:
        return (self.mime_type or "").startswith("image/")

    @classmethod
    def from_url(
        cls, url: str, mime_type: str | None = None, *, filename: str | None = None
    ) -> FilePart:
        """A file given by URL; a base64 ``data:`` URL becomes inline data."""
        inline = _parse_data_url(url)
        if inline is not None:
            data_mime, data = inline
            return cls(data, mime_type or data_mime, filename=filename)
        return cls(None, mime_type, url=url, filename=filename)


@dataclass
class DataPart:
    """JSON data for the frontend; ``name`` makes it a named data part."""

    data: Any
    name: str | None = None


Part = TextPart | ReasoningPart | ToolCallPart | ToolResultPart | SourcePart | FilePart | DataPart


@dataclass
class Usage:
    """Tokens a run's model calls took in and gave out, in all."""

    input_tokens: int
    output_tokens: int


@dataclass
class Message:
    """One message of a conversation: a role and its parts, in order.

    The message a run produced (``on_finish``, the Python client) also carries how it ended:
    ``finish_reason`` (``None`` when a decoded stream was cut off; ``"cancelled"`` when the
    client went away before the run ended, or a decoded stream ended as stopped), ``usage``,
    the run's ``state``, the ``errors`` it sent, its ``steps`` and ``annotations``.
    """

    parts: list[Part] = field(default_factory=list)
    role: Role = "assistant"
    id: str | None = None
    state: Any = None
    finish_reason: str | None = None
    usage: Usage | None = None
    errors: list[str] = field(default_factory=list)
    steps: list[StepFinish] = field(default_factory=list)
    annotations: list[Any] = field(default_factory=list)
    metadata: Any = None
    """The protocol's own message metadata, where it has one (AI SDK ``metadata``)."""

    @property
    def text(self) -> str:
        """All its text parts, joined."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def reasoning(self) -> str:
        """All its reasoning parts, joined."""
        return "".join(p.text for p in self.parts if isinstance(p, ReasoningPart))

    @property
    def tool_calls(self) -> list[ToolCallPart]:
        """Its tool calls, in order (each with its result, once known)."""
        return [p for p in self.parts if isinstance(p, ToolCallPart)]

    @property
    def tool_results(self) -> list[ToolResultPart]:
        """Its tool results whose calls are not in the conversation (see ToolResultPart)."""
        return [p for p in self.parts if isinstance(p, ToolResultPart)]

    @property
    def sources(self) -> list[SourcePart]:
        """The sources it cites, in order."""
        return [p for p in self.parts if isinstance(p, SourcePart)]

    @property
    def files(self) -> list[FilePart]:
        """Its files, in order."""
        return [p for p in self.parts if isinstance(p, FilePart)]

    @property
    def data(self) -> list[DataPart]:
        """Its data parts, in order."""
        return [p for p in self.parts if isinstance(p, DataPart)]


@dataclass
class Tool:
    """A tool the frontend offers (its name, description and JSON Schema parameters)."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


# -- the message a stream builds -----------------------------------------------------------


class MessageAccumulator:
    """Builds a :class:`Message` from chunks (and a decoded stream's end), one at a time.

    ``apply_state=False`` skips the state operations (the run engine knows its state already).
    """

    def __init__(self, state: Any = None, *, apply_state: bool = True) -> None:
        self._message = Message(state=copy_json(state))
        # The text part growing now and its pieces since the last read: joined when the message
        # is read (``+=`` on a part's text would copy the whole text for each token, and an
        # answer of megabytes would hold the event loop for seconds).
        self._growing: TextPart | ReasoningPart | None = None
        self._pieces: list[str] = []

        self._tool_calls: dict[str, ToolCallPart] = {}
        self._tally = RunTally()
        self._apply_state = apply_state

    def add(self, item: Chunk | Any) -> None:
        """Add one chunk, or a decoded stream's :class:`~streambridge.protocols.StreamEnd`."""
        handler = _ADD.get(type(item))
        if handler is not None:
            handler(self, item)
        elif _is_stream_end(item):
            self._stream_end(item)
        else:
            raise TypeError(f"not a chunk: {item!r}")

    # -- one method per chunk kind (the table _ADD, below the class) ------------------------------

    def _text_delta(self, item: TextDelta) -> None:
        self._append_text(TextPart, item.text_delta, item.parent_id)

    def _reasoning_delta(self, item: ReasoningDelta) -> None:
        self._append_text(ReasoningPart, item.reasoning_delta, item.parent_id)

    def _append_text(
        self, kind: type[TextPart] | type[ReasoningPart], text: str, parent_id: str | None
    ) -> None:
        # Consecutive pieces of one kind and parent make one part, as every frontend shows them.
        parts = self._message.parts
        last = parts[-1] if parts else None
        if type(last) is kind and last.parent_id == parent_id:
            if last is not self._growing:
                self._join_pieces()
                self._growing = last
            self._pieces.append(text)
        else:
            self._join_pieces()
            parts.append(kind(text, parent_id))

    def _join_pieces(self) -> None:
        growing = self._growing
        if growing is not None:
            growing.text += "".join(self._pieces)
            self._pieces.clear()
            self._growing = None

    def _tool_call_begin(self, item: ToolCallBegin) -> None:
        call = ToolCallPart(item.tool_call_id, item.tool_name, parent_id=item.parent_id)
        self._tool_calls[item.tool_call_id] = call
        self._message.parts.append(call)
        self._tally.tool_call(item.tool_call_id)

    def _tool_call_delta(self, item: ToolCallDelta) -> None:
        self._call(item.tool_call_id).args_text += item.args_text_delta

    def _tool_call_args_finish(self, item: ToolCallArgsFinish) -> None:
        self._call(item.tool_call_id).args_complete = True

    def _tool_result(self, item: ToolResult) -> None:
        self._call(item.tool_call_id).set_result(
            item.result, is_error=item.is_error, artifact=item.artifact
        )
        self._tally.tool_result(item.tool_call_id)

    def _source(self, item: Source) -> None:
        part = SourcePart(item.id, item.url, item.title, item.source_type, item.parent_id)
        self._message.parts.append(part)

    def _file(self, item: File) -> None:
        self._message.parts.append(FilePart(item.data, item.mime_type, item.parent_id))

    def _data(self, item: Data) -> None:
        self._message.parts.append(DataPart(item.data, item.name))

    def _annotations(self, item: Annotations) -> None:
        self._message.annotations.extend(item.annotations)

    def _error(self, item: Error) -> None:
        self._message.errors.append(item.error)
        self._tally.error()

    def _step_start(self, item: StepStart) -> None:
        pass  # a step's start changes nothing the message shows

    def _step_finish(self, item: StepFinish) -> None:
        self._message.steps.append(item)
        self._tally.step_finish(item.finish_reason, item.input_tokens, item.output_tokens)

    def _update_state(self, item: StateUpdate) -> None:
        if not self._apply_state:
            return
        message = self._message
        for operation in item.operations:
            # A copy: later operations change the state in place, never the chunk's.
            message.state = apply_operation(message.state, copy.deepcopy(operation))

    def _stream_end(self, end: Any) -> None:
        message = self._message
        message.finish_reason = end.finish_reason
        if end.input_tokens is not None or end.output_tokens is not None:
            message.usage = Usage(end.input_tokens or 0, end.output_tokens or 0)

    def _call(self, tool_call_id: str) -> ToolCallPart:
        try:
            return self._tool_calls[tool_call_id]
        except KeyError:
            raise ValueError(
                f"the stream used tool call {tool_call_id!r} before starting it"
            ) from None

    def end(self) -> Message:
        """Finish a stream that carries no end of its own (raw chunks from ``create_run``): the
        finish reason and usage every encoder would have sent."""
        if self._message.finish_reason is None:
            tally = self._tally
            self._message.finish_reason = tally.finish_reason()
            self._message.usage = Usage(tally.input_tokens, tally.output_tokens)
        return self.message

    @property
    def message(self) -> Message:
        """The message so far (its text parts whole)."""
        self._join_pieces()
        return self._message


_ADD: dict[type, Callable[[MessageAccumulator, Any], None]] = {
    TextDelta: MessageAccumulator._text_delta,
    ReasoningDelta: MessageAccumulator._reasoning_delta,
    ToolCallBegin: MessageAccumulator._tool_call_begin,
    ToolCallDelta: MessageAccumulator._tool_call_delta,
    ToolCallArgsFinish: MessageAccumulator._tool_call_args_finish,
    ToolResult: MessageAccumulator._tool_result,
    Source: MessageAccumulator._source,
    File: MessageAccumulator._file,
    Data: MessageAccumulator._data,
    Annotations: MessageAccumulator._annotations,
    Error: MessageAccumulator._error,
    StepStart: MessageAccumulator._step_start,
    StepFinish: MessageAccumulator._step_finish,
    StateUpdate: MessageAccumulator._update_state,
}
"""What each chunk kind adds to the message, as the encoders' tables say what each one sends."""


def _is_stream_end(item: Any) -> bool:
    from .protocols import StreamEnd  # protocols import this module: import late

    return isinstance(item, StreamEnd)


def accumulate(items: Any, *, state: Any = None, complete: bool = False) -> Message:
    """The message ``items`` (chunks, decoded or not) build.  ``complete=True`` for a whole
    run's raw chunks, which carry no end of their own: the finish reason and usage are then
    tallied as the encoders do."""
    accumulator = MessageAccumulator(state)
    for item in items:
        accumulator.add(item)
    return accumulator.end() if complete else accumulator.message


# -- small helpers the request parsers share -----------------------------------------------


def _parse_data_url(url: str) -> tuple[str | None, str] | None:
    """``(mime type, base64 data)`` of a base64 ``data:`` URL, else ``None``."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    if not sep or not header.endswith(";base64"):
        return None
    mime = header[: -len(";base64")].split(";")[0] or None
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    return mime, data
