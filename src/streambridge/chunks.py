"""The typed chunks a run produces, in the order it produces them.

Chunks are frozen, slotted dataclasses: cheap to create on the hot path and safe to hand to
several encoders (a replaying subscriber encodes the very same objects).  Each class carries its
wire-neutral kind in ``type`` so encoders and logs can name it without ``isinstance`` chains.

Where assistant-stream has the same concept, the ``type`` string and the field names are its own
(``text-delta`` with ``text_delta``, ``tool-call-delta`` with ``args_text_delta``, ``error`` with
``error``, ...), so code that switches on assistant-stream's chunks reads these unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypedDict

__all__ = [
    "Annotations",
    "AppendTextOperation",
    "Chunk",
    "Data",
    "Error",
    "File",
    "ReasoningDelta",
    "SetOperation",
    "Source",
    "StateOperation",
    "StateUpdate",
    "StepFinish",
    "StepStart",
    "TextDelta",
    "ToolCallArgsDelta",
    "ToolCallArgsFinish",
    "ToolCallBegin",
    "ToolCallDelta",
    "ToolResult",
]


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the assistant's visible text."""

    text_delta: str
    parent_id: str | None = None
    type: ClassVar[str] = "text-delta"


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the assistant's reasoning (shown apart from the answer)."""

    reasoning_delta: str
    parent_id: str | None = None
    type: ClassVar[str] = "reasoning-delta"


@dataclass(frozen=True, slots=True)
class ToolCallBegin:
    """A tool call starts; its arguments follow as :class:`ToolCallDelta` chunks."""

    tool_call_id: str
    tool_name: str
    parent_id: str | None = None
    type: ClassVar[str] = "tool-call-begin"


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a tool call's JSON arguments, as text."""

    tool_call_id: str
    args_text_delta: str
    type: ClassVar[str] = "tool-call-delta"


ToolCallArgsDelta = ToolCallDelta
"""The name :class:`ToolCallDelta` had before it took assistant-stream's; kept for old imports."""


@dataclass(frozen=True, slots=True)
class ToolCallArgsFinish:
    """A tool call's arguments are complete.

    The run engine emits it exactly once per tool call, before the call's result, at the end of
    its step, or when the run ends, so encoders never have to guess.
    """

    tool_call_id: str
    type: ClassVar[str] = "tool-call-args-finish"


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The result of a tool call (``is_error`` marks a failed call)."""

    tool_call_id: str
    result: Any
    artifact: Any = None
    is_error: bool = False
    type: ClassVar[str] = "tool-result"


@dataclass(frozen=True, slots=True)
class Source:
    """A source the answer cites."""

    id: str
    url: str
    title: str | None = None
    parent_id: str | None = None
    source_type: str = "url"
    type: ClassVar[str] = "source"


@dataclass(frozen=True, slots=True)
class File:
    """A file the assistant produced: base64 ``data`` of ``mime_type``."""

    data: str
    mime_type: str
    parent_id: str | None = None
    type: ClassVar[str] = "file"


@dataclass(frozen=True, slots=True)
class Data:
    """Arbitrary JSON for the frontend; ``name`` makes it a named data part."""

    data: Any
    name: str | None = None
    type: ClassVar[str] = "data"


@dataclass(frozen=True, slots=True)
class Annotations:
    """Message annotations (kept for code written for assistant-stream)."""

    annotations: tuple[Any, ...]
    type: ClassVar[str] = "annotations"


@dataclass(frozen=True, slots=True)
class Error:
    """An error the user may see.  Internal exceptions never reach it verbatim."""

    error: str
    type: ClassVar[str] = "error"


@dataclass(frozen=True, slots=True)
class StepStart:
    """A model generation step starts."""

    message_id: str
    type: ClassVar[str] = "step-start"


@dataclass(frozen=True, slots=True)
class StepFinish:
    """A model generation step ends, with its token usage."""

    finish_reason: str = "stop"
    input_tokens: int = 0
    output_tokens: int = 0
    is_continued: bool = False
    type: ClassVar[str] = "step-finish"


class SetOperation(TypedDict):
    """Set the value at ``path`` (``[]`` is the whole state)."""

    type: Literal["set"]
    path: list[str]
    value: Any


class AppendTextOperation(TypedDict):
    """Append ``value`` to the string at ``path``."""

    type: Literal["append-text"]
    path: list[str]
    value: str


StateOperation = SetOperation | AppendTextOperation


@dataclass(frozen=True, slots=True)
class StateUpdate:
    """A batch of state operations, applied in order (assistant-ui's object stream semantics)."""

    operations: tuple[StateOperation, ...]
    type: ClassVar[str] = "update-state"


Chunk = (
    TextDelta
    | ReasoningDelta
    | ToolCallBegin
    | ToolCallDelta
    | ToolCallArgsFinish
    | ToolResult
    | Source
    | File
    | Data
    | Annotations
    | Error
    | StepStart
    | StepFinish
    | StateUpdate
)
"""Any chunk a run can produce."""
