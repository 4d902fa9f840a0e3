"""The assistant-transport protocol: exact frames, the request body, the Python decoder, and the
official client's (assistant-stream 0.3.44, strict) verdict on real runs."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings

import streambridge as sb
from streambridge.chunks import (
    Annotations,
    Chunk,
    Data,
    Error,
    File,
    ReasoningDelta,
    Source,
    StateUpdate,
    StepFinish,
    StepStart,
    TextDelta,
    ToolCallArgsFinish,
    ToolCallBegin,
    ToolCallDelta,
    ToolResult,
)
from streambridge.client import accumulate, decode
from streambridge.protocols import StreamEnd
from streambridge.protocols.assistant_transport import AssistantTransportDecoder, parse_request
from streambridge.run import GENERIC_ERROR_MESSAGE
from support.assistant_ui_message import assert_scenario_parts, message_summary, unnamed_data_last
from support.chunk_strategies import chunk_sequences, round_trip
from support.oracle import run_oracle
from support.scenarios import SCENARIOS, Run, expected, fixed_input, produce, scenario_bytes
from support.scenarios import encode_chunks as encode_scenario_chunks
from support.scenarios import summary as scenario_summary

pytestmark = pytest.mark.anyio

PROTOCOL = "assistant-transport"
CUT_MESSAGE = "Stream ended abruptly without receiving [DONE] marker"


async def encode_body(chunks: list[Chunk]) -> str:
    async def source() -> AsyncIterator[Chunk]:
        for chunk in chunks:
            yield chunk

    parts = [part async for part in sb.encode(source(), protocol=PROTOCOL, input=fixed_input())]
    return b"".join(parts).decode()


def events(body: str) -> list[str]:
    """The ``data:`` values of an SSE body, in order (every event is one ``data:`` line)."""
    assert body.endswith("\n\n")
    frames = body[:-2].split("\n\n")
    assert all(frame.startswith("data: ") and "\n" not in frame for frame in frames), frames
    return [frame.removeprefix("data: ") for frame in frames]


async def oracle(body: bytes, *, fragment: bool = False, **options: Any) -> dict[str, Any]:
    return await anyio.to_thread.run_sync(
        lambda: run_oracle("assistant-transport.mjs", body, fragment=fragment, **options)
    )


# -- frames --------------------------------------------------------------------------------------


async def test_each_chunk_kind_has_its_frame() -> None:
    body = await encode_body(
        [
            TextDelta("Hi\n"),
            TextDelta("there"),
            TextDelta("grouped", parent_id="p"),
            ReasoningDelta("hmm"),
            ReasoningDelta("sub", parent_id="p"),
            ToolCallBegin("c1", "search", parent_id="p"),
            ToolCallDelta("c1", '{"q":1}'),
            ToolCallArgsFinish("c1"),
            ToolResult("c1", {"ok": True}, artifact=[1], is_error=True),
            Source("s1", "https://example.com", title="Example"),
            File("aGk=", "text/plain", parent_id="p"),
            Data({"a": 1}),
            Data({"b": 2}, name="weather"),
            Annotations(({"x": 1},)),
            StateUpdate(({"type": "set", "path": ["a"], "value": 1},)),
            StepStart("m1"),
            StepFinish("stop", 2, 3),
            Error("careful"),
        ]
    )
    assert events(body) == [
        '{"type":"part-start","path":[],"part":{"type":"text"}}',
        '{"type":"text-delta","path":[0],"textDelta":"Hi\\n"}',
        '{"type":"text-delta","path":[0],"textDelta":"there"}',
        '{"type":"part-finish","path":[0]}',
        '{"type":"part-start","path":[],"part":{"type":"text","parentId":"p"}}',
        '{"type":"text-delta","path":[1],"textDelta":"grouped"}',
        '{"type":"part-finish","path":[1]}',
        '{"type":"part-start","path":[],"part":{"type":"reasoning"}}',
        '{"type":"text-delta","path":[2],"textDelta":"hmm"}',
        '{"type":"part-finish","path":[2]}',
        '{"type":"part-start","path":[],"part":{"type":"reasoning","parentId":"p"}}',
        '{"type":"text-delta","path":[3],"textDelta":"sub"}',
        '{"type":"part-finish","path":[3]}',
        '{"type":"part-start","path":[],"part":'
        '{"type":"tool-call","toolCallId":"c1","toolName":"search","parentId":"p"}}',
        '{"type":"text-delta","path":[4],"textDelta":"{\\"q\\":1}"}',
        '{"type":"tool-call-args-text-finish","path":[4]}',
        '{"type":"result","path":[4],"result":{"ok":true},"isError":true,"artifact":[1]}',
        '{"type":"part-finish","path":[4]}',
        '{"type":"part-start","path":[],"part":'
        '{"type":"source","sourceType":"url","id":"s1","url":"https://example.com",'
        '"title":"Example"}}',
        '{"type":"part-finish","path":[5]}',
        '{"type":"part-start","path":[],"part":'
        '{"type":"file","data":"aGk=","mimeType":"text/plain","parentId":"p"}}',
        '{"type":"part-finish","path":[6]}',
        '{"type":"data","data":[{"a":1}]}',
        '{"type":"part-start","path":[],"part":{"type":"data","name":"weather","data":{"b":2}}}',
        '{"type":"part-finish","path":[7]}',
        '{"type":"annotations","annotations":[{"x":1}]}',
        '{"type":"update-state","operations":[{"type":"set","path":["a"],"value":1}]}',
        '{"type":"step-start","messageId":"m1"}',
        '{"type":"step-finish","finishReason":"stop","usage":{"inputTokens":2,"outputTokens":3},'
        '"isContinued":false}',
        '{"type":"error","error":"careful"}',
        '{"type":"message-finish","finishReason":"error",'
        '"usage":{"inputTokens":2,"outputTokens":3}}',
        "[DONE]",
    ]
    # The official client takes every one of these frames without a warning.
    got = await oracle(body.encode(), initialState={})
    message = got["message"]
    assert [p["type"] for p in message["parts"]] == [
        "text",
        "text",
        "reasoning",
        "reasoning",
        "tool-call",
        "source",
        "file",
        "data",
    ]
    assert all(p["status"]["type"] == "complete" for p in message["parts"])
    assert message["metadata"]["unstable_annotations"] == [{"x": 1}]
    assert message["metadata"]["unstable_data"] == [{"a": 1}]
    assert message["metadata"]["unstable_state"] == {"a": 1}
    assert message["status"]["error"]["message"] == "careful"


async def test_a_step_start_without_id_has_no_message_id() -> None:
    assert events(await encode_body([StepStart(None)]))[0] == '{"type":"step-start"}'  # type: ignore[arg-type]


async def test_a_call_without_args_gets_the_empty_object_and_a_frontend_call_is_closed() -> None:
    body = await encode_body([ToolCallBegin("c1", "now"), StepFinish("tool-calls")])
    assert events(body) == [
        '{"type":"part-start","path":[],"part":{"type":"tool-call","toolCallId":"c1","toolName":"now"}}',
        '{"type":"text-delta","path":[0],"textDelta":"{}"}',
        '{"type":"tool-call-args-text-finish","path":[0]}',
        '{"type":"step-finish","finishReason":"tool-calls","usage":{"inputTokens":0,"outputTokens":0},'
        '"isContinued":false}',
        '{"type":"part-finish","path":[0]}',
        '{"type":"message-finish","finishReason":"tool-calls",'
        '"usage":{"inputTokens":0,"outputTokens":0}}',
        "[DONE]",
    ]


async def test_an_error_closes_what_is_open_and_the_stream_still_ends_with_done() -> None:
    body = await encode_body(
        [
            ToolCallBegin("c1", "t"),
            ToolCallDelta("c1", '{"a":1}'),
            TextDelta("while the call streams"),
            Error("boom"),
        ]
    )
    assert events(body)[2:] == [
        '{"type":"part-start","path":[],"part":{"type":"text"}}',
        '{"type":"text-delta","path":[1],"textDelta":"while the call streams"}',
        '{"type":"part-finish","path":[1]}',
        '{"type":"tool-call-args-text-finish","path":[0]}',
        '{"type":"error","error":"boom"}',
        '{"type":"part-finish","path":[0]}',
        '{"type":"message-finish","finishReason":"error","usage":{"inputTokens":0,"outputTokens":0}}',
        "[DONE]",
    ]
    message = (await oracle(body.encode()))["message"]
    assert message["status"] == {
        "type": "incomplete",
        "reason": "error",
        "error": {"code": "unknown", "message": "boom"},
    }
    assert message["parts"][0]["args"] == {"a": 1}
    assert message["parts"][0]["state"] == "call"


async def test_text_keeps_its_part_while_tool_arguments_stream() -> None:
    body = await encode_body(
        [
            ToolCallBegin("c1", "t"),
            TextDelta("a"),
            ToolCallDelta("c1", "{}"),
            TextDelta("b"),
            ToolResult("c1", None),
        ]
    )
    assert events(body)[1:6] == [
        '{"type":"part-start","path":[],"part":{"type":"text"}}',
        '{"type":"text-delta","path":[1],"textDelta":"a"}',
        '{"type":"text-delta","path":[0],"textDelta":"{}"}',
        '{"type":"text-delta","path":[1],"textDelta":"b"}',
        '{"type":"tool-call-args-text-finish","path":[0]}',
    ]


async def test_chunks_for_calls_the_stream_never_started_send_nothing() -> None:
    body = await encode_body(
        [
            ToolCallDelta("ghost", "{}"),
            ToolCallArgsFinish("ghost"),
            ToolResult("ghost", 1),
        ]
    )
    assert events(body) == [
        '{"type":"message-finish","finishReason":"stop","usage":{"inputTokens":0,"outputTokens":0}}',
        "[DONE]",
    ]


@pytest.mark.parametrize("name", [None, "named"])
async def test_nan_is_refused_and_the_stream_ends_with_an_error_the_client_accepts(
    name: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    async def run(controller: sb.RunController) -> None:
        controller.append_text("before")
        controller.add_data({"x": float("nan")}, name=name)
        controller.append_text("after")

    body = b"".join([part async for part in sb.encode(sb.create_run(run), protocol=PROTOCOL)])
    assert events(body.decode()) == [
        '{"type":"part-start","path":[],"part":{"type":"text"}}',
        '{"type":"text-delta","path":[0],"textDelta":"before"}',
        '{"type":"part-finish","path":[0]}',
        '{"type":"error","error":' + json.dumps(GENERIC_ERROR_MESSAGE) + "}",
        '{"type":"message-finish","finishReason":"error","usage":{"inputTokens":0,"outputTokens":0}}',
        "[DONE]",
    ]
    assert "could not be encoded" in caplog.text
    message = (await oracle(body, fragment=True))["message"]
    assert message["status"]["reason"] == "error"
    assert message["status"]["error"]["message"] == GENERIC_ERROR_MESSAGE
    assert [(p["text"], p["status"]["type"]) for p in message["parts"]] == [("before", "complete")]


async def test_a_result_that_fails_to_encode_leaves_the_call_waiting(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def run(controller: sb.RunController) -> None:
        controller.add_step_finish("stop", input_tokens=5, output_tokens=7)
        controller.add_tool_call("t", "c1").set_response(float("inf"))

    body = b"".join([part async for part in sb.encode(sb.create_run(run), protocol=PROTOCOL)])
    frames = events(body.decode())
    assert frames[-5:] == [
        '{"type":"tool-call-args-text-finish","path":[0]}',
        '{"type":"error","error":' + json.dumps(GENERIC_ERROR_MESSAGE) + "}",
        '{"type":"part-finish","path":[0]}',
        '{"type":"message-finish","finishReason":"error","usage":{"inputTokens":5,"outputTokens":7}}',
        "[DONE]",
    ]
    assert not any('"type":"result"' in frame for frame in frames)
    assert (await oracle(body))["message"]["status"]["reason"] == "error"


async def _chunks(chunks: list[Chunk]) -> AsyncIterator[Chunk]:
    for chunk in chunks:
        yield chunk


async def test_protocol_metadata() -> None:
    protocol = sb.get_protocol(PROTOCOL)
    assert PROTOCOL in sb.protocol_names()
    assert protocol.media_type == "text/event-stream"
    assert protocol.framing == "sse"
    assert protocol.headers == {}
    assert protocol.keepalive == b": keepalive\n\n"


async def test_heartbeat_keepalives_are_accepted_by_the_official_client() -> None:
    async def run(c: sb.RunController) -> None:
        c.append_text("a")
        await anyio.sleep(0.12)
        c.append_text("b")

    parts = [
        part async for part in sb.encode(sb.create_run(run), protocol=PROTOCOL, heartbeat=0.03)
    ]
    assert parts.count(b": keepalive\n\n") >= 2
    body = b"".join(parts)
    for fragment in (False, True):
        got = await oracle(body, fragment=fragment)
        assert [p["text"] for p in got["message"]["parts"]] == ["ab"]
        assert got["message"]["status"] == {"type": "complete", "reason": "stop"}
    assert accumulate(decode(body, PROTOCOL)).text == "ab"


async def test_the_bytes_do_not_depend_on_the_input() -> None:
    """This protocol carries no ids or times: the bytes depend on the chunks only.  (Purity
    itself, for every protocol: test_protocol_contract.py.)"""
    for scenario in SCENARIOS.values():
        chunks = await produce(scenario)
        first = encode_scenario_chunks(chunks, PROTOCOL, complete=scenario.complete)
        other_input = fixed_input(run_id="run_other", thread_id="t2", created_at=1)
        other = encode_scenario_chunks(
            chunks, PROTOCOL, complete=scenario.complete, input=other_input
        )
        assert first == other, scenario.name


# -- the request ---------------------------------------------------------------------------------


def realistic_body() -> dict[str, Any]:
    """What useAssistantTransportRuntime POSTs after a user message and a frontend tool result."""
    return {
        "commands": [
            {
                "type": "add-tool-result",
                "toolCallId": "call_1",
                "toolName": "get_weather",
                "result": {"temp": 21},
                "isError": False,
                "artifact": {"chart": "..."},
            },
            {
                "type": "add-message",
                "message": {
                    "role": "user",
                    "parts": [
                        {"type": "text", "text": "And tomorrow?"},
                        {"type": "image", "image": "data:image/png;base64,aGk="},
                    ],
                },
                "parentId": "msg_1",
                "sourceId": None,
            },
            {"type": "my-app-command", "payload": 1},
        ],
        "state": {"messages": [{"role": "user", "parts": [{"type": "text", "text": "Hi"}]}]},
        "system": "Be brief.",
        "tools": {
            "get_weather": {
                "description": "The weather in a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        },
        "threadId": "thread_1",
        "parentId": "msg_1",
        "callSettings": {"temperature": 0.2},
        "config": {"modelName": "gpt-x"},
        "temperature": 0.2,
        "modelName": "gpt-x",
    }


async def test_parse_request_reads_the_runtime_body() -> None:
    body = realistic_body()
    run_input = sb.get_protocol(PROTOCOL).parse_request(body)
    # The result's call is in the application's state, not in this request: a tool message.
    assert run_input.messages == [
        sb.Message(
            [sb.ToolResultPart("call_1", {"temp": 21}, "get_weather", artifact={"chart": "..."})],
            "tool",
        ),
        sb.Message(
            [sb.TextPart("And tomorrow?"), sb.FilePart("aGk=", "image/png")],
            "user",
        ),
    ]
    assert run_input.tools == [
        {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    assert run_input.state == body["state"]
    assert run_input.thread_id == "thread_1"
    assert run_input.run_id is None
    assert run_input.system == "Be brief."
    assert run_input.options == {
        "commands": body["commands"],
        "callSettings": {"temperature": 0.2},
        "config": {"modelName": "gpt-x"},
        "parentId": "msg_1",
    }
    assert run_input.raw is body


async def test_parse_request_takes_a_resume_body_and_nulls() -> None:
    run_input = parse_request(
        {
            "commands": [],
            "state": None,
            "system": None,
            "tools": None,
            "threadId": None,
            "runId": "r1",
        }
    )
    assert (run_input.messages, run_input.tools, run_input.state) == ([], [], None)
    assert (run_input.thread_id, run_input.run_id, run_input.system) == (None, "r1", None)
    assert run_input.options == {"commands": []}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "the assistant-transport request body must be a JSON object"),
        ({"messages": []}, "needs 'commands'"),
        ({"commands": {"type": "add-message"}}, "'commands' must be a JSON array"),
        ({"commands": ["hi"]}, r"commands\[0\] must be a JSON object with a string 'type'"),
        ({"commands": [{"message": {}}]}, r"commands\[0\] must be a JSON object with a string"),
        (
            {"commands": [{"type": "add-message"}]},
            r"commands\[0\] \(add-message\) needs a 'message'",
        ),
        (
            {"commands": [{"type": "add-message", "message": {"role": "user", "parts": "Hi"}}]},
            r"'message.parts' must be a JSON array",
        ),
        (
            {"commands": [{"type": "add-message", "message": {"parts": []}}]},
            r"needs a 'message' object with a 'role'",
        ),
        (
            {
                "commands": [
                    {"type": "add-message", "message": {"role": "user", "parts": []}},
                    {"type": "add-tool-result", "result": 1},
                ]
            },
            r"commands\[1\] \(add-tool-result\) needs a string 'toolCallId'",
        ),
        (
            {"commands": [{"type": "add-tool-result", "toolCallId": "c", "isError": "no"}]},
            r"'isError' must be a JSON boolean",
        ),
        ({"commands": [], "tools": "search"}, "'tools' must be a JSON object or array"),
        ({"commands": [], "threadId": 7}, "'threadId' must be a JSON string"),
        ({"commands": [], "runId": 7}, "'runId' must be a JSON string"),
        ({"commands": [], "system": ["a"]}, "'system' must be a JSON string"),
    ],
)
async def test_parse_request_refuses_wrong_shapes(body: Any, message: str) -> None:
    with pytest.raises(sb.RequestError, match=message):
        parse_request(body)


# -- the Python decoder --------------------------------------------------------------------------


def fragments(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    pieces, i = [], 0
    while i < len(data):
        size = rng.randint(1, 7)
        pieces.append(data[i : i + size])
        i += size
    return pieces


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_the_python_client_reads_every_scenario(name: str) -> None:
    scenario = SCENARIOS[name]
    chunks, body = await scenario_bytes(scenario, PROTOCOL)
    want = scenario_summary(expected(scenario, chunks))
    for data in (body, fragments(body, seed=len(name))):
        items = decode(data, PROTOCOL)
        got = scenario_summary(accumulate(items, state=scenario.state))
        assert got == want
        ends = [item for item in items if isinstance(item, StreamEnd)]
        assert len(ends) == (1 if scenario.complete else 0)


async def test_the_decoder_reads_nothing_from_keepalives_done_and_what_follows_done() -> None:
    decoder = AssistantTransportDecoder()
    assert decoder.decode(None, "") == []
    assert decoder.decode(None, '{"type":"part-start","part":{"type":"text"}}') == []
    assert decoder.decode(None, '{"type":"text-delta","path":[0],"textDelta":"a"}') == [
        TextDelta("a")
    ]
    assert decoder.decode(None, "[DONE]") == []
    assert decoder.decode(None, '{"type":"text-delta","path":[0],"textDelta":"b"}') == []
    assert decoder.close() == []
    data = b': keepalive\n\ndata: {"type":"error","error":"x"}\n\n: keepalive\n\ndata: [DONE]\n\n'
    assert decode(data, PROTOCOL) == [Error("x")]


async def test_a_part_of_an_unknown_type_keeps_its_index() -> None:
    decoder = AssistantTransportDecoder()
    assert decoder.decode(None, '{"type":"part-start","path":[],"part":{"type":"image"}}') == []
    decoder.decode(None, '{"type":"part-start","path":[],"part":{"type":"reasoning"}}')
    got = decoder.decode(None, '{"type":"text-delta","path":[1],"textDelta":"r"}')
    assert got == [ReasoningDelta("r")]


@pytest.mark.parametrize(
    ("event", "data", "message"),
    [
        ("custom", '{"type":"error","error":"x"}', "no named SSE events"),
        (None, "[1]", "not an assistant-transport event"),
        (None, '{"type":"tool-call-begin"}', "unknown assistant-transport event type"),
        (None, '{"type":["text-delta"]}', "unknown assistant-transport event type"),
        (None, '{"type":"text-delta","path":[0],"textDelta":"a"}', "no part at path"),
        (None, '{"type":"part-finish","path":[]}', "no part at path"),
        (None, '{"type":"part-finish"}', "malformed"),
        (None, '{"type":"step-finish"}', "malformed"),
        (None, '{"type":"part-start"}', "malformed"),
        (None, "{not json", "Expecting property name"),
    ],
)
async def test_the_decoder_refuses_what_the_protocol_does_not_allow(
    event: str | None, data: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        AssistantTransportDecoder().decode(event, data)


async def test_the_decoder_checks_what_a_path_points_at() -> None:
    decoder = AssistantTransportDecoder()
    decoder.decode(None, '{"type":"part-start","path":[],"part":{"type":"text"}}')
    with pytest.raises(ValueError, match="not a tool call"):
        decoder.decode(None, '{"type":"result","path":[0],"result":1}')
    with pytest.raises(ValueError, match="malformed"):
        decoder.decode(None, '{"type":"text-delta","path":[0],"textDelta":1}')
    decoder.decode(
        None, '{"type":"part-start","path":[],"part":{"type":"file","data":"","mimeType":"a/b"}}'
    )
    with pytest.raises(ValueError, match="text-delta for a 'file' part"):
        decoder.decode(None, '{"type":"text-delta","path":[1],"textDelta":"x"}')


@settings(max_examples=150, deadline=None)
@given(chunk_sequences())
def test_decode_inverts_encode(chunks: list[Chunk]) -> None:
    # The Python decoder loses nothing the chunks say, so nothing is projected away.
    got, want = round_trip(chunks, PROTOCOL, lambda summary: summary)
    assert got == want


# -- the official client -------------------------------------------------------------------------


def client_summary(output: dict[str, Any]) -> dict[str, Any]:
    """What the official client built, in the scenarios' plain form (see scenarios.summary).

    The message is the AssistantMessageAccumulator's; the usage is that of the message-finish
    chunk the official decoder handed it (the accumulator keeps no total usage of its own).
    """
    message = output["message"]
    status = message["status"]
    finish = {
        "complete": status.get("reason"),
        "requires-action": "tool-calls",
        "incomplete": status.get("reason"),
    }.get(status["type"])  # "running": the stream never said how it ended
    finishes = [c for c in output["chunks"] if c["type"] == "message-finish"]
    usage = finishes[-1]["usage"] if finishes else None
    return {
        **message_summary(message),
        "finish_reason": finish,
        "usage": None
        if usage is None
        else {"input": usage["inputTokens"], "output": usage["outputTokens"]},
    }


def project(want: dict[str, Any]) -> dict[str, Any]:
    """What assistant-ui's message can hold, in its order: unnamed data is message metadata
    (``unstable_data``), apart from the named data parts, so it comes after them here.
    Nothing else is dropped: finish reason, usage, steps and errors all reach the client."""
    return unnamed_data_last(want)


EXPECTED: dict[str, dict[str, Any]] = {
    "plain_text": {"text": "Hello, wörld 😀\nline two\r\n“quotes” \\ \u2028 end"},
    "one_tool_call": {
        "tool_calls": [
            {
                "id": "call_1",
                "name": "get_weather",
                "args": {"city": "Paris", "days": [1, 2]},
                "result": {"temp": 21},
                "is_error": False,
            }
        ],
        "text": "It is 21°C.",
    },
    "tool_error": {
        "tool_calls": [
            {
                "id": "call_err",
                "name": "fails",
                "args": {},
                "result": {"message": "boom"},
                "is_error": True,
            }
        ]
    },
    "nested_state": {
        "state": {"doc": {"title": "Draft", "sections": [{"body": "xyz"}, {"body": ""}]}}
    },
    "steps_with_usage": {"usage": {"input": 30, "output": 12}, "steps": [(10, 5), (20, 7)]},
    "error_mid_stream": {"text": "partial", "errors": [GENERIC_ERROR_MESSAGE]},
}


@pytest.mark.parametrize("fragment", [False, True], ids=["whole", "fragments"])
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_official_client_accepts(name: str, fragment: bool) -> None:
    scenario = SCENARIOS[name]
    chunks, body = await scenario_bytes(scenario, PROTOCOL)
    # A cut stream has no [DONE]: the strict decoder throws at its end (see the cut option of
    # oracles/assistant-transport.mjs), which useAssistantTransportRuntime reports as an error.
    output = await oracle(
        body, fragment=fragment, initialState=scenario.state, cut=not scenario.complete
    )
    message = output["message"]
    got = client_summary(output)
    for key, value in EXPECTED.get(name, {}).items():
        assert got[key] == value, key
    assert got == project(scenario_summary(expected(scenario, chunks)))
    assert "secret" not in json.dumps(output)
    assert b"secret" not in body
    if scenario.complete:
        assert output["thrown"] is None
        # Every part the stream opened was finished.
        assert all(p["status"]["type"] == "complete" for p in message["parts"])
    else:
        assert output["thrown"] == CUT_MESSAGE
        assert message["status"] == {"type": "running"}
        call = message["parts"][-1]
        assert (call["state"], call["args"]) == ("partial-call", {"query": "stre"})
    if name == "error_mid_stream":
        assert message["status"] == {
            "type": "incomplete",
            "reason": "error",
            "error": {"code": "unknown", "message": GENERIC_ERROR_MESSAGE},
        }
    elif scenario.complete:
        assert message["status"] == {"type": "complete", "reason": "stop"}
    assert_scenario_parts(name, message)
    if name == "steps_with_usage":
        steps = message["metadata"]["steps"]
        assert [(s["messageId"], s["finishReason"], s["isContinued"]) for s in steps] == [
            ("step-1", "tool-calls", True),
            ("step-2", "stop", False),
        ]


async def test_official_client_requires_action_when_tool_calls_wait_for_results() -> None:
    async def run(c: sb.RunController) -> None:
        c.add_tool_call("frontend_tool", "call_ui").append_args_text('{"a": 1}')

    body = await _run_body(run)
    message = (await oracle(body, initialState={}))["message"]
    assert message["status"] == {"type": "requires-action", "reason": "tool-calls"}
    part = message["parts"][0]
    assert (part["state"], part["args"], "result" in part) == ("call", {"a": 1}, False)


async def test_official_client_sees_a_length_finish() -> None:
    async def run(c: sb.RunController) -> None:
        c.append_text("trunc")
        c.add_step_finish("length", input_tokens=1, output_tokens=2)

    output = await oracle(await _run_body(run))
    assert output["message"]["status"] == {"type": "incomplete", "reason": "length"}
    assert client_summary(output)["usage"] == {"input": 1, "output": 2}


async def _run_body(run: Run) -> bytes:
    return b"".join([part async for part in sb.encode(sb.create_run(run), protocol=PROTOCOL)])
