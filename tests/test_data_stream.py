"""The data-stream protocol: exact frames, and the official client's verdict on real runs."""

from __future__ import annotations

import json
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
from support.assistant_ui_message import assert_scenario_parts, message_summary, unnamed_data_last
from support.chunk_strategies import chunk_sequences, round_trip
from support.oracle import run_oracle
from support.scenarios import SCENARIOS, Run, expected, scenario_bytes
from support.scenarios import summary as scenario_summary

pytestmark = pytest.mark.anyio


async def encode_chunks(chunks: list[Chunk]) -> list[str]:
    async def source() -> Any:
        for chunk in chunks:
            yield chunk

    body = b"".join([part async for part in sb.encode(source(), protocol="data-stream")])
    return body.decode().splitlines()


async def test_each_chunk_kind_has_its_frame() -> None:
    lines = await encode_chunks(
        [
            TextDelta("Hi\n"),
            TextDelta("grouped", parent_id="p"),
            ReasoningDelta("hmm"),
            ReasoningDelta("sub", parent_id="p"),
            ToolCallBegin("c1", "search", parent_id="p"),
            ToolCallDelta("c1", '{"q":1}'),
            ToolCallArgsFinish("c1"),
            ToolResult("c1", {"ok": True}, artifact=[1], is_error=True),
            Source("s1", "https://example.com", title="Example"),
            File("aGk=", "text/plain"),
            Data({"a": 1}),
            Data({"b": 2}, name="weather"),
            Annotations(({"x": 1},)),
            StateUpdate(({"type": "set", "path": ["a"], "value": 1},)),
            StepStart("m1"),
            StepFinish("stop", 2, 3),
            Error("careful"),
        ]
    )
    assert lines == [
        '0:"Hi\\n"',
        'aui-text-delta:{"textDelta":"grouped","parentId":"p"}',
        'g:"hmm"',
        'aui-reasoning-delta:{"reasoningDelta":"sub","parentId":"p"}',
        'b:{"toolCallId":"c1","toolName":"search","parentId":"p"}',
        'c:{"toolCallId":"c1","argsTextDelta":"{\\"q\\":1}"}',
        'c:{"toolCallId":"c1","argsTextDelta":"","isFinal":true}',
        'a:{"toolCallId":"c1","result":{"ok":true},"artifact":[1],"isError":true}',
        'h:{"sourceType":"url","id":"s1","url":"https://example.com","title":"Example"}',
        'k:{"data":"aGk=","mimeType":"text/plain"}',
        '2:[{"a":1}]',
        'aui-data:{"name":"weather","data":{"b":2}}',
        '8:[{"x":1}]',
        'aui-state:[{"type":"set","path":["a"],"value":1}]',
        'f:{"messageId":"m1"}',
        'e:{"finishReason":"stop","usage":{"inputTokens":2,"outputTokens":3},"isContinued":false}',
        '3:"careful"',
        'd:{"finishReason":"error","usage":{"inputTokens":2,"outputTokens":3}}',
    ]


async def test_a_call_without_args_gets_the_empty_object_and_a_final_frame() -> None:
    lines = await encode_chunks([ToolCallBegin("c1", "now"), StepFinish("tool-calls")])
    assert lines[1] == 'c:{"toolCallId":"c1","argsTextDelta":"{}","isFinal":true}'
    assert lines[-1].startswith('d:{"finishReason":"tool-calls"')


async def test_nan_is_refused_and_the_stream_still_ends_cleanly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def run(controller: sb.RunController) -> None:
        controller.append_text("before")
        controller.add_data({"x": float("nan")})
        controller.append_text("after")

    body = b"".join([part async for part in sb.encode(sb.create_run(run))]).decode()
    assert body.splitlines() == [
        '0:"before"',
        f"3:{json.dumps(sb.run.GENERIC_ERROR_MESSAGE)}",
        'd:{"finishReason":"error","usage":{"inputTokens":0,"outputTokens":0}}',
    ]
    assert "could not be encoded" in caplog.text


async def test_a_failed_chunk_does_not_count_usage_twice(caplog: pytest.LogCaptureFixture) -> None:
    async def run(controller: sb.RunController) -> None:
        controller.add_step_finish("stop", input_tokens=5, output_tokens=7)
        controller.add_data(object())

    body = b"".join([part async for part in sb.encode(sb.create_run(run))]).decode()
    assert body.splitlines()[-1] == (
        'd:{"finishReason":"error","usage":{"inputTokens":5,"outputTokens":7}}'
    )


async def test_a_lone_surrogate_is_escaped_not_fatal() -> None:
    lines = await encode_chunks([TextDelta("\ud83d"), TextDelta("\ude00")])
    assert lines[:2] == ['0:"\\ud83d"', '0:"\\ude00"']
    assert "".join(json.loads(line[2:]) for line in lines[:2]) == "\ud83d\ude00"


async def test_protocol_metadata() -> None:
    protocol = sb.get_protocol("data-stream")
    assert protocol.media_type == "text/plain; charset=utf-8"
    assert protocol.headers == {"x-vercel-ai-data-stream": "v1"}
    assert protocol.keepalive == b"\n"
    with pytest.raises(
        ValueError, match=r"unknown protocol 'nope'; known protocols: .*'data-stream'"
    ):
        sb.encode(sb.create_run(_checkpoint), protocol="nope")


async def _checkpoint(controller: sb.RunController) -> None:
    await anyio.lowlevel.checkpoint()


async def test_heartbeat_sends_keepalive_lines_while_idle() -> None:
    async def run(controller: sb.RunController) -> None:
        controller.append_text("a")
        await anyio.sleep(0.25)
        controller.append_text("b")

    parts = [part async for part in sb.encode(sb.create_run(run), heartbeat=0.05)]
    assert parts[0] == b'0:"a"\n'
    assert parts.count(b"\n") >= 2
    assert parts[-2:] == [
        b'0:"b"\n',
        b'd:{"finishReason":"stop","usage":{"inputTokens":0,"outputTokens":0}}\n',
    ]


# -- the official client ------------------------------------------------------------------------


async def decoded(run: Run, *, fragment: bool) -> dict[str, Any]:
    body = b"".join([part async for part in sb.encode(sb.create_run(run, state={}))])
    return await oracle_message(body, fragment=fragment, state={})


async def oracle_message(body: bytes, *, fragment: bool, state: Any) -> dict[str, Any]:
    return await anyio.to_thread.run_sync(
        lambda: run_oracle("data-stream.mjs", body, fragment=fragment, initialState=state)
    )


def client_summary(message: dict[str, Any]) -> dict[str, Any]:
    """The official client's message in the scenarios' plain form (see scenarios.summary)."""
    status = message["status"]
    finish = {"complete": "stop", "requires-action": "tool-calls"}.get(status["type"])
    if status["type"] == "incomplete":
        finish = status["reason"]
    return {**message_summary(message), "finish_reason": finish}


def project(want: dict[str, Any]) -> dict[str, Any]:
    """What assistant-ui's message keeps: usage per step, not the total; the finish reason as
    its status (a stop, a wait for tools, or an error); unnamed data after named data."""
    del want["usage"]
    if want["finish_reason"] not in (None, "tool-calls", "error"):
        want["finish_reason"] = "stop"
    return unnamed_data_last(want)


def summary(message: dict[str, Any]) -> dict[str, Any]:
    """What the client understood, in a form the scenarios can state."""
    text = "".join(p["text"] for p in message["parts"] if p["type"] == "text")
    reasoning = "".join(p["text"] for p in message["parts"] if p["type"] == "reasoning")
    calls = {
        p["toolCallId"]: (p["toolName"], p["args"], p.get("result"), p.get("isError", False))
        for p in message["parts"]
        if p["type"] == "tool-call"
    }
    return {
        "text": text,
        "reasoning": reasoning,
        "calls": calls,
        "status": message["status"],
        "state": message["metadata"]["unstable_state"],
    }


EXPECTED: dict[str, dict[str, Any]] = {
    "plain_text": {"text": "Hello, wörld 😀\nline two\r\n“quotes” \\ \u2028 end"},
    "reasoning_then_text": {"reasoning": "Let me think...", "text": "Answer"},
    "one_tool_call": {
        "calls": {
            "call_1": ("get_weather", {"city": "Paris", "days": [1, 2]}, {"temp": 21}, False)
        },
        "text": "It is 21°C.",
    },
    "interleaved_tool_calls": {
        "calls": {"call_a": ("a", {"x": 1}, "A", False), "call_b": ("b", {"y": 2}, "B", False)}
    },
    "tool_error": {"calls": {"call_err": ("fails", {}, {"message": "boom"}, True)}},
    "nested_state": {
        "state": {"doc": {"title": "Draft", "sections": [{"body": "xyz"}, {"body": ""}]}}
    },
    "error_mid_stream": {
        "text": "partial",
        "status": {
            "type": "incomplete",
            "reason": "error",
            "error": {"code": "unknown", "message": sb.run.GENERIC_ERROR_MESSAGE},
        },
    },
}


@pytest.mark.parametrize("fragment", [False, True], ids=["whole", "fragments"])
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_official_client_accepts(name: str, fragment: bool) -> None:
    scenario = SCENARIOS[name]
    chunks, body = await scenario_bytes(scenario, "data-stream")
    message = await oracle_message(body, fragment=fragment, state=scenario.state)
    got = summary(message)
    for key, value in EXPECTED.get(name, {}).items():
        assert got[key] == value, key
    got_summary = client_summary(message)
    want = project(scenario_summary(expected(scenario, chunks)))
    if not scenario.complete:
        # A cut stream has no finish: the client shows the pending call as waiting for a result.
        assert got_summary.pop("finish_reason") == "tool-calls"
        del want["finish_reason"]
    assert got_summary == want
    if name != "error_mid_stream" and scenario.complete:
        assert got["status"] == {"type": "complete", "reason": "stop"}
    assert_scenario_parts(name, message)
    if name == "steps_with_usage":
        steps = message["metadata"]["steps"]
        assert [(s["messageId"], s["usage"]) for s in steps] == [
            ("step-1", {"inputTokens": 10, "outputTokens": 5}),
            ("step-2", {"inputTokens": 20, "outputTokens": 7}),
        ]
    assert "secret" not in json.dumps(message)


async def test_official_client_requires_action_when_tool_calls_wait_for_results() -> None:
    async def run(c: sb.RunController) -> None:
        c.add_tool_call("frontend_tool", "call_ui").append_args_text('{"a": 1}')

    message = await decoded(run, fragment=False)
    assert message["status"] == {"type": "requires-action", "reason": "tool-calls"}
    assert message["parts"][0]["args"] == {"a": 1}


async def test_official_client_accepts_keepalives() -> None:
    async def run(c: sb.RunController) -> None:
        c.append_text("a")
        await anyio.sleep(0.12)
        c.append_text("b")

    body = b"".join([part async for part in sb.encode(sb.create_run(run), heartbeat=0.03)])
    assert b"\n\n" in body
    message = await anyio.to_thread.run_sync(lambda: run_oracle("data-stream.mjs", body))
    assert summary(message)["text"] == "ab"


@settings(max_examples=200, deadline=None)
@given(chunk_sequences())
def test_decode_inverts_encode(chunks: list[Chunk]) -> None:
    got, want = round_trip(chunks, "data-stream", lambda summary: summary)
    assert got == want


def test_parse_request_reads_the_data_stream_runtime_body() -> None:
    body = {
        "system": "Be brief.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        "tools": {"get_weather": {"description": "Weather", "parameters": {"type": "object"}}},
        "unstable_assistantMessageId": "msg_1",
        "runConfig": {"custom": 1},
        "state": {"draft": ""},
    }
    run_input = sb.get_protocol("data-stream").parse_request(body)
    assert run_input.messages == [sb.Message([sb.TextPart("Hi")], "user")]
    assert run_input.tools == [
        {"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}}
    ]
    assert (run_input.system, run_input.run_id, run_input.state) == (
        "Be brief.",
        "msg_1",
        {"draft": ""},
    )
    assert run_input.options == {"runConfig": {"custom": 1}}
    assert run_input.raw is body


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ([1, 2], "must be a JSON object"),
        ({"messages": "hi"}, "'messages' must be a JSON array"),
        ({"tools": 3}, "'tools' must be a JSON object or array"),
        ({"system": 1}, "'system' must be a JSON string"),
    ],
)
def test_parse_request_says_what_is_wrong(body: Any, match: str) -> None:
    with pytest.raises(sb.RequestError, match=match):
        sb.get_protocol("data-stream").parse_request(body)
