"""OpenAI chat completions (and every server that speaks them) to a run.

``await openai_chat(controller, stream)`` reads ``client.chat.completions.create(...,
stream=True)`` (sync or async), the ``.stream(...)`` helper, or plain dicts of
``chat.completion.chunk`` shape, and returns when the upstream ends.

What it gets right, because peers do not:

- Tool calls are keyed by choice and ``index``, never "the current call": parallel calls whose
  argument deltas interleave each keep their own arguments.  A call begins once its id and name
  are both known (some servers send the arguments first, some send the id only once, some send a
  whole call in one delta); arguments that came earlier are sent right after the begin.
- One delta may carry reasoning, text and tool calls together: all of them are kept, in that
  order.
- Reasoning comes from ``reasoning_content`` (DeepSeek, vLLM, llama.cpp) or ``reasoning``
  (OpenRouter, Ollama, newer vLLM).
- Usage arrives after the finish reason, in a last chunk with no choices
  (``stream_options={"include_usage": True}``): the step's finish is sent when the stream ends,
  with that usage.
"""

from __future__ import annotations

from typing import Any

from ..run import RunController, ToolCallController
from ._common import Fields, field, fields, pump

__all__ = ["openai_chat"]

FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool-calls",
    "function_call": "tool-calls",
    "content_filter": "content-filter",
}
"""OpenAI's finish reasons to streambridge's; any other is ``"other"``."""


async def openai_chat(controller: RunController, stream: Any) -> None:
    """Stream an OpenAI chat completion into this run: one step, its text, reasoning and tool
    calls, then the step's finish with the finish reason and usage.

    ``stream`` is what ``client.chat.completions.create(..., stream=True)`` returns (from
    ``OpenAI`` or ``AsyncOpenAI``), the manager or stream of ``client.chat.completions.stream()``,
    or any iterable of ``chat.completion.chunk`` dicts.  Returns when the upstream ends; a
    cancelled run closes it.
    """
    bridge = _ChatBridge(controller)
    if await pump(stream, controller, bridge.on_event):
        bridge.finish()


class _PendingCall:
    """A tool call of one choice and index: begun once its id and name are known."""

    __slots__ = ("args", "call", "has_args", "id", "name")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.args: list[str] = []  # arguments that arrived before the begin
        self.has_args = False
        self.call: ToolCallController | None = None


class _ChatBridge:
    __slots__ = ("calls", "controller", "finish_reason", "started", "targets", "usage")

    def __init__(self, controller: RunController) -> None:
        self.controller = controller
        self.started = False
        self.calls: dict[tuple[int, Any], _PendingCall] = {}
        # Choice 0 is the message; others (n > 1) are grouped under a parent id of their own.
        self.targets: dict[int, RunController] = {0: controller}
        self.finish_reason: str | None = None
        self.usage: Any = None

    def on_event(self, event: Any) -> None:
        chunk = fields(event)
        kind = chunk.get("type")
        if kind is not None:
            # The `.stream()` helper's events: its "chunk" event carries the raw chunk, every
            # other event is derived from those chunks and would count them twice.
            if kind != "chunk":
                return
            chunk = fields(chunk.get("chunk"))
        if not self.started:
            self.started = True
            self.controller.add_step_start(message_id=chunk.get("id"))
        for choice in chunk.get("choices") or ():
            self.on_choice(fields(choice))
        usage = chunk.get("usage")
        if usage is not None:
            self.usage = usage

    def on_choice(self, choice: Fields) -> None:
        index = choice.get("index") or 0
        target = self.targets.get(index)
        if target is None:
            target = self.targets[index] = self.controller.with_parent_id(f"choice-{index}")
        if (raw_delta := choice.get("delta")) is not None:
            delta = fields(raw_delta)
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning and isinstance(reasoning, str):
                target.append_reasoning(reasoning)
            content = delta.get("content")
            if content:
                target.append_text(content)
            refusal = delta.get("refusal")
            if refusal:
                target.append_text(refusal)
            tool_calls = delta.get("tool_calls")
            if tool_calls:
                for position, tool_call in enumerate(tool_calls):
                    self.on_tool_call(target, index, position, tool_call)
            function_call = delta.get("function_call")  # the deprecated single-call form
            if function_call is not None:
                self.on_function(target, self.pending((index, "function_call")), function_call)
        reason = choice.get("finish_reason")
        if reason:
            self.finish_reason = FINISH_REASONS.get(reason, "other")
            # The choice is done: a call still waiting for its id gets one now.
            for (choice_index, _), pending in self.calls.items():
                if choice_index == index and pending.call is None:
                    self.begin(target, pending, force=True)

    def pending(self, key: tuple[int, Any]) -> _PendingCall:
        pending = self.calls.get(key)
        if pending is None:
            pending = self.calls[key] = _PendingCall()
        return pending

    def on_tool_call(self, target: RunController, choice: int, position: int, delta: Any) -> None:
        index = field(delta, "index")
        if index is None:
            # Servers that leave out the index (it is required) send one call per position,
            # or tell calls apart by id.
            index = field(delta, "id") or position
        pending = self.pending((choice, index))
        if pending.call is None and pending.id is None:
            pending.id = field(delta, "id") or None
        function = field(delta, "function")
        if function is not None:
            self.on_function(target, pending, function)

    def on_function(self, target: RunController, pending: _PendingCall, function: Any) -> None:
        if pending.call is None and not pending.name:
            pending.name = field(function, "name") or None
        arguments = field(function, "arguments")
        call = pending.call
        if arguments:
            pending.has_args = True
        if call is None:
            if arguments:
                pending.args.append(arguments)
            if pending.name and pending.id:
                self.begin(target, pending)
        elif arguments:
            call.append_args_text(arguments)

    def begin(self, target: RunController, pending: _PendingCall, force: bool = False) -> None:
        if not force and not (pending.id and pending.name):
            return
        call = pending.call = target.add_tool_call(pending.name or "unknown", pending.id)
        if pending.args:
            call.append_args_text("".join(pending.args))
            pending.args = []

    def finish(self) -> None:
        if not self.started:
            return  # an empty stream: no step
        for (choice, _), pending in self.calls.items():
            if pending.call is None:
                self.begin(self.targets[choice], pending, force=True)
            if not pending.has_args and pending.call is not None and not pending.call.args_closed:
                pending.call.append_args_text("{}")  # a tool without parameters
        usage = self.usage
        self.controller.add_step_finish(
            finish_reason=self.finish_reason or "other",
            input_tokens=(field(usage, "prompt_tokens") or 0) if usage is not None else 0,
            output_tokens=(field(usage, "completion_tokens") or 0) if usage is not None else 0,
        )
