"""langgraph: real LangGraph graphs (a scripted fake chat model, a ToolNode, a subgraph) streamed
into a run, checked as chunks, through the official clients, and in state-sync mode against the
state assistant-stream's own append_langgraph_event builds from the same events.

LangGraph runs on asyncio only: its streams are recorded on asyncio in a worker thread (or read
from the sync ``graph.stream``), and the bridge reads them on each backend.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import anyio.to_thread
import pytest

import streambridge as sb
from streambridge import client
from streambridge.bridges import langgraph
from streambridge.chunks import (
    Chunk,
    Data,
    StepFinish,
    StepStart,
    TextDelta,
    ToolCallBegin,
    ToolResult,
)

from .graphs import (
    INPUT,
    MODES,
    agent_graph,
    interrupt_graph,
    parent_graph,
    record,
    record_events,
    two_branch_graph,
)
from .support import (
    args_by_call,
    chunks_of,
    data_parts,
    official_clients,
    step_finishes,
    text_of,
)

pytestmark = pytest.mark.anyio

ANSWER = "Let me look.Sunny in Berlin."


def bridged(items: Any, **options: Any) -> sb.RunFunction:
    async def run(controller: sb.RunController) -> None:
        await langgraph(controller, items, **options)

    return run


def check_agent_run(chunks: list[Chunk], parent_id: str | None, custom: bool = True) -> None:
    texts = [c for c in chunks if isinstance(c, TextDelta)]
    assert "".join(c.text_delta for c in texts) == ANSWER  # each message once, never re-emitted
    assert {c.parent_id for c in texts} == {parent_id}
    begins = [(c.tool_call_id, c.tool_name) for c in chunks if isinstance(c, ToolCallBegin)]
    assert begins == [("call_a", "get_weather"), ("call_b", "explode")]
    assert args_by_call(chunks) == {"call_a": {"city": "Berlin 🐻"}, "call_b": {"reason": "x"}}
    results = {c.tool_call_id: c for c in chunks if isinstance(c, ToolResult)}
    assert results["call_a"].result == "sunny in Berlin 🐻"
    assert not results["call_a"].is_error
    assert results["call_b"].is_error  # the ToolNode's error message
    assert [(f.finish_reason, f.input_tokens, f.output_tokens) for f in step_finishes(chunks)] == [
        ("tool-calls", 10, 5),
        ("stop", 10, 5),
    ]
    expected = [{"progress": "looking up Berlin 🐻"}] if custom else []
    assert data_parts(chunks, "langgraph-custom") == expected


async def test_an_agent_graph_streams_messages_tools_and_custom_events() -> None:
    items = await anyio.to_thread.run_sync(lambda: record(agent_graph(), stream_mode=MODES))
    check_agent_run(await chunks_of(bridged(items)), None)


async def test_the_sync_stream_is_read_in_a_worker_thread() -> None:
    graph = agent_graph()
    check_agent_run(await chunks_of(bridged(graph.stream(INPUT, stream_mode=MODES))), None)


@pytest.mark.parametrize("subgraphs", [True, False])
async def test_a_subgraph_is_grouped_under_its_namespace(subgraphs: bool) -> None:
    items = await anyio.to_thread.run_sync(
        lambda: record(parent_graph(), stream_mode=MODES, subgraphs=subgraphs)
    )
    chunks = await chunks_of(bridged(items))
    if subgraphs:
        [namespace] = {item[0] for item in items if item[0]}
        check_agent_run(chunks, "|".join(namespace))
    else:
        # Without subgraphs=True LangGraph sends the subgraph's messages whole, once it ends,
        # and none of its custom writes.
        check_agent_run(chunks, None, custom=False)


async def test_v2_stream_parts() -> None:
    items = await anyio.to_thread.run_sync(
        lambda: record(parent_graph(), stream_mode=MODES, subgraphs=True, version="v2")
    )
    assert isinstance(items[0], dict)
    assert "ns" in items[0]
    chunks = await chunks_of(bridged(items))
    [namespace] = {tuple(item["ns"]) for item in items if item["ns"]}
    check_agent_run(chunks, "|".join(namespace))


async def test_astream_events_v2() -> None:
    events = await anyio.to_thread.run_sync(lambda: record_events(parent_graph()))
    chunks = await chunks_of(bridged(events))
    texts = [c for c in chunks if isinstance(c, TextDelta)]
    assert "".join(c.text_delta for c in texts) == ANSWER
    assert args_by_call(chunks) == {"call_a": {"city": "Berlin 🐻"}, "call_b": {"reason": "x"}}
    results = {c.tool_call_id: c for c in chunks if isinstance(c, ToolResult)}
    assert results["call_a"].result == "sunny in Berlin 🐻"
    assert results["call_b"].is_error
    assert [f.finish_reason for f in step_finishes(chunks)] == ["tool-calls", "stop"]


def final_messages(items: list[Any], source: str) -> list[Any]:
    """The whole AI messages LangChain merged from the chunks (each node's output)."""
    if source == "astream":
        updates = [item[1] for item in items if item[0] == "updates"]
        return [m for update in updates for out in update.values() for m in out["messages"]]
    return [e["data"]["output"] for e in items if e["event"] == "on_chat_model_end"]


@pytest.mark.parametrize("source", ["astream", "astream_events"])
async def test_two_models_streaming_at_once_keep_their_own_messages(source: str) -> None:
    def first_run() -> list[Any]:
        if source == "astream":
            return record(two_branch_graph(), stream_mode=MODES)
        return record_events(two_branch_graph())

    items = await anyio.to_thread.run_sync(first_run)
    chunks = await chunks_of(bridged(items))
    assert text_of(chunks) == "One, Three, two.four."  # as the models took turns
    # The first model's message streams under its name, then under its run id, while the
    # second's run id comes between: that run id is another message, not the first's other id.
    ids = {m.content: m.id for m in final_messages(items, source)}
    assert ids["One, two."] == "msg-first"
    assert ids["Three, four."].startswith("lc_run-")
    starts = [c.message_id for c in chunks if isinstance(c, StepStart)]
    assert starts == ["msg-first", ids["Three, four."]]
    assert len(step_finishes(chunks)) == 2


async def test_a_node_filter_keeps_only_those_nodes_messages() -> None:
    items = await anyio.to_thread.run_sync(lambda: record(agent_graph(), stream_mode=MODES))
    chunks = await chunks_of(bridged(items, nodes=["tools"]))
    # The model's messages are filtered out, so the tool results have no call to answer.
    assert not [c for c in chunks if isinstance(c, TextDelta | ToolCallBegin | ToolResult)]
    chunks = await chunks_of(bridged(items, nodes=["agent"]))
    assert "".join(c.text_delta for c in chunks if isinstance(c, TextDelta)) == ANSWER
    assert not [c for c in chunks if isinstance(c, ToolResult)]


async def test_the_official_clients_build_the_message() -> None:
    items = await anyio.to_thread.run_sync(lambda: record(agent_graph(), stream_mode=MODES))
    out = await official_clients(bridged(items))
    parts = out["assistant-stream"]["parts"]
    assert [p["type"] for p in parts] == ["text", "tool-call", "tool-call", "data", "text"]
    assert parts[1]["result"] == "sunny in Berlin 🐻"
    assert parts[2]["isError"] is True
    ai = out["ai"]["message"]["parts"]
    assert [p["type"] for p in ai if p["type"] != "step-start"] == [
        "text",
        "tool-get_weather",
        "tool-explode",
        "data-langgraph-custom",
        "text",
    ]
    assert ai[2]["state"] == "output-available"
    assert out["ai"]["finish"]["finishReason"] == "stop"


async def test_interrupts_become_data() -> None:
    graph = interrupt_graph()
    config = {"configurable": {"thread_id": "t"}}
    stream = graph.stream(INPUT, config, stream_mode=MODES)
    chunks = await chunks_of(bridged(stream))
    [[interrupt_data]] = data_parts(chunks, "langgraph-interrupt")
    assert interrupt_data["value"] == {"question": "Proceed?"}
    assert isinstance(interrupt_data["id"], str)


def interrupted_run(source: str, subgraph: bool, inputs: Any) -> list[Any]:
    """The items of one run of the human-in-the-loop graph (thread ``"t"``), recorded on
    asyncio: ``inputs`` then, on the same graph and thread, ``Command(resume=...)``."""
    graph = interrupt_graph(subgraph)
    config = {"configurable": {"thread_id": "t"}}
    runs = []
    for each in (INPUT, inputs):
        if source == "astream":
            runs.append(record(graph, each, config=config, stream_mode=MODES, subgraphs=subgraph))
        else:
            runs.append(record_events(graph, each, config=config))
    return runs


@pytest.mark.parametrize("subgraph", [False, True])
@pytest.mark.parametrize("source", ["astream", "astream_events"])
async def test_an_interrupt_reaches_the_frontend_once(source: str, subgraph: bool) -> None:
    from langgraph.types import Command

    first, resumed = await anyio.to_thread.run_sync(
        lambda: interrupted_run(source, subgraph, Command(resume="yes"))
    )
    chunks = await chunks_of(bridged(first))
    # Once, though astream(subgraphs=True) reports a subgraph's interrupt twice (from the
    # subgraph's namespace, then from the root graph).
    [[interrupt_data]] = data_parts(chunks, "langgraph-interrupt")
    assert interrupt_data["value"] == {"question": "Proceed?"}
    assert isinstance(interrupt_data["id"], str)
    out = await official_clients(bridged(first))
    assert [p["data"] for p in out["assistant-stream"]["parts"]] == [[interrupt_data]]
    ai = [p for p in out["ai"]["message"]["parts"] if p["type"] != "step-start"]
    assert ai == [{"type": "data-langgraph-interrupt", "data": [interrupt_data]}]
    # The frontend's answer resumes the graph: no interrupt is left.
    chunks = await chunks_of(bridged(resumed))
    assert not data_parts(chunks, "langgraph-interrupt")
    if source == "astream":  # astream_events has no chat model here to stream the answer
        assert text_of(chunks) == "You said yes."


# -- state sync: the anchor is assistant-stream's own append_langgraph_event ----------------


def anchor_state(items: list[Any]) -> Any:
    from assistant_stream.modules.langgraph import append_langgraph_event

    state: dict[str, Any] = {}
    for item in items:
        namespace, mode, payload = item if len(item) == 3 else ((), *item)
        if mode in ("messages", "updates"):
            append_langgraph_event(state, "|".join(namespace), mode, payload)
    return json.loads(json.dumps(state, default=str))


@pytest.mark.parametrize("subgraphs", [True, False])
async def test_state_sync_builds_the_state_append_langgraph_event_builds(
    subgraphs: bool,
) -> None:
    items = await anyio.to_thread.run_sync(
        lambda: record(parent_graph(), stream_mode=MODES, subgraphs=subgraphs)
    )
    chunks = await chunks_of(bridged(items, state_sync=True))
    assert not [c for c in chunks if isinstance(c, TextDelta | ToolCallBegin | StepFinish)]
    state = client.accumulate(chunks).state
    expected = anchor_state(items)
    types = [m["type"] for m in expected["messages"] if m["type"] != "human"]
    assert types == ["ai", "tool", "tool", "ai"]
    assert expected["messages"][-1]["content"] == "Sunny in Berlin."
    assert state == expected
    # The assistant-transport client rebuilds the same state from the encoded operations.
    async with sb.encode(
        sb.create_run(bridged(items, state_sync=True)), protocol="assistant-transport"
    ) as body:
        data = b"".join([piece async for piece in body])
    assert client.accumulate(client.decode(data, "assistant-transport")).state == expected
    # Streamed text (subgraphs=True streams the tokens) grows by append-text operations, not
    # by sending the message again.
    operations = [op for c in chunks if c.type == "update-state" for op in c.operations]
    assert any(op["type"] == "append-text" for op in operations) == subgraphs


async def test_data_is_json_ready() -> None:
    items = await anyio.to_thread.run_sync(lambda: record(agent_graph(), stream_mode=MODES))
    for chunk in await chunks_of(bridged(items)):
        if isinstance(chunk, Data):
            json.dumps(chunk.data)
