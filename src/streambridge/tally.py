"""How a run ended: its finish reason and usage, tallied the same way by every encoder and by
the Python client's :class:`~streambridge.messages.MessageAccumulator` (so the two cannot
disagree about a stream)."""

from __future__ import annotations

__all__ = ["CANCELLED", "RunTally"]

CANCELLED = "cancelled"
"""The finish reason of a run that was stopped before it ended by itself: a stored run's log
ends with a step that finished for this reason (see :func:`streambridge.runs.record`), and each
encoder ends such a stream with its protocol's own stopped end."""

_NONE: frozenset[str] = frozenset()


class RunTally:
    """Counts what decides a stream's final finish reason and usage.

    The rule, shared by every protocol: an error ends as ``"error"``; a run whose last step
    ended as ``"cancelled"`` was stopped, and ends so (a stopped run asks the frontend to run
    no tools); a tool call still waiting for its result ends as ``"tool-calls"`` (the frontend
    has tools to run); otherwise the last step's finish reason, or ``"stop"``.
    """

    __slots__ = (
        "awaiting_result",
        "errored",
        "input_tokens",
        "last_finish_reason",
        "output_tokens",
    )

    def __init__(self) -> None:
        # Made by the first tool call: an open stream that calls no tool holds no empty set.
        self.awaiting_result: set[str] | frozenset[str] = _NONE
        self.errored = False
        self.input_tokens = 0
        self.output_tokens = 0
        self.last_finish_reason: str | None = None

    def tool_call(self, tool_call_id: str) -> None:
        """A tool call started: it waits for its result."""
        if not isinstance(self.awaiting_result, set):
            self.awaiting_result = set()
        self.awaiting_result.add(tool_call_id)

    def tool_result(self, tool_call_id: str) -> None:
        """A tool call has its result."""
        if isinstance(self.awaiting_result, set):
            self.awaiting_result.discard(tool_call_id)

    def error(self) -> None:
        """The stream carried an error."""
        self.errored = True

    def step_finish(self, finish_reason: str, input_tokens: int, output_tokens: int) -> None:
        """A step ended: its usage adds up, its finish reason is the latest."""
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.last_finish_reason = finish_reason

    def finish_reason(self) -> str:
        """The stream's finish reason by the rule above."""
        if self.errored:
            return "error"
        if self.last_finish_reason == CANCELLED:
            return CANCELLED
        if self.awaiting_result:
            return "tool-calls"
        if self.last_finish_reason not in (None, "tool-calls"):
            return self.last_finish_reason
        return "stop"
