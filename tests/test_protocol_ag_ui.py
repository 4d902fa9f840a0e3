"""The ag-ui protocol: exact events, and the official client's (@ag-ui/client) verdict on them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streambridge as sb
from streambridge.chunks import (
    Annotations,
    Chunk,
    Data,
    Error,
    File,
    ReasoningDelta,
    Source,
    StateOperation,
    StateUpdate,
    StepFinish,
    StepStart,
    TextDelta,
    ToolCallArgsFinish,
    ToolCallBegin,
    ToolCallDelta,
    ToolResult,
)
from streambridge.client import ToolCallPart, accumulate, decode
from streambridge.protocols import StreamEnd
from streambridge.protocols.ag_ui import AGUIDecoder, AGUIEncoder, json_pointer, parse_request
from streambridge.state import apply_operation
from support.chunk_strategies import chunk_sequences, round_trip, text
from support.oracle import run_oracle
from support.scenarios import SCENARIOS, encode_chunks, expected, fixed_input, scenario_bytes
from support.scenarios import summary as scenario_summary

pytestmark = pytest.mark.anyio

EVERY_KIND: list[Chunk] = [
    StepStart("m1"),
    TextDelta("Hi\n"),
    TextDelta("there"),
    TextDelta("grouped", parent_id="p"),
    ReasoningDelta("hmm"),
    ReasoningDelta("sub", parent_id="p"),
    ToolCallBegin("c1", "search", parent_id="p"),
    ToolCallDelta("c1", '{"q":1}'),
    ToolCallArgsFinish("c1"),
    ToolResult("c1", {"ok": True}, artifact=[1], is_error=True),
    TextDelta("after"),
    Source("s1", "https://example.com", title="Example"),
    Source("s2", "https://example.com/doc", source_type="document", parent_id="p"),
    File("aGk=", "text/plain"),
    Data({"a": 1}),
    Data({"b": 2}, name="weather"),
    Annotations(({"x": 1},)),
    StateUpdate(({"type": "set", "path": ["a"], "value": 1},)),
    StateUpdate(({"type": "set", "path": ["t"], "value": "x"},)),
    StateUpdate(({"type": "append-text", "path": ["t"], "value": "yz"},)),
    StepFinish("stop", 2, 3),
    Error("careful"),
]


def frames(data: bytes) -> list[str]:
    """The ``data:`` payloads of an SSE body (every event is one ``data:`` line)."""
    text = data.decode()
    assert text.endswith("\n\n"), text[-80:]
    events = text[:-2].split("\n\n")
    assert all(event.startswith("data: ") and "\n" not in event for event in events), events
    return [event.removeprefix("data: ") for event in events]


def events(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(frame) for frame in frames(data)]


RUN_STARTED = (
    '{"type":"RUN_STARTED","threadId":"thread_fixed","runId":"run_fixed",'
    '"protocolVersion":"1.0","timestamp":1760000000000}'
)
ZERO_USAGE = '"usage":[{"inputTokens":0,"outputTokens":0,"totalTokens":0}]'


def test_exact_bytes_of_a_short_run() -> None:
    assert (
        encode_chunks([TextDelta("Hi"), TextDelta(" 😀")], "ag-ui")
        == (
            f"data: {RUN_STARTED}\n\n"
            'data: {"type":"TEXT_MESSAGE_START","messageId":"run_fixed-msg-1",'
            '"role":"assistant"}\n\n'
            'data: {"type":"TEXT_MESSAGE_CONTENT","messageId":"run_fixed-msg-1","delta":"Hi"}\n\n'
            'data: {"type":"TEXT_MESSAGE_CONTENT","messageId":"run_fixed-msg-1","delta":" 😀"}\n\n'
            'data: {"type":"TEXT_MESSAGE_END","messageId":"run_fixed-msg-1"}\n\n'
            'data: {"type":"RUN_FINISHED","threadId":"thread_fixed","runId":"run_fixed",'
            f'{ZERO_USAGE},"metadata":{{"streambridge":{{"finishReason":"stop"}}}}}}\n\n'
        ).encode()
    )


def test_each_chunk_kind_has_its_events() -> None:
    assert frames(encode_chunks(EVERY_KIND, "ag-ui")) == [
        RUN_STARTED,
        '{"type":"STEP_STARTED","stepName":"m1"}',
        '{"type":"TEXT_MESSAGE_START","messageId":"run_fixed-msg-1","role":"assistant"}',
        '{"type":"TEXT_MESSAGE_CONTENT","messageId":"run_fixed-msg-1","delta":"Hi\\n"}',
        '{"type":"TEXT_MESSAGE_CONTENT","messageId":"run_fixed-msg-1","delta":"there"}',
        '{"type":"TEXT_MESSAGE_END","messageId":"run_fixed-msg-1"}',
        '{"type":"TEXT_MESSAGE_START","messageId":"run_fixed-msg-1-p","role":"assistant",'
        '"metadata":{"streambridge":{"parentId":"p"}}}',
        '{"type":"TEXT_MESSAGE_CONTENT","messageId":"run_fixed-msg-1-p","delta":"grouped"}',
        '{"type":"TEXT_MESSAGE_END","messageId":"run_fixed-msg-1-p"}',
        '{"type":"REASONING_START","messageId":"run_fixed-reasoning-1"}',
        '{"type":"REASONING_MESSAGE_START","messageId":"run_fixed-reasoning-1","role":"reasoning"}',
        '{"type":"REASONING_MESSAGE_CONTENT","messageId":"run_fixed-reasoning-1","delta":"hmm"}',
        '{"type":"REASONING_MESSAGE_END","messageId":"run_fixed-reasoning-1"}',
        '{"type":"REASONING_END","messageId":"run_fixed-reasoning-1"}',
        '{"type":"REASONING_START","messageId":"run_fixed-reasoning-1-p"}',
        '{"type":"REASONING_MESSAGE_START","messageId":"run_fixed-reasoning-1-p",'
        '"role":"reasoning","metadata":{"streambridge":{"parentId":"p"}}}',
        '{"type":"REASONING_MESSAGE_CONTENT","messageId":"run_fixed-reasoning-1-p","delta":"sub"}',
        '{"type":"TOOL_CALL_START","toolCallId":"c1","toolCallName":"search",'
        '"parentMessageId":"run_fixed-msg-1-p","metadata":{"streambridge":{"parentId":"p"}}}',
        '{"type":"TOOL_CALL_ARGS","toolCallId":"c1","delta":"{\\"q\\":1}"}',
        '{"type":"TOOL_CALL_END","toolCallId":"c1"}',
        '{"type":"REASONING_MESSAGE_END","messageId":"run_fixed-reasoning-1-p"}',
        '{"type":"REASONING_END","messageId":"run_fixed-reasoning-1-p"}',
        '{"type":"TOOL_CALL_RESULT","messageId":"run_fixed-result-c1","toolCallId":"c1",'
        '"content":"{\\"ok\\":true}","role":"tool",'
        '"metadata":{"streambridge":{"isError":true,"artifact":[1]}}}',
        '{"type":"TEXT_MESSAGE_START","messageId":"run_fixed-msg-2","role":"assistant"}',
        '{"type":"TEXT_MESSAGE_CONTENT","messageId":"run_fixed-msg-2","delta":"after"}',
        '{"type":"CUSTOM","name":"source","value":{"id":"s1","url":"https://example.com",'
        '"title":"Example"}}',
        '{"type":"CUSTOM","name":"source","value":{"id":"s2","url":"https://example.com/doc",'
        '"sourceType":"document","parentId":"p"}}',
        '{"type":"CUSTOM","name":"file","value":{"data":"aGk=","mimeType":"text/plain"}}',
        '{"type":"CUSTOM","name":"data","value":{"a":1}}',
        '{"type":"CUSTOM","name":"weather","value":{"b":2}}',
        '{"type":"CUSTOM","name":"annotations","value":[{"x":1}]}',
        '{"type":"STATE_SNAPSHOT","snapshot":{"a":1}}',
        '{"type":"STATE_DELTA","delta":[{"op":"add","path":"/t","value":"x"}]}',
        '{"type":"STATE_DELTA","delta":[{"op":"replace","path":"/t","value":"xyz"}]}',
        '{"type":"TEXT_MESSAGE_END","messageId":"run_fixed-msg-2"}',
        '{"type":"STEP_FINISHED","stepName":"m1","metadata":{"streambridge":'
        '{"finishReason":"stop","usage":{"inputTokens":2,"outputTokens":3},"isContinued":false}}}',
        '{"type":"RUN_ERROR","message":"careful",'
        '"usage":[{"inputTokens":2,"outputTokens":3,"totalTokens":5}]}',
    ]


def test_a_complete_stream_ends_with_run_finished_and_its_pending_calls() -> None:
    chunks: list[Chunk] = [
        ToolCallBegin("c1", "now"),
        ToolCallBegin("c2", "ui"),
        ToolCallDelta("c2", '{"a":1}'),
        StepFinish("tool-calls", 12, 7),
    ]
    assert frames(encode_chunks(chunks, "ag-ui")) == [
        RUN_STARTED,
        '{"type":"TOOL_CALL_START","toolCallId":"c1","toolCallName":"now",'
        '"parentMessageId":"run_fixed-msg-1"}',
        '{"type":"TOOL_CALL_START","toolCallId":"c2","toolCallName":"ui",'
        '"parentMessageId":"run_fixed-msg-1"}',
        '{"type":"TOOL_CALL_ARGS","toolCallId":"c2","delta":"{\\"a\\":1}"}',
        # A call that streamed no arguments gets the empty object, so its arguments parse.
        '{"type":"TOOL_CALL_ARGS","toolCallId":"c1","delta":"{}"}',
        '{"type":"TOOL_CALL_END","toolCallId":"c1"}',
        '{"type":"TOOL_CALL_END","toolCallId":"c2"}',
        # A step that never said it started still needs a STEP_STARTED for its STEP_FINISHED.
        '{"type":"STEP_STARTED","stepName":"step-1"}',
        '{"type":"STEP_FINISHED","stepName":"step-1","metadata":{"streambridge":'
        '{"finishReason":"tool-calls","usage":{"inputTokens":12,"outputTokens":7},'
        '"isContinued":false}}}',
        '{"type":"RUN_FINISHED","threadId":"thread_fixed","runId":"run_fixed",'
        '"outcome":{"type":"success","pendingToolCallIds":["c1","c2"]},'
        '"usage":[{"inputTokens":12,"outputTokens":7,"totalTokens":19}],'
        '"metadata":{"streambridge":{"finishReason":"tool-calls"}}}',
    ]


def test_an_empty_run_and_the_request_ids() -> None:
    data = encode_chunks([], "ag-ui", input=sb.RunInput(run_id="r1", created_at=5))
    assert frames(data) == [
        '{"type":"RUN_STARTED","threadId":"r1","runId":"r1","protocolVersion":"1.0",'
        '"timestamp":5000}',
        '{"type":"RUN_FINISHED","threadId":"r1","runId":"r1",'
        f'{ZERO_USAGE},"metadata":{{"streambridge":{{"finishReason":"stop"}}}}}}',
    ]
    parent = fixed_input(options={"parentRunId": "run_0"})
    assert events(encode_chunks([TextDelta("x")], "ag-ui", input=parent))[0]["parentRunId"] == (
        "run_0"
    )


def test_nothing_follows_an_error() -> None:
    encoder = AGUIEncoder(fixed_input())
    assert encoder.encode(Error("stop here")).endswith(
        f'{{"type":"RUN_ERROR","message":"stop here",{ZERO_USAGE}}}\n\n'
    )
    assert encoder.encode(TextDelta("more")) == ""
    assert encoder.encode(StateUpdate(({"type": "set", "path": [], "value": 1},))) == ""
    assert encoder.finish() == ""


def test_text_after_a_tool_result_is_a_new_assistant_message() -> None:
    chunks: list[Chunk] = [
        TextDelta("Let me look."),
        ToolCallBegin("c1", "search"),
        TextDelta(" Still me."),
        ToolCallArgsFinish("c1"),
        ToolResult("c1", "found"),
        ReasoningDelta("so"),
        TextDelta("Done."),
    ]
    got = [
        (e["type"], e.get("messageId") or e.get("parentMessageId"))
        for e in events(encode_chunks(chunks, "ag-ui"))
    ]
    assert got == [
        ("RUN_STARTED", None),
        ("TEXT_MESSAGE_START", "run_fixed-msg-1"),
        ("TEXT_MESSAGE_CONTENT", "run_fixed-msg-1"),
        ("TOOL_CALL_START", "run_fixed-msg-1"),  # the call belongs to the open message
        ("TEXT_MESSAGE_CONTENT", "run_fixed-msg-1"),
        ("TOOL_CALL_ARGS", None),
        ("TOOL_CALL_END", None),
        ("TEXT_MESSAGE_END", "run_fixed-msg-1"),
        ("TOOL_CALL_RESULT", "run_fixed-result-c1"),
        ("REASONING_START", "run_fixed-reasoning-2"),
        ("REASONING_MESSAGE_START", "run_fixed-reasoning-2"),
        ("REASONING_MESSAGE_CONTENT", "run_fixed-reasoning-2"),
        ("REASONING_MESSAGE_END", "run_fixed-reasoning-2"),
        ("REASONING_END", "run_fixed-reasoning-2"),
        ("TEXT_MESSAGE_START", "run_fixed-msg-2"),
        ("TEXT_MESSAGE_CONTENT", "run_fixed-msg-2"),
        ("TEXT_MESSAGE_END", "run_fixed-msg-2"),
        ("RUN_FINISHED", None),
    ]
    result = next(e for e in events(encode_chunks(chunks, "ag-ui")) if "content" in e)
    # A string result goes as itself, marked so a reader does not parse "42" as a number.
    assert (result["content"], result["metadata"]) == ("found", {"streambridge": {"text": True}})


def set_op(path: list[str], value: Any) -> StateOperation:
    return {"type": "set", "path": path, "value": value}


def append_op(path: list[str], value: str) -> StateOperation:
    return {"type": "append-text", "path": path, "value": value}


STATE_CHUNKS: list[Chunk] = [
    StateUpdate((set_op(["a/b"], {"c~d": "x"}),)),
    StateUpdate((append_op(["a/b", "c~d"], "y"),)),
    StateUpdate((set_op(["~1", "/"], [1]),)),
    StateUpdate((set_op(["~1", "/", "1"], 2), set_op(["~1", "/", "0"], 0))),
    StateUpdate((set_op(["new", "deep", "er"], True),)),
    StateUpdate((set_op(["nil"], None),)),
    StateUpdate((set_op(["nil", "k"], "v"),)),
    StateUpdate((set_op(["list"], []), set_op(["list", "0"], {"n": ""}))),
    StateUpdate((append_op(["list", "0", "n"], "é"), append_op(["list", "0", "n"], "€"))),
    StateUpdate((set_op([], {"reset": 1}),)),
    StateUpdate((set_op(["reset"], 2),)),
]


def test_state_is_a_snapshot_then_json_patches_with_escaped_pointers() -> None:
    assert json_pointer(["a/b", "c~d", "~1", ""]) == "/a~1b/c~0d/~01/"
    state_events = [e for e in events(encode_chunks(STATE_CHUNKS, "ag-ui"))[1:-1]]
    assert state_events == [
        {"type": "STATE_SNAPSHOT", "snapshot": {"a/b": {"c~d": "x"}}},
        {"type": "STATE_DELTA", "delta": [{"op": "replace", "path": "/a~1b/c~0d", "value": "xy"}]},
        {"type": "STATE_DELTA", "delta": [{"op": "add", "path": "/~01", "value": {"/": [1]}}]},
        {
            "type": "STATE_DELTA",
            "delta": [
                {"op": "add", "path": "/~01/~1/1", "value": 2},
                {"op": "replace", "path": "/~01/~1/0", "value": 0},
            ],
        },
        # Missing containers on the way are created, as streambridge's state does.
        {
            "type": "STATE_DELTA",
            "delta": [{"op": "add", "path": "/new", "value": {"deep": {"er": True}}}],
        },
        {"type": "STATE_DELTA", "delta": [{"op": "add", "path": "/nil", "value": None}]},
        {"type": "STATE_DELTA", "delta": [{"op": "replace", "path": "/nil", "value": {"k": "v"}}]},
        {
            "type": "STATE_DELTA",
            # Each operation says the value as it was then, not as later ones left it.
            "delta": [
                {"op": "add", "path": "/list", "value": []},
                {"op": "add", "path": "/list/0", "value": {"n": ""}},
            ],
        },
        {
            "type": "STATE_DELTA",
            "delta": [
                {"op": "replace", "path": "/list/0/n", "value": "é"},
                {"op": "replace", "path": "/list/0/n", "value": "é€"},
            ],
        },
        {"type": "STATE_SNAPSHOT", "snapshot": {"reset": 1}},  # the root: only a snapshot says it
        {"type": "STATE_DELTA", "delta": [{"op": "replace", "path": "/reset", "value": 2}]},
    ]


def test_state_values_are_copied_not_shared_with_the_chunks() -> None:
    value: dict[str, Any] = {"items": []}
    chunks: list[Chunk] = [
        StateUpdate((set_op(["doc"], value),)),
        StateUpdate((set_op(["doc", "items", "0"], 1),)),
    ]
    first = encode_chunks(chunks, "ag-ui")
    assert value == {"items": []}  # the encoder's shadow state did not write into the chunk
    assert encode_chunks(chunks, "ag-ui") == first


def test_a_value_json_cannot_carry_changes_nothing() -> None:
    encoder = AGUIEncoder(fixed_input())
    encoder.encode(StateUpdate((set_op(["a"], 1),)))
    with pytest.raises(ValueError, match="not valid JSON"):
        encoder.encode(StateUpdate((set_op(["b"], float("nan")),)))
    with pytest.raises(ValueError, match="Out of range float"):
        encoder.encode(ToolResult("c1", float("inf")))
    with pytest.raises(ValueError, match="Out of range float"):
        encoder.encode(Data({"x": float("nan")}))
    assert encoder.encode(StateUpdate((set_op(["c"], 2),))) == (
        'data: {"type":"STATE_DELTA","delta":[{"op":"add","path":"/c","value":2}]}\n\n'
    )


async def test_a_lone_surrogate_is_escaped_on_the_fast_path_too() -> None:
    async def source() -> Any:
        for chunk in [TextDelta("\ud83d"), TextDelta("\ude00")]:
            yield chunk

    body = b"".join([part async for part in sb.encode(source(), protocol="ag-ui")])
    lines = frames(body)
    assert lines[3] == (
        '{"type":"TEXT_MESSAGE_CONTENT","messageId":"run_fixed-msg-1","delta":"\\ude00"}'.replace(
            "run_fixed", events(body)[0]["runId"]
        )
    )
    assert "".join(json.loads(line)["delta"] for line in lines[2:4]) == "\ud83d\ude00"


def test_protocol_metadata() -> None:
    protocol = sb.get_protocol("ag-ui")
    assert protocol.media_type == "text/event-stream"
    assert protocol.framing == "sse"
    assert protocol.headers == {}
    assert protocol.keepalive == b": keepalive\n\n"
    assert protocol.new_encoder is AGUIEncoder
    assert protocol.new_decoder is AGUIDecoder
    assert protocol.parse_request is parse_request


def test_message_ids_come_from_the_run_id() -> None:
    """(Purity itself, for every protocol: test_protocol_contract.py.)"""
    chunks = [*EVERY_KIND[:-1], ToolCallBegin("c9", "later")]
    first = encode_chunks(chunks, "ag-ui")
    other = encode_chunks(chunks, "ag-ui", input=fixed_input(run_id="run_other"))
    assert other != first
    assert other.replace(b"run_other", b"run_fixed") == first  # ids come from the run id


# -- the request ------------------------------------------------------------------------------

RUN_AGENT_INPUT: dict[str, Any] = {
    "threadId": "thread_1",
    "runId": "run_1",
    "parentRunId": "run_0",
    "protocolVersion": "1.0",
    "state": {"doc": {"title": "Draft"}},
    "messages": [
        {"id": "m1", "role": "system", "content": "Be brief."},
        {"id": "m2", "role": "user", "content": "Weather in Paris?"},
        {
            "id": "m3",
            "role": "assistant",
            "toolCalls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"id": "m4", "role": "tool", "toolCallId": "call_1", "content": '{"temp":21}'},
    ],
    "tools": [
        {
            "name": "confirm",
            "description": "Ask the user",
            "parameters": {"type": "object", "properties": {}},
        }
    ],
    "context": [{"description": "timezone", "value": "Europe/Paris"}],
    "forwardedProps": {"model": "small"},
}


def test_parse_request_reads_run_agent_input() -> None:
    run_input = parse_request(RUN_AGENT_INPUT)
    assert run_input.thread_id == "thread_1"
    assert run_input.run_id == "run_1"
    assert run_input.messages == [
        sb.Message([sb.TextPart("Be brief.")], "system", "m1"),
        sb.Message([sb.TextPart("Weather in Paris?")], "user", "m2"),
        sb.Message(
            [
                sb.ToolCallPart(
                    "call_1",
                    "get_weather",
                    '{"city":"Paris"}',
                    args_complete=True,
                    has_result=True,
                    result='{"temp":21}',
                )
            ],
            "assistant",
            "m3",
        ),
    ]
    assert run_input.raw["messages"] == RUN_AGENT_INPUT["messages"]
    assert run_input.tools == RUN_AGENT_INPUT["tools"]
    assert run_input.state == {"doc": {"title": "Draft"}}
    assert run_input.options == {
        "context": [{"description": "timezone", "value": "Europe/Paris"}],
        "forwardedProps": {"model": "small"},
        "parentRunId": "run_0",
    }
    assert run_input.raw is RUN_AGENT_INPUT
    assert sb.get_protocol("ag-ui").parse_request(RUN_AGENT_INPUT).run_id == "run_1"
    minimal = parse_request({"threadId": "t", "runId": "r", "messages": []})
    assert (minimal.tools, minimal.state, minimal.options) == ([], None, {})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "the ag-ui request body must be a JSON object"),
        ({"messages": {}}, "'messages' must be a JSON array"),
        ({"messages": ["hi"]}, r"messages\[0\] must be a JSON object"),
        ({"messages": [{"id": "m1", "content": "hi"}]}, r"messages\[0\] needs a string 'role'"),
        ({"messages": [{"role": "user", "content": "hi"}]}, r"messages\[0\] needs a string 'id'"),
        ({"tools": [{"description": "x"}]}, r"tools\[0\] needs a string 'name'"),
        ({"tools": "search"}, "'tools' must be a JSON array"),
        ({"context": [{"description": "tz"}]}, r"context\[0\] needs a string 'value'"),
        ({"threadId": 7}, "'threadId' must be a JSON string"),
        ({"runId": ["r"]}, "'runId' must be a JSON string"),
        ({"parentRunId": 1}, "'parentRunId' must be a JSON string"),
    ],
)
def test_parse_request_refuses_wrong_shapes(body: Any, message: str) -> None:
    with pytest.raises(sb.RequestError, match=message):
        parse_request(body)


async def test_parse_request_reads_what_the_official_client_sends() -> None:
    options = {
        "threadId": "thread_9",
        "initialState": {"count": 1},
        "initialMessages": [{"id": "u1", "role": "user", "content": "Hi"}],
        "runParameters": {
            "runId": "run_9",
            "tools": RUN_AGENT_INPUT["tools"],
            "context": RUN_AGENT_INPUT["context"],
            "forwardedProps": {"model": "small"},
        },
    }
    data = encode_chunks([TextDelta("Hello")], "ag-ui")
    got = await anyio.to_thread.run_sync(lambda: run_oracle("ag-ui.mjs", data, **options))
    run_input = parse_request(got["request"])
    assert (run_input.thread_id, run_input.run_id) == ("thread_9", "run_9")
    assert run_input.messages == [sb.Message([sb.TextPart("Hi")], "user", "u1")]
    assert run_input.state == {"count": 1}
    assert run_input.tools == RUN_AGENT_INPUT["tools"]
    assert run_input.options == {
        "context": RUN_AGENT_INPUT["context"],
        "forwardedProps": {"model": "small"},
    }


# -- the decoder ------------------------------------------------------------------------------


def decode_events(*items: dict[str, Any]) -> list[Any]:
    decoder = AGUIDecoder()
    out = [item for event in items for item in decoder.decode(None, json.dumps(event))]
    return out + decoder.close()


def test_decoder_reads_back_every_kind() -> None:
    decoded = decode(encode_chunks(EVERY_KIND, "ag-ui"), "ag-ui")
    assert decoded[-1] == StreamEnd("error", 2, 3)
    assert Error("careful") in decoded
    assert ToolResult("c1", {"ok": True}, [1], True) in decoded
    assert ToolCallBegin("c1", "search", "p") in decoded
    assert TextDelta("grouped", "p") in decoded
    assert ReasoningDelta("sub", "p") in decoded
    assert Source("s2", "https://example.com/doc", None, "p", "document") in decoded
    assert Annotations(({"x": 1},)) in decoded
    assert [d for d in decoded if isinstance(d, Data)] == [
        Data({"a": 1}),
        Data({"b": 2}, "weather"),
    ]
    assert accumulate(decoded).state == {"a": 1, "t": "xyz"}


def test_decoder_says_state_patches_as_state_operations() -> None:
    decoded = decode(encode_chunks(STATE_CHUNKS, "ag-ui"), "ag-ui")
    updates = [d.operations for d in decoded if isinstance(d, StateUpdate)]
    assert updates[1] == (append_op(["a/b", "c~d"], "y"),)  # a replace that extends: an append
    assert updates[3] == (set_op(["~1", "/", "1"], 2), set_op(["~1", "/", "0"], 0))
    state: Any = None
    for chunk in STATE_CHUNKS:
        assert isinstance(chunk, StateUpdate)
        for op in chunk.operations:
            state = apply_operation(state, json.loads(json.dumps(op)))
    assert accumulate(decoded).state == state == {"reset": 2}


def test_decoder_takes_other_producers_events() -> None:
    start = {"type": "RUN_STARTED", "threadId": "t", "runId": "r"}
    decoded = decode_events(
        start,
        {"type": "TEXT_MESSAGE_CHUNK", "messageId": "m", "delta": "Hi"},
        {"type": "REASONING_MESSAGE_CHUNK", "delta": "hm"},
        {"type": "TOOL_CALL_CHUNK", "toolCallId": "c1", "toolCallName": "f", "delta": '{"a"'},
        {"type": "TOOL_CALL_CHUNK", "delta": ":1}"},
        {"type": "TOOL_CALL_CHUNK", "toolCallId": "c2", "toolCallName": "g"},
        {"type": "TOOL_CALL_RESULT", "messageId": "x", "toolCallId": "c1", "content": "plain"},
        {"type": "STATE_SNAPSHOT", "snapshot": {"items": [1, 3], "gone": 1}},
        {
            "type": "STATE_DELTA",
            "delta": [
                {"op": "test", "path": "/gone", "value": 1},
                {"op": "remove", "path": "/gone"},
                {"op": "add", "path": "/items/1", "value": 2},  # an insertion
                {"op": "copy", "from": "/items", "path": "/copy"},
                {"op": "move", "from": "/copy", "path": "/moved"},
                {"op": "add", "path": "/items/-", "value": 4},
            ],
        },
        {"type": "STEP_STARTED", "stepName": "s"},
        {"type": "STEP_FINISHED", "stepName": "s"},
        {"type": "RAW", "event": {"x": 1}},
        {"type": "RUN_FINISHED", "threadId": "t", "runId": "r"},
    )
    message = accumulate(decoded)
    assert message.text == "Hi"
    assert message.reasoning == "hm"
    assert [(c.tool_call_id, c.tool_name, c.args, c.result) for c in message.tool_calls] == [
        ("c1", "f", {"a": 1}, "plain"),
        ("c2", "g", {}, None),
    ]
    assert message.state == {"items": [1, 2, 3, 4], "moved": [1, 2, 3]}
    assert message.steps == []  # a step finish without streambridge's usage carries none
    assert decoded[-1] == StreamEnd("tool-calls", None, None)  # c2 has no result


def test_decoder_refuses_what_is_not_ag_ui() -> None:
    decoder = AGUIDecoder()
    assert decoder.decode(None, "") == []  # an event without data
    with pytest.raises(ValueError, match="unknown AG-UI event type 'NOPE'"):
        decoder.decode(None, '{"type":"NOPE"}')
    with pytest.raises(ValueError, match="not an AG-UI event"):
        decoder.decode(None, "[1]")
    with pytest.raises(ValueError, match="patch test failed"):
        decode_events({"type": "STATE_DELTA", "delta": [{"op": "test", "path": "", "value": 1}]})
    with pytest.raises(ValueError, match="does not exist"):
        decode_events(
            {"type": "STATE_SNAPSHOT", "snapshot": {}},
            {"type": "STATE_DELTA", "delta": [{"op": "replace", "path": "/a", "value": 1}]},
        )
    with pytest.raises(ValueError, match="goes through a scalar"):
        decode_events({"type": "STATE_DELTA", "delta": [{"op": "add", "path": "/a", "value": 1}]})


def test_a_cut_stream_decodes_without_an_end() -> None:
    chunks: list[Chunk] = [TextDelta("Looking"), ToolCallBegin("c1", "s")]
    message = accumulate(decode(encode_chunks(chunks, "ag-ui", complete=False), "ag-ui"))
    assert (message.text, message.finish_reason, message.usage) == ("Looking", None, None)


@settings(max_examples=150, deadline=None)
@given(chunk_sequences())
def test_decode_inverts_encode(chunks: list[Chunk]) -> None:
    got, want = round_trip(chunks, "ag-ui", project)
    assert got == want


# -- the official client ----------------------------------------------------------------------


def oracle(data: bytes, **options: Any) -> dict[str, Any]:
    result: dict[str, Any] = run_oracle("ag-ui.mjs", data, **options)
    return result


def _metadata(item: dict[str, Any]) -> dict[str, Any]:
    mine: dict[str, Any] = item.get("metadata", {}).get("streambridge", {})
    return mine


def _tool_result(message: dict[str, Any] | None) -> Any:
    """A tool message's content read as the encoder wrote it: JSON text, or the string itself
    when ``metadata.streambridge.text`` says so."""
    if message is None:
        return None
    if _metadata(message).get("text"):
        return message["content"]
    return json.loads(message["content"])


def _usage(event: dict[str, Any] | None) -> dict[str, int] | None:
    if event is None or "usage" not in event:
        return None
    return {
        "input": sum(u.get("inputTokens", 0) for u in event["usage"]),
        "output": sum(u.get("outputTokens", 0) for u in event["usage"]),
    }


def client_summary(got: dict[str, Any]) -> dict[str, Any]:
    """What the official client ended up with, in the scenarios' plain form.

    Text, reasoning, tool calls and results come from ``agent.messages``; tool call arguments
    are the text the client holds, read like ``ToolCallPart.args`` (partial JSON while cut);
    sources, files and data from the ``CUSTOM`` events the client hands its subscribers, step
    usage from ``STEP_FINISHED`` metadata; the finish reason from the client's run outcome
    (``RUN_ERROR``, or pending tool calls), else the finish reason ``RUN_FINISHED`` carries.
    """
    messages = got["messages"]
    results = {m["toolCallId"]: m for m in messages if m["role"] == "tool"}
    customs = [e for e in got["events"] if e["type"] == "CUSTOM"]
    ends = [e for e in got["events"] if e["type"] in ("RUN_FINISHED", "RUN_ERROR")]
    finished, error = got["finished"], got["runError"]
    if error is not None:
        finish: str | None = "error"
    elif finished is None:
        finish = None
    elif finished["pendingToolCallIds"]:
        finish = "tool-calls"
    else:
        finish = _metadata(ends[-1]).get("finishReason", "stop")
    return {
        "text": "".join(m.get("content", "") for m in messages if m["role"] == "assistant"),
        "reasoning": "".join(m["content"] for m in messages if m["role"] == "reasoning"),
        "tool_calls": [
            {
                "id": call["id"],
                "name": call["function"]["name"],
                "args": ToolCallPart("", "", args_text=call["function"]["arguments"]).args,
                "result": _tool_result(results.get(call["id"])),
                "is_error": bool(_metadata(results.get(call["id"], {})).get("isError")),
            }
            for m in messages
            if m["role"] == "assistant"
            for call in m.get("toolCalls", [])
        ],
        "sources": [
            {"url": e["value"]["url"], "title": e["value"].get("title")}
            for e in customs
            if e["name"] == "source"
        ],
        "files": [
            {"data": e["value"]["data"], "mime_type": e["value"]["mimeType"]}
            for e in customs
            if e["name"] == "file"
        ],
        "data": [
            {"name": None if e["name"] == "data" else e["name"], "data": e["value"]}
            for e in customs
            if e["name"] not in ("source", "file", "annotations")
        ],
        "state": got["state"],
        "finish_reason": finish,
        "usage": _usage(ends[-1] if ends else None),
        "steps": [
            (meta["usage"]["inputTokens"], meta["usage"]["outputTokens"])
            for e in got["events"]
            if e["type"] == "STEP_FINISHED" and "usage" in (meta := _metadata(e))
        ],
        "errors": [error["message"]] if error is not None else [],
    }


def project(want: dict[str, Any]) -> dict[str, Any]:
    """What AG-UI keeps of a message.  Two things it cannot say: there is no "no state" (the
    client's state starts as ``{}`` when none was given, and a run without state writes leaves
    it so), and unnamed data goes as a ``CUSTOM`` event named ``"data"``, so data *named*
    ``"data"`` reads back as unnamed."""
    if want["state"] is None:
        want["state"] = {}
    want["data"] = [{**d, "name": None} if d["name"] == "data" else d for d in want["data"]]
    return want


@pytest.mark.parametrize("fragment", [False, True], ids=["whole", "fragments"])
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_official_client_accepts(name: str, fragment: bool) -> None:
    scenario = SCENARIOS[name]
    chunks, data = await scenario_bytes(scenario, "ag-ui")
    got = await anyio.to_thread.run_sync(
        lambda: oracle(data, fragment=fragment, seed=len(name), initialState=scenario.state)
    )
    assert client_summary(got) == project(scenario_summary(expected(scenario, chunks)))
    kinds = [e["type"] for e in got["events"]]
    assert kinds[0] == "RUN_STARTED"
    if name == "cancelled_mid_tool_call":
        # Cut short: the client's run just ends (runAgent resolves, nothing fails), with no
        # outcome, the text so far, and the call holding the argument text that arrived.
        assert kinds[-1] == "TOOL_CALL_ARGS"
        assert (got["finished"], got["runError"]) == (None, None)
        call = got["messages"][0]["toolCalls"][0]
        assert call["function"]["arguments"] == '{"query": "stre'
    elif name == "error_mid_stream":
        assert kinds[-2:] == ["TEXT_MESSAGE_END", "RUN_ERROR"]
        assert got["runError"]["message"] == sb.run.GENERIC_ERROR_MESSAGE
        assert got["finished"] is None
    else:
        assert kinds[-1] == "RUN_FINISHED"
        assert got["finished"]["outcome"] == "success"
    if name == "one_tool_call":
        # The text after the tool's result is a new assistant message after the tool message.
        assert [(m["role"], m.get("content")) for m in got["messages"]] == [
            ("assistant", None),
            ("tool", '{"temp":21}'),
            ("assistant", "It is 21°C."),
        ]
    if name == "parent_ids":
        (message, _) = got["messages"]
        assert message["content"] == "grouped"  # the call joined its parent's message
        assert [c["id"] for c in message["toolCalls"]] == ["call_g"]
        assert message["metadata"] == {"streambridge": {"parentId": "group"}}
    if name == "steps_with_usage":
        steps = [(e["type"], e["stepName"]) for e in got["events"] if "stepName" in e]
        assert steps == [
            ("STEP_STARTED", "step-1"),
            ("STEP_FINISHED", "step-1"),
            ("STEP_STARTED", "step-2"),
            ("STEP_FINISHED", "step-2"),
        ]
    assert "secret" not in json.dumps(got)


async def test_official_client_sees_tool_calls_waiting_for_results() -> None:
    async def run(c: sb.RunController) -> None:
        c.append_text("Please confirm.")
        c.add_tool_call("confirm", "call_ui").append_args_text('{"a": 1}')

    body = b"".join([part async for part in sb.encode(sb.create_run(run), protocol="ag-ui")])
    got = await anyio.to_thread.run_sync(lambda: oracle(body))
    assert got["finished"]["pendingToolCallIds"] == ["call_ui"]
    assert client_summary(got)["finish_reason"] == "tool-calls"
    (message,) = got["messages"]
    assert message["toolCalls"][0]["function"]["arguments"] == '{"a": 1}'
    assert message["content"] == "Please confirm."


async def test_official_client_accepts_keepalives() -> None:
    async def run(c: sb.RunController) -> None:
        c.append_text("a")
        await anyio.sleep(0.12)
        c.append_text("b")

    parts = [part async for part in sb.encode(sb.create_run(run), protocol="ag-ui", heartbeat=0.03)]
    assert b": keepalive\n\n" in parts
    body = b"".join(parts)
    for fragment in (False, True):
        got = await anyio.to_thread.run_sync(lambda f=fragment: oracle(body, fragment=f))
        assert client_summary(got)["text"] == "ab"


async def test_nan_ends_with_a_run_error_the_client_accepts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def run(controller: sb.RunController) -> None:
        controller.append_text("before")
        controller.add_data({"x": float("nan")})
        controller.append_text("after")

    body = b"".join([part async for part in sb.encode(sb.create_run(run), protocol="ag-ui")])
    kinds = [e["type"] for e in events(body)]
    assert kinds == [
        "RUN_STARTED",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "RUN_ERROR",
    ]
    assert events(body)[-1]["message"] == sb.run.GENERIC_ERROR_MESSAGE
    assert "could not be encoded" in caplog.text
    got = await anyio.to_thread.run_sync(lambda: oracle(body))
    assert client_summary(got)["text"] == "before"
    assert got["runError"]["message"] == sb.run.GENERIC_ERROR_MESSAGE


async def test_a_failed_chunk_does_not_count_usage_twice(caplog: pytest.LogCaptureFixture) -> None:
    async def run(controller: sb.RunController) -> None:
        controller.add_step_finish("stop", input_tokens=5, output_tokens=7)
        controller.add_data(object())

    body = b"".join([part async for part in sb.encode(sb.create_run(run), protocol="ag-ui")])
    assert events(body)[-1]["usage"] == [{"inputTokens": 5, "outputTokens": 7, "totalTokens": 12}]
    assert "could not be encoded" in caplog.text


def _nulls(value: Any, where: str) -> Iterator[str]:
    if value is None:
        yield where
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _nulls(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nulls(item, f"{where}[{index}]")


PAYLOADS = {"value", "snapshot", "delta"}  # JSON the run chose, where null is data


async def test_no_event_carries_null_for_an_optional_field() -> None:
    chunks: list[Chunk] = [
        StepStart(None),  # type: ignore[arg-type]  # a step without a message id
        TextDelta("x", parent_id=None),
        ToolCallBegin("c1", "t", parent_id=None),
        ToolResult("c1", None, artifact=None, is_error=False),
        Source("s", "https://example.com", title=None, parent_id=None),
        File("aGk=", "text/plain", parent_id=None),
        Data(None, name=None),
        StateUpdate((set_op(["a"], None),)),
        StateUpdate((set_op(["b"], None),)),
        StepFinish(),
    ]
    streams = [encode_chunks(chunks, "ag-ui"), encode_chunks([Error("e")], "ag-ui")]
    for scenario in SCENARIOS.values():
        streams.append((await scenario_bytes(scenario, "ag-ui"))[1])
    for data in streams:
        for event in events(data):
            fields = {k: v for k, v in event.items() if k not in PAYLOADS}
            if event["type"] == "STATE_DELTA":  # an operation's value is payload, not its path
                fields["delta"] = [
                    {k: v for k, v in op.items() if k != "value"} for op in event["delta"]
                ]
            assert list(_nulls(fields, event["type"])) == []
    checked = events(streams[0])
    assert {"type": "CUSTOM", "name": "data", "value": None} in checked
    got = await anyio.to_thread.run_sync(lambda: oracle(streams[0]))
    assert got["state"] == {"a": None, "b": None}


# -- state through the official client ----------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "x/y", "m~n", "~1", "", "0", "k"])


@st.composite
def state_writes(draw: st.DrawFn) -> tuple[Any, list[Chunk]]:
    """A state to start from and StateUpdate chunks that are valid against it: sets at new,
    existing, deep-missing and root paths, list appends and replacements, and text appends."""
    initial = draw(
        st.none()
        | st.just({})
        | st.dictionaries(KEYS, text | st.integers(-(2**53), 2**53), max_size=2)
    )
    state = json.loads(json.dumps(initial))
    chunks: list[Chunk] = []
    for _ in range(draw(st.integers(1, 6))):
        batch: list[StateOperation] = []
        for _ in range(draw(st.integers(1, 3))):
            op = _state_operation(draw, state)
            state = apply_operation(state, json.loads(json.dumps(op)))
            batch.append(op)
        chunks.append(StateUpdate(tuple(batch)))
    return initial, chunks


def _paths(value: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, [*path, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, [*path, str(index)])


def _state_operation(draw: st.DrawFn, state: Any) -> StateOperation:
    values = st.none() | st.booleans() | st.integers(-5, 5) | text | st.just([]) | st.just({})
    values = values | st.dictionaries(KEYS, text | st.integers(-(2**53), 2**53), max_size=2)
    found = list(_paths(state, []))
    strings = [path for path, value in found if isinstance(value, str)]
    containers = [(path, value) for path, value in found if isinstance(value, (dict, list))]
    kind = draw(st.sampled_from(["root", "set", "set", "set", "append"]))
    if kind == "append" and strings:
        return append_op(draw(st.sampled_from(strings)), draw(text))
    if kind == "root" or not containers:
        # the root, or (when it is None) a new key, which makes it an object
        path = [] if kind == "root" or state is not None else [draw(KEYS)]
        return set_op(path, draw(values))
    path, container = draw(st.sampled_from(containers))
    child: Any = None
    if isinstance(container, list):
        index = draw(st.integers(0, len(container)))
        key = str(index)
        child = container[index] if index < len(container) else None
    else:
        key = draw(KEYS | st.sampled_from(sorted(container) or ["a"]))
        child = container.get(key)
    deeper = draw(st.lists(KEYS, max_size=2)) if child is None else []  # missing containers
    return set_op([*path, key, *deeper], draw(values))


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(state_writes(), min_size=25, max_size=25))
def test_official_client_state_matches_streambridge(cases: list[tuple[Any, list[Chunk]]]) -> None:
    streams = []
    wants = []
    for initial, chunks in cases:
        data = encode_chunks(chunks, "ag-ui", input=fixed_input(state=initial))
        streams.append({"stream": data.decode(), "initialState": initial})
        wants.append(accumulate(chunks, state=initial).state)
        # streambridge's own client agrees, through the decoder's operations
        assert accumulate(decode(data, "ag-ui"), state=initial).state == wants[-1]
    got = oracle(json.dumps(streams).encode(), many=True)
    assert [g["state"] for g in got] == wants


async def test_the_first_snapshot_keeps_the_state_the_request_brought() -> None:
    async def run(c: sb.RunController) -> None:
        c.state["n"] = 1
        c.append_text("ok")
        c.state["n"] = 2

    request = {"threadId": "t", "runId": "r", "messages": [], "state": {"keep": [1]}}
    run_input = parse_request(request)
    stream = sb.create_run(run, input=run_input)
    body = b"".join([part async for part in sb.encode(stream, protocol="ag-ui")])
    state_events = [e for e in events(body) if e["type"].startswith("STATE")]
    assert state_events == [
        {"type": "STATE_SNAPSHOT", "snapshot": {"keep": [1], "n": 1}},
        {"type": "STATE_DELTA", "delta": [{"op": "replace", "path": "/n", "value": 2}]},
    ]
    got = await anyio.to_thread.run_sync(lambda: oracle(body, initialState={"keep": [1]}))
    assert got["state"] == {"keep": [1], "n": 2}


def test_writes_under_a_missing_path_give_the_same_state_in_the_client() -> None:
    data = encode_chunks(STATE_CHUNKS[:-2], "ag-ui")
    want = accumulate(STATE_CHUNKS[:-2]).state
    assert want["nil"] == {"k": "v"}
    assert want["new"] == {"deep": {"er": True}}
    assert oracle(data)["state"] == want


async def test_official_client_reads_the_every_kind_stream() -> None:
    for fragment in (False, True):
        got = await anyio.to_thread.run_sync(
            lambda f=fragment: oracle(encode_chunks(EVERY_KIND, "ag-ui"), fragment=f)
        )
        summary = client_summary(got)
        assert summary == project(scenario_summary(accumulate(EVERY_KIND, complete=True)))
        # The client puts a tool result right after the message holding its call.
        assert [m["role"] for m in got["messages"]] == [
            "assistant",
            "assistant",
            "tool",
            "reasoning",
            "reasoning",
            "assistant",
        ]


def test_data_named_data_reads_back_as_unnamed() -> None:
    # Why project() renames it: the chunk strategies' names can spell "data".
    got, want = round_trip([Data(1, "data"), Data(2)], "ag-ui", project)
    assert got == want
    assert got["data"] == [{"name": None, "data": 1}, {"name": None, "data": 2}]
