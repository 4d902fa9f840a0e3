"""LangGraph and LangChain streams to a run.

``await langgraph(controller, graph.astream(inputs, stream_mode=["messages", "updates",
"custom"]))`` (with ``subgraphs=True`` too, and ``version="v2"`` stream parts) or
``await langgraph(controller, graph.astream_events(inputs, version="v2"))``.

- Messages are keyed by their id, tool-call chunks by message id and ``index`` (never "the
  current call"): parallel calls, or two models streaming at once, keep their own arguments.  A
  call begins once its id and name are known.  A message whose chunks carry the provider's id
  and LangChain's run id (``lc_run-...``) is one message, as LangChain merges it.
- Reasoning: ``thinking`` and ``reasoning`` content blocks (an OpenAI reasoning summary's parts
  each a paragraph) and ``additional_kwargs["reasoning_content"]``.
- A whole ``AIMessage`` (a model that did not stream, or a node's output) adds what its chunks
  did not already send, so a message is never sent twice; a ``ToolMessage`` becomes its call's
  result (``status="error"`` marks a tool error).
- Each AI message is a step (a new message, or a tool result, finishes the step before it), with
  its usage and finish reason.  A subgraph's output is grouped under
  ``with_parent_id(namespace)``.
- Interrupts (``interrupt()`` in a node: the ``__interrupt__`` update of ``astream``, the root
  graph's ``on_chain_stream`` of ``astream_events``) become data parts named
  ``"langgraph-interrupt"``, each interrupt once; custom stream writes become data parts named
  ``"langgraph-custom"`` (``on_custom_event``: named after the event).
- ``nodes=`` keeps only the messages of those nodes.
- ``state_sync=True`` writes the graph's messages and channels into ``controller.state`` the way
  assistant-stream's ``append_langgraph_event`` does (the same resulting state, sent as small
  operations), for assistant-ui's LangGraph and assistant-transport frontends, instead of
  message chunks.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from .._jsonlib import dumps
from ..run import RunController, ToolCallController
from ..state import StateProxy
from ._common import field, pump, require

__all__ = ["CUSTOM_DATA", "INTERRUPT_DATA", "langgraph"]

INTERRUPT_DATA = "langgraph-interrupt"
CUSTOM_DATA = "langgraph-custom"

_FINISH_REASONS = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "STOP": "stop",
    "length": "length",
    "max_tokens": "length",
    "MAX_TOKENS": "length",
    "tool_calls": "tool-calls",
    "tool_use": "tool-calls",
    "function_call": "tool-calls",
    "content_filter": "content-filter",
    "refusal": "content-filter",
}


async def langgraph(
    controller: RunController,
    stream: Any,
    *,
    nodes: Collection[str] | None = None,
    state_sync: bool = False,
) -> None:
    """Stream a LangGraph run (or a LangChain ``astream_events`` stream) into this run.

    ``stream`` is ``graph.astream(..., stream_mode=[...])`` with any of ``"messages"``,
    ``"updates"`` and ``"custom"`` (a list, so each item names its mode), with or without
    ``subgraphs=True``, or ``graph.astream_events(..., version="v2")``; sync ``graph.stream``
    works too.  ``nodes`` keeps only the messages those nodes produce.  With ``state_sync``, the
    graph's state is mirrored into ``controller.state`` (see the module's documentation).
    Returns when the upstream ends; a cancelled run closes it.
    """
    if state_sync:
        require("langchain_core", "langgraph")
        sync = _StateSync(controller)
        await pump(stream, controller, sync.on_event)
        return
    bridge = _GraphBridge(controller, None if nodes is None else frozenset(nodes))
    if await pump(stream, controller, bridge.on_event):
        bridge.finish()


def _parts(event: Any) -> tuple[tuple[str, ...], str, Any] | None:
    """``(namespace, mode, payload)`` of an ``astream`` item, in any of its shapes."""
    if type(event) is tuple:
        if len(event) == 3 and isinstance(event[1], str):
            return tuple(event[0]), event[1], event[2]
        if len(event) == 2:
            if isinstance(event[0], str):
                return (), event[0], event[1]
            return (), "messages", event  # stream_mode="messages" alone: (message, metadata)
        return None
    if isinstance(event, dict):
        if "event" in event:
            return None  # astream_events: handled apart
        if "type" in event and "data" in event and "ns" in event:  # version="v2" parts
            return tuple(event["ns"]), event["type"], event["data"]
        return (), "updates", event  # stream_mode="updates" alone
    return None


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump(mode="json")
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _interrupts(value: Any) -> list[Any]:
    return [{"value": _plain(field(item, "value")), "id": field(item, "id")} for item in value]


class _Call:
    __slots__ = ("args", "call", "has_args", "id", "name", "target")

    def __init__(self, target: RunController) -> None:
        self.target = target
        self.id: str | None = None
        self.name: str | None = None
        self.args: list[str] = []
        self.has_args = False
        self.call: ToolCallController | None = None


class _Message:
    """What has been sent of one AI message."""

    __slots__ = (
        "calls",
        "ended",
        "finish_reason",
        "id_kinds",
        "input_tokens",
        "output_tokens",
        "reasoning_part",
        "sent_text",
    )

    def __init__(self, message_id: str) -> None:
        self.id_kinds = {_id_kind(message_id)}  # see _GraphBridge.same_message
        self.ended = False  # its last chunk (or the whole message) came
        self.calls: dict[Any, _Call] = {}
        self.sent_text = False
        self.reasoning_part: tuple[Any, Any] | None = None  # the summary part last sent
        self.finish_reason: str | None = None
        self.input_tokens = 0
        self.output_tokens = 0


def _id_kind(message_id: str) -> str:
    """``"run"`` for the id LangChain gives a chunk from its run (``lc_run-...``), ``"named"``
    for any other (the provider's)."""
    return "run" if message_id.startswith("lc_run-") else "named"


class _GraphBridge:
    __slots__ = (
        "calls",
        "controller",
        "interrupt_ids",
        "messages",
        "nodes",
        "step",
        "streaming",
        "targets",
    )

    def __init__(self, controller: RunController, nodes: frozenset[str] | None) -> None:
        self.controller = controller
        self.nodes = nodes
        self.messages: dict[str, _Message] = {}
        self.calls: dict[str, ToolCallController] = {}  # every begun call, by id
        self.targets: dict[tuple[str, ...], RunController] = {(): controller}
        self.step: _Message | None = None  # the message whose step is open
        self.interrupt_ids: set[str] = set()  # the interrupts already sent
        self.streaming: dict[Any, _Message] = {}  # the last message of each source

    def target(self, namespace: tuple[str, ...]) -> RunController:
        target = self.targets.get(namespace)
        if target is None:
            target = self.controller.with_parent_id("|".join(namespace))
            self.targets[namespace] = target
        return target

    def on_event(self, event: Any) -> None:
        parts = _parts(event)
        if parts is None:
            if isinstance(event, dict) and "event" in event:
                self.on_langchain_event(event)
            return
        namespace, mode, payload = parts
        if mode == "messages":
            message, metadata = payload
            if self.admits(metadata):
                # LangGraph's metadata names the node's task; the run is not named.
                task = metadata.get("langgraph_checkpoint_ns") if type(metadata) is dict else None
                self.on_message(namespace, message, task)
        elif mode == "updates":
            if isinstance(payload, dict) and "__interrupt__" in payload:
                self.on_interrupts(payload["__interrupt__"])
        elif mode == "custom":
            self.controller.add_data(_plain(payload), CUSTOM_DATA)

    def on_interrupts(self, interrupts: Any) -> None:
        # With subgraphs=True a subgraph's interrupt comes twice: from its namespace, then
        # from the root graph it stopped.  The frontend asks its question once.
        new: list[Any] = []
        for item in interrupts or ():
            interrupt_id = field(item, "id")
            if interrupt_id is not None:
                if interrupt_id in self.interrupt_ids:
                    continue
                self.interrupt_ids.add(interrupt_id)
            new.append(item)
        if new:
            self.controller.add_data(_interrupts(new), INTERRUPT_DATA)

    def admits(self, metadata: Any) -> bool:
        if self.nodes is None:
            return True
        return isinstance(metadata, dict) and metadata.get("langgraph_node") in self.nodes

    def on_langchain_event(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        metadata = event.get("metadata") or {}
        data = event.get("data") or {}
        if kind in ("on_chat_model_stream", "on_chat_model_end", "on_tool_end"):
            if not self.admits(metadata) and kind != "on_tool_end":
                return
            message = data.get("chunk") if kind == "on_chat_model_stream" else data.get("output")
            if message is None or not hasattr(message, "type"):
                return
            # The node's task is the last part of its checkpoint namespace; the rest is the
            # subgraph it runs in, as astream(subgraphs=True) names it.
            checkpoint_ns = metadata.get("langgraph_checkpoint_ns") or ""
            namespace = tuple(checkpoint_ns.split("|")[:-1]) if checkpoint_ns else ()
            self.on_message(namespace, message, event.get("run_id"))
        elif kind == "on_chain_stream":
            # A node's output: the ToolMessages a ToolNode made of failed tools (which have no
            # on_tool_end) are only here.  The root graph's output (its own stream's items)
            # is the only place an interrupt shows.
            chunk = data.get("chunk")
            if isinstance(chunk, dict):
                if "__interrupt__" in chunk:
                    self.on_interrupts(chunk["__interrupt__"])
                for message in chunk.get("messages") or ():
                    if field(message, "type") == "tool":
                        self.on_tool(message)
        elif kind == "on_custom_event":
            self.controller.add_data(_plain(data), event.get("name") or CUSTOM_DATA)

    def on_message(self, namespace: tuple[str, ...], message: Any, source: Any = None) -> None:
        """``source``: the chat model run (or, when only that is known, the graph task) the
        message comes from, if known."""
        kind = field(message, "type")
        if kind == "AIMessageChunk":
            self.on_ai(namespace, message, source, whole=False)
        elif kind == "ai":
            self.on_ai(namespace, message, source, whole=True)
        elif kind == "tool":
            self.on_tool(message)

    def on_ai(self, namespace: tuple[str, ...], message: Any, source: Any, *, whole: bool) -> None:
        message_id = field(message, "id") or ""
        state = self.messages.get(message_id)
        if state is None and not whole and source is not None:
            state = self.same_message(source, message_id)
        target = self.target(namespace)
        if state is None:
            state = self.messages[message_id] = _Message(message_id)
            if source is not None:
                self.streaming[source] = state
            self.finish_step()
            self.step = state
            self.controller.add_step_start(message_id=message_id or None)
        elif whole:
            # The message its chunks built: send only what they did not.
            state.ended = True
            self.add_whole_calls(target, state, message)
            self.close_calls(state)
            self.note_end(state, message, usage=False)
            return
        if whole:
            state.ended = True
        if not (whole and state.sent_text):
            self.add_content(target, state, field(message, "content"))
            reasoning = (field(message, "additional_kwargs") or {}).get("reasoning_content")
            if isinstance(reasoning, str) and reasoning:
                target.append_reasoning(reasoning)
        if whole:
            self.add_whole_calls(target, state, message)
            self.close_calls(state)
        else:
            for position, chunk in enumerate(field(message, "tool_call_chunks") or ()):
                self.on_call_chunk(target, state, message_id, position, chunk)
        self.note_end(state, message, usage=True)

    def same_message(self, source: Any, message_id: str) -> _Message | None:
        """The streaming message a chunk with a new id belongs to, if it is another id of it.

        LangChain gives each chunk the id of its run (``lc_run-...``) unless the provider named
        the message, and a provider may name only some chunks: langchain-openai on the
        Responses API names the first one (the response's id).  So one message can stream under
        a named id and a run id (LangChain's merge keeps the named one).  A run has one run id
        and a message one name: a new id is another id of the last message from the same
        source when that message has not ended and has no id of that kind yet; and it is
        remembered as such."""
        state = self.streaming.get(source)
        if not message_id or state is None or state.ended:
            return None
        kind = _id_kind(message_id)
        if kind in state.id_kinds:
            return None
        state.id_kinds.add(kind)
        self.messages[message_id] = state
        return state

    def add_content(self, target: RunController, state: _Message, content: Any) -> None:
        if isinstance(content, str):
            if content:
                state.sent_text = True
                target.append_text(content)
            return
        for block in content or ():
            if isinstance(block, str):
                if block:
                    state.sent_text = True
                    target.append_text(block)
                continue
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text" and block.get("text"):
                state.sent_text = True
                target.append_text(block["text"])
            elif kind == "thinking" and block.get("thinking"):
                target.append_reasoning(block["thinking"])
            elif kind == "reasoning":
                text = block.get("reasoning")
                if text:
                    target.append_reasoning(text)
                elif isinstance(block.get("summary"), list):
                    self.add_summary(target, state, block)

    def add_summary(self, target: RunController, state: _Message, block: dict[str, Any]) -> None:
        # An OpenAI reasoning summary (langchain-openai on the Responses API): a streamed chunk
        # carries one part's delta with the part's index.  Each part is a paragraph of its own,
        # as the openai_responses bridge sends it.
        for position, part in enumerate(block["summary"]):
            text = part.get("text") if isinstance(part, dict) else None
            if not text:
                continue
            key = (block.get("index"), part.get("index", position))
            if state.reasoning_part is not None and key != state.reasoning_part:
                text = "\n\n" + text
            state.reasoning_part = key
            target.append_reasoning(text)

    def on_call_chunk(
        self, target: RunController, state: _Message, message_id: str, position: int, chunk: Any
    ) -> None:
        index = field(chunk, "index")
        if index is None:
            index = field(chunk, "id") or position
        pending = state.calls.get(index)
        if pending is None:
            pending = state.calls[index] = _Call(target)
        if pending.call is None:
            pending.id = pending.id or field(chunk, "id") or None
            pending.name = pending.name or field(chunk, "name") or None
        args = field(chunk, "args")
        if args:
            pending.has_args = True
            if pending.call is None:
                pending.args.append(args)
            else:
                pending.call.append_args_text(args)
        if pending.call is None and pending.id and pending.name:
            self.begin(pending)

    def begin(self, pending: _Call) -> None:
        if pending.id is not None and pending.id in self.calls:
            return  # the call already came through another message (a subgraph's re-emit)
        call = pending.call = pending.target.add_tool_call(pending.name or "unknown", pending.id)
        self.calls[call.tool_call_id] = call
        if pending.args:
            call.append_args_text("".join(pending.args))
            pending.args = []

    def add_whole_calls(self, target: RunController, state: _Message, message: Any) -> None:
        for tool_call in field(message, "tool_calls") or ():
            call_id = field(tool_call, "id")
            if call_id in self.calls:
                continue
            if any(pending.id == call_id for pending in state.calls.values()):
                continue
            pending = state.calls[call_id or len(state.calls)] = _Call(target)
            pending.id, pending.name = call_id, field(tool_call, "name")
            pending.args = [dumps(field(tool_call, "args") or {})]
            pending.has_args = True
            self.begin(pending)

    def close_calls(self, state: _Message) -> None:
        for pending in state.calls.values():
            if pending.call is None:
                self.begin(pending)
            call = pending.call
            if call is not None and not call.args_closed and not call.has_result:
                if not pending.has_args:
                    call.append_args_text("{}")
                    pending.has_args = True
                call.close_args()

    def note_end(self, state: _Message, message: Any, *, usage: bool) -> None:
        metadata = field(message, "response_metadata") or {}
        reason = metadata.get("finish_reason") or metadata.get("stop_reason")
        if reason:
            state.finish_reason = _FINISH_REASONS.get(reason, "other")
        counts = field(message, "usage_metadata")
        if usage and counts:
            # Chunks carry increments (LangChain adds them up when it merges chunks).
            state.input_tokens += counts.get("input_tokens") or 0
            state.output_tokens += counts.get("output_tokens") or 0
        if field(message, "chunk_position") == "last":
            state.ended = True
            self.close_calls(state)

    def on_tool(self, message: Any) -> None:
        call = self.calls.get(field(message, "tool_call_id") or "")
        if call is None or call.has_result:
            return  # a call of an earlier turn, or a result already sent
        self.finish_step()
        call.set_response(
            _plain(field(message, "content")),
            artifact=_plain(field(message, "artifact")),
            is_error=field(message, "status") == "error",
        )

    def finish_step(self) -> None:
        state = self.step
        if state is None:
            return
        self.step = None
        self.close_calls(state)
        reason = state.finish_reason
        if reason is None or (reason == "stop" and state.calls):
            reason = "tool-calls" if state.calls else "stop"
        self.controller.add_step_finish(
            finish_reason=reason,
            input_tokens=state.input_tokens,
            output_tokens=state.output_tokens,
        )

    def finish(self) -> None:
        for state in self.messages.values():
            self.close_calls(state)
        self.finish_step()


class _StateSync:
    """The run's state, kept as assistant-stream's ``append_langgraph_event`` keeps it."""

    __slots__ = ("add_ai_message_chunks", "chunk_type", "controller")

    def __init__(self, controller: RunController) -> None:
        from langchain_core.messages.ai import AIMessageChunk, add_ai_message_chunks

        self.controller = controller
        self.chunk_type = AIMessageChunk
        self.add_ai_message_chunks = add_ai_message_chunks

    def on_event(self, event: Any) -> None:
        parts = _parts(event)
        if parts is None:
            return
        _, mode, payload = parts
        state = self.controller.state
        if mode == "messages":
            self.on_message(state, payload[0])
        elif mode == "updates" and isinstance(payload, dict):
            for channels in payload.values():
                if not isinstance(channels, dict):
                    continue
                for name, value in channels.items():
                    if name != "messages":
                        _patch(state, name, _plain(value))

    def on_message(self, state: StateProxy, message: Any) -> None:
        if not isinstance(state.value, dict) or "messages" not in state.value:
            state["messages"] = []
        messages: list[Any] = state.value["messages"]
        new = message.model_dump()
        is_chunk = new.get("type") == "AIMessageChunk"
        if is_chunk:
            new["type"] = "ai"
        index = _find_message(messages, new)
        if index is None:
            state["messages"].append(new)
        elif is_chunk:
            current = messages[index]
            chunk = self.chunk_type
            merged = self.add_ai_message_chunks(
                chunk(**{**current, "type": "AIMessageChunk"}),
                chunk(**{**new, "type": "AIMessageChunk"}),
            ).model_dump()
            merged["type"] = "ai"
            _patch(state["messages"], index, merged)
        else:
            state["messages"][index] = new


def _find_message(messages: list[Any], new: dict[str, Any]) -> int | None:
    message_id, tool_call_id = new.get("id"), new.get("tool_call_id")
    for index, current in enumerate(messages):
        if not isinstance(current, dict):
            continue
        if message_id is not None and current.get("id") == message_id:
            return index
        if tool_call_id is not None and current.get("tool_call_id") == tool_call_id:
            return index
    return None


def _patch(parent: StateProxy, key: str | int, new: Any) -> None:
    """Write ``new`` at ``parent[key]`` with the fewest operations: new keys and list items
    are added, a string that grows is appended to, anything else is set."""
    current = parent.value[key] if _has(parent.value, key) else _MISSING
    if current == new:
        return
    if isinstance(current, dict) and isinstance(new, dict) and current.keys() <= new.keys():
        child = parent[key]
        for name, value in new.items():
            if name in current:
                _patch(child, name, value)
            else:
                child[name] = value
        return
    if isinstance(current, list) and isinstance(new, list) and len(current) <= len(new):
        child = parent[key]
        for index, value in enumerate(new):
            if index < len(current):
                _patch(child, index, value)
            else:
                child.append(value)
        return
    parent[key] = new  # a string that extends the current one becomes append-text


_MISSING = object()


def _has(container: Any, key: str | int) -> bool:
    if isinstance(container, dict):
        return key in container
    if isinstance(container, list) and isinstance(key, int):
        return key < len(container)
    return False
