"""The arguments of a stream's tool calls, kept the same way by every encoder.

The rule, stated once here:

- a call's arguments open when the call begins, and close exactly once: at its
  ``ToolCallArgsFinish``, before its result, and, for every call still open, at the end of a step,
  at an error and at the end of the stream (in the order the calls began);
- argument text for a call that is not open (unknown, or closed already) is not the call's;
- a call that streamed no argument text has the empty object, :data:`EMPTY_ARGS`, as its
  arguments, so that every client parses an object.

Each encoder keeps its own record of a call (an index, a prefix, the text so far) and lets
:class:`ToolCallArgs` say when it is open and when it closes.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["EMPTY_ARGS", "ToolCallArgs"]

EMPTY_ARGS = "{}"
"""The arguments of a call that streamed none."""

Call = TypeVar("Call")


class _Open(Generic[Call]):
    __slots__ = ("call", "streamed")

    def __init__(self, call: Call) -> None:
        self.call = call
        self.streamed = False

    def missing(self) -> str:
        return "" if self.streamed else EMPTY_ARGS


class ToolCallArgs(Generic[Call]):
    """The calls of one stream whose arguments are open, each with the encoder's ``Call``."""

    __slots__ = ("_open",)

    def __init__(self) -> None:
        self._open: dict[str, _Open[Call]] = {}

    def begin(self, tool_call_id: str, call: Call) -> None:
        """The call began: its arguments are open."""
        self._open[tool_call_id] = _Open(call)

    def append(self, tool_call_id: str, text: str) -> Call | None:
        """Argument text for the call: its record if its arguments are open, else ``None``."""
        found = self._open.get(tool_call_id)
        if found is None:
            return None
        if text:
            found.streamed = True
        return found.call

    def close(self, tool_call_id: str) -> tuple[Call, str] | None:
        """Close the call's arguments if they are open: its record, and the text still missing
        from them (:data:`EMPTY_ARGS` for a call that streamed none, else ``""``)."""
        found = self._open.pop(tool_call_id, None)
        if found is None:
            return None
        return found.call, found.missing()

    def close_all(self) -> list[tuple[Call, str]]:
        """:meth:`close` every open call, in the order they began."""
        closed = [
            (found.call, "" if found.streamed else EMPTY_ARGS) for found in self._open.values()
        ]
        self._open.clear()
        return closed
