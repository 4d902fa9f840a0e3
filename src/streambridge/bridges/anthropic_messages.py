"""Anthropic Messages to a run.

``await anthropic_messages(controller, stream)`` reads ``client.messages.create(...,
stream=True)`` (sync or async), the ``client.messages.stream(...)`` manager or the
``MessageStream`` it opens, or plain dicts of the raw event shape, and returns when the upstream
ends.

The SDK's ``MessageStream`` yields each raw event *and* events it derives from them (``text``,
``input_json``, ``citation``, ``thinking``, ``signature``): only the raw events are read, so
nothing is counted twice.  Blocks are keyed by their ``index``.  A tool call whose input never
streams (a tool without parameters) gets ``{}``.  Usage is ``message_start``'s input tokens
(cache reads and writes included) and the cumulative output tokens of the last
``message_delta``.  A thinking block's signature, and redacted thinking, are kept as data parts
named ``"anthropic-thinking"`` so a later turn can send them back.
"""

from __future__ import annotations

from typing import Any

from .._jsonlib import dumps
from ..run import RunController, ToolCallController
from ._common import UpstreamError, field, pump

__all__ = ["STOP_REASONS", "anthropic_messages"]

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool-calls",
    "refusal": "content-filter",
}
"""Anthropic's stop reasons to streambridge's finish reasons; any other is ``"other"``."""

THINKING_DATA = "anthropic-thinking"
"""The name of the data parts that keep thinking signatures and redacted thinking."""

_DERIVED = frozenset({"text", "input_json", "citation", "thinking", "signature"})


async def anthropic_messages(controller: RunController, stream: Any) -> None:
    """Stream an Anthropic message into this run: a step with its text, thinking (as reasoning),
    tool calls, citations (as sources) and server tool results, then the step's finish with the
    stop reason and usage.  Returns when the upstream ends; a cancelled run closes it.
    """
    bridge = _MessagesBridge(controller)
    if await pump(stream, controller, bridge.on_event):
        bridge.finish()


class _Block:
    __slots__ = ("call", "has_args", "input", "kind", "signature")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.call: ToolCallController | None = None
        self.has_args = False
        self.input: Any = None
        self.signature: list[str] = []


class _MessagesBridge:
    __slots__ = (
        "blocks",
        "calls",
        "controller",
        "input_tokens",
        "output_tokens",
        "sources",
        "started",
        "stop_reason",
    )

    def __init__(self, controller: RunController) -> None:
        self.controller = controller
        self.blocks: dict[int, _Block] = {}
        self.calls: dict[str, ToolCallController] = {}
        self.sources: set[str] = set()
        self.started = False
        self.stop_reason: str | None = None
        self.input_tokens = 0
        self.output_tokens = 0

    def on_event(self, event: Any) -> None:
        kind = field(event, "type")
        if kind == "content_block_delta":
            self.on_delta(field(event, "index"), field(event, "delta"))
        elif kind == "content_block_start":
            self.on_block_start(field(event, "index"), field(event, "content_block"))
        elif kind == "content_block_stop":
            self.on_block_stop(field(event, "index"))
        elif kind == "message_start":
            self.on_message_start(field(event, "message"))
        elif kind == "message_delta":
            delta, usage = field(event, "delta"), field(event, "usage")
            reason = field(delta, "stop_reason") if delta is not None else None
            if reason:
                self.stop_reason = reason
            if usage is not None:
                self.count(usage, cumulative=True)
        elif kind == "error":
            error = field(event, "error")
            raise UpstreamError(f"Anthropic stream error: {error!r}")
        # message_stop, ping, the MessageStream's derived events and unknown events: nothing.

    def on_message_start(self, message: Any) -> None:
        if not self.started:
            self.started = True
            self.controller.add_step_start(message_id=field(message, "id"))
        usage = field(message, "usage")
        if usage is not None:
            self.count(usage, cumulative=False)

    def count(self, usage: Any, *, cumulative: bool) -> None:
        output = field(usage, "output_tokens")
        if output is not None:
            self.output_tokens = output
        inputs = [
            field(usage, name)
            for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        ]
        if not cumulative or inputs[0] is not None:
            self.input_tokens = sum(tokens or 0 for tokens in inputs)

    def ensure_started(self) -> None:
        if not self.started:  # raw events without a message_start (a test, a recording's tail)
            self.started = True
            self.controller.add_step_start()

    def on_block_start(self, index: int, content: Any) -> None:
        self.ensure_started()
        kind = field(content, "type") or ""
        block = self.blocks[index] = _Block(kind)
        controller = self.controller
        if kind == "text":
            text = field(content, "text")
            if text:
                controller.append_text(text)
            for citation in field(content, "citations") or ():
                self.on_citation(citation)
        elif kind == "thinking":
            thinking = field(content, "thinking")
            if thinking:
                controller.append_reasoning(thinking)
            signature = field(content, "signature")
            if signature:
                block.signature.append(signature)
        elif kind == "redacted_thinking":
            controller.add_data({"redacted_thinking": field(content, "data")}, THINKING_DATA)
        elif kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
            tool_id = field(content, "id")
            call = block.call = controller.add_tool_call(field(content, "name") or "", tool_id)
            self.calls[call.tool_call_id] = call
            block.input = field(content, "input")
        elif kind.endswith("_tool_result"):
            # A server tool's result (web search, code execution, MCP): the result of the call
            # its server_tool_use block started.
            answered = self.calls.get(field(content, "tool_use_id") or "")
            if answered is not None and not answered.has_result:
                result = _plain(field(content, "content"))
                is_error = bool(field(content, "is_error")) or (
                    isinstance(result, dict) and str(result.get("type", "")).endswith("_error")
                )
                answered.set_response(result, is_error=is_error)

    def on_delta(self, index: int, delta: Any) -> None:
        kind = field(delta, "type")
        if kind == "text_delta":
            self.controller.append_text(field(delta, "text"))
        elif kind == "input_json_delta":
            block = self.blocks.get(index)
            partial = field(delta, "partial_json")
            if partial and block is not None and block.call is not None:
                block.has_args = True
                block.call.append_args_text(partial)
        elif kind == "thinking_delta":
            self.controller.append_reasoning(field(delta, "thinking"))
        elif kind == "signature_delta":
            block = self.blocks.get(index)
            if block is not None:
                block.signature.append(field(delta, "signature"))
        elif kind == "citations_delta":
            self.on_citation(field(delta, "citation"))

    def on_block_stop(self, index: int) -> None:
        block = self.blocks.pop(index, None)
        if block is None:
            return
        if block.call is not None:
            if not block.has_args:
                # No input_json_delta: the input of the start (a dict, {} for a tool without
                # parameters) is the whole input.
                block.call.append_args_text(dumps(_plain(block.input) or {}))
            block.call.close_args()
        elif block.signature:
            self.controller.add_data({"signature": "".join(block.signature)}, THINKING_DATA)

    def on_citation(self, citation: Any) -> None:
        kind = field(citation, "type")
        url = None
        if kind == "web_search_result_location":
            url = field(citation, "url")
        elif kind == "search_result_location":
            url = field(citation, "source")
        if url:
            if url not in self.sources:
                self.sources.add(url)
                self.controller.add_source(
                    id=f"source-{len(self.sources)}", url=url, title=field(citation, "title")
                )
        else:
            # Document citations (char, page, block locations) point into the request's
            # documents, not at a URL: kept as data.
            self.controller.add_data(_plain(citation), "anthropic-citation")

    def finish(self) -> None:
        if not self.started:
            return
        for index in list(self.blocks):
            self.on_block_stop(index)  # a stream cut after a block's start
        reason = self.stop_reason
        self.controller.add_step_finish(
            finish_reason=STOP_REASONS.get(reason, "other") if reason else "other",
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
        )


def _plain(value: Any) -> Any:
    """JSON-ready data of an SDK model (or the value itself)."""
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump(mode="json", exclude_none=True)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
