"""The typed chunks a run produces, in the order it produces them.

Chunks are frozen, slotted dataclasses: cheap to create on the hot path and safe to hand to
several encoders (a replaying subscriber encodes the very same objects).  Each class carries its
wire-neutral kind in ``type`` so encoders and logs can name it without ``isinstance`` chains.

Where assistant-stream has the same concept, the ``type`` string and the field names are its own
(``text-delta`` with ``text_delta``, ``tool-call-delta`` with ``args_text_delta``, ``error`` with
``error``, ...), so code that switches on assistant-stream's chunks reads these unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
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
    """The text added, as it came (a token, or any piece of one)."""
    parent_id: str | None = None
    """The group this part belongs to (``RunController.with_parent_id``), or ``None``."""
    type: ClassVar[str] = "text-delta"


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the assistant's reasoning (shown apart from the answer)."""

    reasoning_delta: str
    """The reasoning text added."""
    parent_id: str | None = None
    """The group this part belongs to, or ``None``."""
    type: ClassVar[str] = "reasoning-delta"


# A run makes a delta per token.  A frozen dataclass's own __init__ fills each field through
# object.__setattr__ (plain assignment is refused), which is most of what making one costs;
# these fill the slots through their descriptors, with the same signature.
def _slot_setter(cls: type, field: str) -> Callable[[Any, Any], None]:
    setter: Callable[[Any, Any], None] = vars(cls)[field].__set__
    return setter


_set_text = _slot_setter(TextDelta, "text_delta")
_set_text_parent = _slot_setter(TextDelta, "parent_id")
_set_reasoning = _slot_setter(ReasoningDelta, "reasoning_delta")
_set_reasoning_parent = _slot_setter(ReasoningDelta, "parent_id")


def _text_delta_init(self: TextDelta, text_delta: str, parent_id: str | None = None) -> None:
    _set_text(self, text_delta)
    _set_text_parent(self, parent_id)


def _reasoning_delta_init(
    self: ReasoningDelta, reasoning_delta: str, parent_id: str | None = None
) -> None:
    _set_reasoning(self, reasoning_delta)
    _set_reasoning_parent(self, parent_id)


for _cls, _init in ((TextDelta, _text_delta_init), (ReasoningDelta, _reasoning_delta_init)):
    _init.__name__, _init.__qualname__ = "__init__", f"{_cls.__name__}.__init__"
    _cls.__init__ = _init  # type: ignore[method-assign]
del _cls, _init


@dataclass(frozen=True, slots=True)
class ToolCallBegin:
    """A tool call starts; its arguments follow as :class:`ToolCallDelta` chunks."""

    tool_call_id: str
    """The call's id, which its argument deltas and its result name."""
    tool_name: str
    """The name of the tool called."""
    parent_id: str | None = None
    """The group this call belongs to, or ``None``."""
    type: ClassVar[str] = "tool-call-begin"


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a tool call's JSON arguments, as text."""

    tool_call_id: str
    """The call these arguments belong to."""
    args_text_delta: str
    """The next piece of the arguments' JSON text."""
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
    """The call whose arguments are complete."""
    type: ClassVar[str] = "tool-call-args-finish"


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The result of a tool call (``is_error`` marks a failed call)."""

    tool_call_id: str
    """The call this is the result of."""
    result: Any
    """The result, a JSON value (the error's description when ``is_error``)."""
    artifact: Any = None
    """What the tool made besides its result, kept for the application (JSON)."""
    is_error: bool = False
    """True when the tool failed."""
    type: ClassVar[str] = "tool-result"


@dataclass(frozen=True, slots=True)
class Source:
    """A source the answer cites."""

    id: str
    """Tells sources apart."""
    url: str
    """Where the source is."""
    title: str | None = None
    """What to show for it, if known."""
    parent_id: str | None = None
    """The group this part belongs to, or ``None``."""
    source_type: str = "url"
    """``"url"`` (the only kind every protocol carries)."""
    type: ClassVar[str] = "source"


@dataclass(frozen=True, slots=True)
class File:
    """A file the assistant produced: base64 ``data`` of ``mime_type``."""

    data: str
    """The file's bytes, base64-encoded."""
    mime_type: str
    """Its media type, e.g. ``image/png``."""
    parent_id: str | None = None
    """The group this part belongs to, or ``None``."""
    type: ClassVar[str] = "file"


@dataclass(frozen=True, slots=True)
class Data:
    """Arbitrary JSON for the frontend; ``name`` makes it a named data part."""

    data: Any
    """A JSON value for the frontend."""
    name: str | None = None
    """Its name, which makes it a named data part (``None``: plain data)."""
    type: ClassVar[str] = "data"


@dataclass(frozen=True, slots=True)
class Annotations:
    """Message annotations (kept for code written for assistant-stream)."""

    annotations: tuple[Any, ...]
    """JSON values attached to the message."""
    type: ClassVar[str] = "annotations"


@dataclass(frozen=True, slots=True)
class Error:
    """An error the user may see.  Internal exceptions never reach it verbatim."""

    error: str
    """The message the user may see."""
    type: ClassVar[str] = "error"


@dataclass(frozen=True, slots=True)
class StepStart:
    """A model generation step starts."""

    message_id: str
    """The id of the message the step makes."""
    type: ClassVar[str] = "step-start"


@dataclass(frozen=True, slots=True)
class StepFinish:
    """A model generation step ends, with its token usage."""

    finish_reason: str = "stop"
    """Why the step ended (``stop``, ``tool-calls``, ``length``, ...)."""
    input_tokens: int = 0
    """Tokens the step's model call took in."""
    output_tokens: int = 0
    """Tokens it gave out."""
    is_continued: bool = False
    """True when the next step continues this one's message."""
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
    """The state operations, in order (set and append-text, at paths)."""
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
