"""OpenAI Responses API events to a run.

``await openai_responses(controller, stream)`` reads ``client.responses.create(...,
stream=True)`` (sync or async), the ``client.responses.stream(...)`` manager or stream, or plain
dicts of the events' shape, and returns when the upstream ends.

Output is keyed the way the API keys it: text and reasoning by ``item_id``, function calls by
their item's ``id`` (argument deltas name the item) and begun with the item's ``call_id`` (the id
a tool result must answer).  ``url_citation`` annotations become sources; file citations are
kept as data.  ``response.completed`` and ``response.incomplete`` end the step with their usage;
``response.failed`` and ``error`` end the run with an error (their text stays in the server
log).  Event types this bridge does not know are ignored.
"""

from __future__ import annotations

from typing import Any

from ..run import RunController, ToolCallController
from ._common import UpstreamError, field, pump

__all__ = ["INCOMPLETE_REASONS", "openai_responses"]

INCOMPLETE_REASONS = {"max_output_tokens": "length", "content_filter": "content-filter"}
"""``incomplete_details.reason`` to a finish reason; any other is ``"other"``."""


async def openai_responses(controller: RunController, stream: Any) -> None:
    """Stream an OpenAI response into this run: a step with its text, reasoning, function calls
    and sources, then the step's finish with its status and usage.  Returns when the upstream
    ends; a cancelled run closes it.
    """
    bridge = _ResponsesBridge(controller)
    if await pump(stream, controller, bridge.on_event):
        bridge.finish()


class _Call:
    __slots__ = ("call", "has_args")

    def __init__(self, call: ToolCallController) -> None:
        self.call = call
        self.has_args = False


class _ResponsesBridge:
    __slots__ = (
        "calls",
        "controller",
        "finish_reason",
        "handlers",
        "reasoning_part",
        "sources",
        "started",
        "usage",
    )

    def __init__(self, controller: RunController) -> None:
        self.controller = controller
        self.started = False
        self.calls: dict[str, _Call] = {}  # by item id
        self.sources: set[str] = set()
        self.reasoning_part: tuple[Any, Any] | None = None
        self.finish_reason: str | None = None
        self.usage: Any = None
        self.handlers = {
            "response.output_text.delta": self.on_text,
            "response.refusal.delta": self.on_text,
            "response.reasoning_summary_text.delta": self.on_reasoning,
            "response.reasoning_text.delta": self.on_reasoning,
            "response.function_call_arguments.delta": self.on_arguments,
            "response.function_call_arguments.done": self.on_arguments_done,
            "response.output_item.added": self.on_item_added,
            "response.output_item.done": self.on_item_done,
            "response.output_text.annotation.added": self.on_annotation,
            "response.created": self.on_created,
            "response.completed": self.on_completed,
            "response.incomplete": self.on_incomplete,
            "response.failed": self.on_failed,
            "error": self.on_error,
        }

    def on_event(self, event: Any) -> None:
        handler = self.handlers.get(field(event, "type"))
        if handler is not None:
            handler(event)

    def ensure_started(self, message_id: Any = None) -> None:
        if not self.started:
            self.started = True
            self.controller.add_step_start(message_id=message_id)

    def on_created(self, event: Any) -> None:
        self.ensure_started(field(field(event, "response"), "id"))

    def on_text(self, event: Any) -> None:
        self.ensure_started()
        delta = field(event, "delta")
        if delta:
            self.controller.append_text(delta)

    def on_reasoning(self, event: Any) -> None:
        self.ensure_started()
        delta = field(event, "delta")
        if not delta:
            return
        # Summary parts (and reasoning items) are paragraphs of their own.
        part = (field(event, "item_id"), field(event, "summary_index"))
        if self.reasoning_part is not None and part != self.reasoning_part:
            delta = "\n\n" + delta
        self.reasoning_part = part
        self.controller.append_reasoning(delta)

    def on_item_added(self, event: Any) -> None:
        self.ensure_started()
        item = field(event, "item")
        if field(item, "type") == "function_call":
            self.begin(item)

    def begin(self, item: Any) -> _Call:
        item_id = field(item, "id") or field(item, "call_id")
        call = self.calls[item_id] = _Call(
            self.controller.add_tool_call(field(item, "name") or "", field(item, "call_id"))
        )
        arguments = field(item, "arguments")
        if arguments:  # a whole call in its added event
            call.has_args = True
            call.call.append_args_text(arguments)
        return call

    def on_arguments(self, event: Any) -> None:
        call = self.calls.get(field(event, "item_id"))
        delta = field(event, "delta")
        if call is not None and delta:
            call.has_args = True
            call.call.append_args_text(delta)

    def on_arguments_done(self, event: Any) -> None:
        call = self.calls.get(field(event, "item_id"))
        if call is not None:
            self.complete(call, field(event, "arguments"))

    def complete(self, call: _Call, arguments: Any) -> None:
        if not call.has_args:
            call.has_args = True
            call.call.append_args_text(arguments or "{}")
        call.call.close_args()

    def on_item_done(self, event: Any) -> None:
        item = field(event, "item")
        if field(item, "type") != "function_call":
            return
        call = self.calls.get(field(item, "id") or field(item, "call_id"))
        if call is None:  # a call announced only when done
            self.ensure_started()
            call = self.begin(item)
        self.complete(call, field(item, "arguments"))

    def on_annotation(self, event: Any) -> None:
        annotation = field(event, "annotation")
        kind = field(annotation, "type")
        url = field(annotation, "url")
        if kind == "url_citation" and url:
            if url not in self.sources:
                self.sources.add(url)
                self.controller.add_source(
                    id=f"source-{len(self.sources)}", url=url, title=field(annotation, "title")
                )
        elif annotation is not None:
            dump = getattr(annotation, "model_dump", None)
            plain = dump(mode="json", exclude_none=True) if dump is not None else annotation
            self.controller.add_data(plain, "openai-annotation")

    def on_completed(self, event: Any) -> None:
        response = field(event, "response")
        self.usage = field(response, "usage")
        self.finish_reason = "tool-calls" if self.calls else "stop"

    def on_incomplete(self, event: Any) -> None:
        response = field(event, "response")
        self.usage = field(response, "usage")
        details = field(response, "incomplete_details")
        reason = field(details, "reason") if details is not None else None
        self.finish_reason = INCOMPLETE_REASONS.get(str(reason), "other")

    def on_failed(self, event: Any) -> None:
        error = field(field(event, "response"), "error")
        raise UpstreamError(f"OpenAI response failed: {error!r}")

    def on_error(self, event: Any) -> None:
        raise UpstreamError(
            f"OpenAI stream error {field(event, 'code')!r}: {field(event, 'message')!r}"
        )

    def finish(self) -> None:
        if not self.started:
            return
        usage = self.usage
        self.controller.add_step_finish(
            finish_reason=self.finish_reason or "other",
            input_tokens=(field(usage, "input_tokens") or 0) if usage is not None else 0,
            output_tokens=(field(usage, "output_tokens") or 0) if usage is not None else 0,
        )
