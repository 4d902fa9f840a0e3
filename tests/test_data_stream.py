"""The data-stream protocol: exact frames, and the official client's verdict on real runs."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import streambridge as sb
from oracle import run_oracle
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
    ToolCallArgsDelta,
    ToolCallArgsFinish,
    ToolCallBegin,
    ToolResult,
)

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
            ToolCallArgsDelta("c1", '{"q":1}'),
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
    with pytest.raises(ValueError, match="unknown protocol 'nope'; known protocols: 'data-stream'"):
        sb.encode(sb.create_run(lambda c: anyio.lowlevel.checkpoint()), protocol="nope")


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

Run = Callable[[sb.RunController], Awaitable[None]]


async def plain_text(c: sb.RunController) -> None:
    for piece in ["Hello, ", "wörld 😀", "\nline two\r\n", "“quotes” \\ \u2028 end"]:
        c.append_text(piece)
        await anyio.lowlevel.checkpoint()


async def reasoning_then_text(c: sb.RunController) -> None:
    c.append_reasoning("Let me think")
    c.append_reasoning("...")
    c.append_text("Answer")


async def one_tool_call(c: sb.RunController) -> None:
    tool = await c.add_tool_call("get_weather", "call_1")
    for piece in ['{"city"', ': "Par', 'is", "days": [1, 2]}']:
        tool.append_args_text(piece)
    tool.set_response({"temp": 21})
    c.append_text("It is 21°C.")


async def interleaved_tool_calls(c: sb.RunController) -> None:
    a = c.add_tool_call("a", "call_a")
    b = c.add_tool_call("b", "call_b")
    a.append_args_text('{"x":')
    b.append_args_text('{"y":')
    a.append_args_text("1}")
    b.append_args_text("2}")
    b.set_response("B")
    a.set_response("A")


async def tool_error(c: sb.RunController) -> None:
    tool = c.add_tool_call("fails", "call_err")
    tool.append_args_text("{}")
    tool.set_response({"message": "boom"}, is_error=True)


async def sources_and_file(c: sb.RunController) -> None:
    c.add_source(id="s1", url="https://example.com/a", title="A")
    c.add_source(id="s2", url="https://example.com/b")
    c.add_file(data="aGVsbG8=", mime_type="text/plain")


async def named_data(c: sb.RunController) -> None:
    c.add_data({"progress": 0.5}, name="progress")
    c.add_data([1, 2, 3])


async def nested_state(c: sb.RunController) -> None:
    c.state["doc"] = {"title": "", "sections": []}
    c.state["doc"]["title"] += "Draft"
    c.state["doc"]["sections"].append({"body": "x"})
    c.append_text("writing")
    c.state["doc"]["sections"][0]["body"] += "yz"
    c.state["doc"]["sections"].append({"body": ""})


async def steps_with_usage(c: sb.RunController) -> None:
    c.add_step_start("step-1")
    c.append_text("one")
    c.add_step_finish("tool-calls", input_tokens=10, output_tokens=5, is_continued=True)
    c.add_step_start("step-2")
    c.append_text("two")
    c.add_step_finish("stop", input_tokens=20, output_tokens=7)


async def error_mid_stream(c: sb.RunController) -> None:
    c.append_text("partial")
    raise RuntimeError("secret internal detail")


async def parent_ids(c: sb.RunController) -> None:
    c.with_parent_id("group").append_text("grouped")
    c.with_parent_id("group").add_tool_call("t", "call_g").set_response(1)


SCENARIOS: dict[str, Run] = {
    "plain_text": plain_text,
    "reasoning_then_text": reasoning_then_text,
    "one_tool_call": one_tool_call,
    "interleaved_tool_calls": interleaved_tool_calls,
    "tool_error": tool_error,
    "sources_and_file": sources_and_file,
    "named_data": named_data,
    "nested_state": nested_state,
    "steps_with_usage": steps_with_usage,
    "error_mid_stream": error_mid_stream,
    "parent_ids": parent_ids,
}


async def decoded(run: Run, *, fragment: bool) -> dict[str, Any]:
    body = b"".join([part async for part in sb.encode(sb.create_run(run, state={}))])
    return await anyio.to_thread.run_sync(
        lambda: run_oracle("data-stream.mjs", body, fragment=fragment, initialState={})
    )


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
    message = await decoded(SCENARIOS[name], fragment=fragment)
    got = summary(message)
    for key, value in EXPECTED.get(name, {}).items():
        assert got[key] == value, key
    if name != "error_mid_stream":
        assert got["status"] == {"type": "complete", "reason": "stop"}
    if name == "sources_and_file":
        kinds = [(p["type"], p.get("url") or p.get("mimeType")) for p in message["parts"]]
        assert kinds == [
            ("source", "https://example.com/a"),
            ("source", "https://example.com/b"),
            ("file", "text/plain"),
        ]
    if name == "named_data":
        assert message["parts"][0]["name"] == "progress"
        assert message["metadata"]["unstable_data"] == [[1, 2, 3]]
    if name == "steps_with_usage":
        steps = message["metadata"]["steps"]
        assert [(s["messageId"], s["usage"]) for s in steps] == [
            ("step-1", {"inputTokens": 10, "outputTokens": 5}),
            ("step-2", {"inputTokens": 20, "outputTokens": 7}),
        ]
    if name == "parent_ids":
        assert {p.get("parentId") for p in message["parts"]} == {"group"}
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
