"""The ui-message-stream protocol: exact frames, the request body, the decoder, and the official
client's (npm ``ai``) verdict on every scenario."""

from __future__ import annotations

import base64
import copy
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
from streambridge.client import accumulate, decode
from streambridge.protocols import StreamEnd
from streambridge.protocols.ui_message_stream import (
    FINISH_REASONS,
    STATE_ID,
    UIMessageStreamDecoder,
    UIMessageStreamEncoder,
    parse_request,
)
from support.chunk_strategies import chunk_sequences, round_trip
from support.oracle import run_oracle
from support.scenarios import (
    SCENARIOS,
    encode_chunks,
    expected,
    fixed_input,
    scenario_bytes,
    summary,
)

pytestmark = pytest.mark.anyio

PROTOCOL = "ui-message-stream"
GENERIC = sb.run.GENERIC_ERROR_MESSAGE


async def encoded(chunks: list[Chunk], **input: Any) -> list[str]:
    """The events of ``chunks`` encoded through ``sb.encode``: each event's text without its
    blank-line separator."""

    async def source() -> Any:
        for chunk in chunks:
            yield chunk

    body = b"".join(
        [part async for part in sb.encode(source(), protocol=PROTOCOL, input=fixed_input(**input))]
    ).decode()
    assert body.endswith("\n\n")
    return body.split("\n\n")[:-1]


FINISH_STOP = (
    'data: {"type":"finish","finishReason":"stop","messageMetadata":'
    '{"usage":{"inputTokens":0,"outputTokens":0,"totalTokens":0}}}'
)


# -- exact frames ---------------------------------------------------------------------------------


async def test_each_chunk_kind_has_its_frame() -> None:
    events = await encoded(
        [
            StepStart("m1"),
            TextDelta("Hi\n"),
            TextDelta("!"),
            TextDelta("grouped", parent_id="p"),
            ReasoningDelta("hmm"),
            ReasoningDelta("sub", parent_id="p"),
            ToolCallBegin("c1", "search", parent_id="p"),
            ToolCallDelta("c1", '{"q":'),
            ToolCallDelta("c1", "1}"),
            ToolCallArgsFinish("c1"),
            ToolResult("c1", {"ok": True}, artifact=[1]),
            ToolCallBegin("c2", "fails"),
            ToolResult("c2", {"why": "boom"}, is_error=True),
            Source("s1", "https://example.com", title="Example"),
            Source("s2", "https://example.com/d", parent_id="p", source_type="document"),
            File("aGk=", "text/plain"),
            File("aGk=", "image/png", parent_id="p"),
            Data({"a": 1}),
            Data({"b": 2}, name="weather"),
            Annotations(({"x": 1},)),
            Annotations(("y",)),
            StateUpdate(({"type": "set", "path": ["a"], "value": "x"},)),
            StateUpdate(({"type": "append-text", "path": ["a"], "value": "y"},)),
            StepFinish("stop", 2, 3),
            Error("careful"),
        ],
        state={"keep": 1},
    )
    assert events == [
        'data: {"type":"start","messageId":"run_fixed"}',
        'data: {"type":"start-step"}',
        'data: {"type":"text-start","id":"text-1"}',
        'data: {"type":"text-delta","id":"text-1","delta":"Hi\\n"}',
        'data: {"type":"text-delta","id":"text-1","delta":"!"}',
        'data: {"type":"text-end","id":"text-1"}',
        'data: {"type":"text-start","id":"text-2",'
        '"providerMetadata":{"streambridge":{"parentId":"p"}}}',
        'data: {"type":"text-delta","id":"text-2","delta":"grouped"}',
        'data: {"type":"text-end","id":"text-2"}',
        'data: {"type":"reasoning-start","id":"reasoning-3"}',
        'data: {"type":"reasoning-delta","id":"reasoning-3","delta":"hmm"}',
        'data: {"type":"reasoning-end","id":"reasoning-3"}',
        'data: {"type":"reasoning-start","id":"reasoning-4",'
        '"providerMetadata":{"streambridge":{"parentId":"p"}}}',
        'data: {"type":"reasoning-delta","id":"reasoning-4","delta":"sub"}',
        'data: {"type":"reasoning-end","id":"reasoning-4"}',
        'data: {"type":"tool-input-start","toolCallId":"c1","toolName":"search"}',
        'data: {"type":"tool-input-delta","toolCallId":"c1","inputTextDelta":"{\\"q\\":"}',
        'data: {"type":"tool-input-delta","toolCallId":"c1","inputTextDelta":"1}"}',
        'data: {"type":"tool-input-available","toolCallId":"c1","toolName":"search",'
        '"input":{"q":1},"providerMetadata":{"streambridge":{"parentId":"p"}}}',
        'data: {"type":"tool-output-available","toolCallId":"c1","output":{"ok":true}}',
        'data: {"type":"tool-input-start","toolCallId":"c2","toolName":"fails"}',
        'data: {"type":"tool-input-available","toolCallId":"c2","toolName":"fails","input":{}}',
        'data: {"type":"tool-output-error","toolCallId":"c2","errorText":"{\\"why\\":\\"boom\\"}"}',
        'data: {"type":"source-url","sourceId":"s1","url":"https://example.com","title":"Example"}',
        'data: {"type":"source-url","sourceId":"s2","url":"https://example.com/d",'
        '"providerMetadata":{"streambridge":{"parentId":"p","sourceType":"document"}}}',
        'data: {"type":"file","url":"data:text/plain;base64,aGk=","mediaType":"text/plain"}',
        'data: {"type":"file","url":"data:image/png;base64,aGk=","mediaType":"image/png",'
        '"providerMetadata":{"streambridge":{"parentId":"p"}}}',
        'data: {"type":"data-data","data":{"a":1}}',
        'data: {"type":"data-weather","data":{"b":2}}',
        'data: {"type":"message-metadata","messageMetadata":{"annotations":[{"x":1}]}}',
        'data: {"type":"message-metadata","messageMetadata":{"annotations":[{"x":1},"y"]}}',
        'data: {"type":"data-state","id":"state","data":{"keep":1,"a":"x"}}',
        'data: {"type":"data-state","id":"state","data":{"keep":1,"a":"xy"}}',
        'data: {"type":"finish-step"}',
        'data: {"type":"message-metadata","messageMetadata":{"steps":'
        '[{"finishReason":"stop","usage":{"inputTokens":2,"outputTokens":3}}]}}',
        'data: {"type":"error","errorText":"careful"}',
        'data: {"type":"finish","finishReason":"error","messageMetadata":'
        '{"usage":{"inputTokens":2,"outputTokens":3,"totalTokens":5}}}',
        "data: [DONE]",
    ]


async def test_open_parts_and_calls_are_closed_before_finish() -> None:
    events = await encoded(
        [
            ToolCallBegin("c1", "now"),
            ToolCallBegin("c2", "later"),
            ToolCallDelta("c2", '{"a": 1}'),
            TextDelta("tail"),
        ],
        run_id=None,
    )
    assert events == [
        'data: {"type":"start"}',  # no run id, no message id: the client makes one
        'data: {"type":"tool-input-start","toolCallId":"c1","toolName":"now"}',
        'data: {"type":"tool-input-start","toolCallId":"c2","toolName":"later"}',
        'data: {"type":"tool-input-delta","toolCallId":"c2","inputTextDelta":"{\\"a\\": 1}"}',
        'data: {"type":"text-start","id":"text-1"}',
        'data: {"type":"text-delta","id":"text-1","delta":"tail"}',
        'data: {"type":"text-end","id":"text-1"}',
        'data: {"type":"tool-input-available","toolCallId":"c1","toolName":"now","input":{}}',
        'data: {"type":"tool-input-available","toolCallId":"c2","toolName":"later",'
        '"input":{"a":1}}',
        'data: {"type":"finish","finishReason":"tool-calls","messageMetadata":'
        '{"usage":{"inputTokens":0,"outputTokens":0,"totalTokens":0}}}',
        "data: [DONE]",
    ]


async def test_a_step_finish_closes_open_calls_and_the_empty_stream_still_starts() -> None:
    events = await encoded([ToolCallBegin("c1", "t"), StepFinish("tool-calls", 1, 1)])
    assert events[2:5] == [
        'data: {"type":"tool-input-available","toolCallId":"c1","toolName":"t","input":{}}',
        'data: {"type":"finish-step"}',
        'data: {"type":"message-metadata","messageMetadata":{"steps":'
        '[{"finishReason":"tool-calls","usage":{"inputTokens":1,"outputTokens":1}}]}}',
    ]
    assert await encoded([]) == [
        'data: {"type":"start","messageId":"run_fixed"}',
        FINISH_STOP,
        "data: [DONE]",
    ]


async def test_arguments_that_are_not_json_give_tool_input_error() -> None:
    events = await encoded(
        [
            ToolCallBegin("c1", "t"),
            ToolCallDelta("c1", '{"x": NaN}'),
            ToolCallArgsFinish("c1"),
            ToolCallDelta("c1", "late"),  # after the input is closed: the client would fail
            ToolCallArgsFinish("c1"),
            ToolResult("nope", 1),  # never started: the client would fail
        ]
    )
    assert events[3] == (
        'data: {"type":"tool-input-error","toolCallId":"c1","toolName":"t",'
        '"input":"{\\"x\\": NaN}","errorText":"The tool call\'s arguments are not valid JSON."}'
    )
    # Nothing for the late pieces; the call still waits for its result.
    assert events[4:] == [FINISH_STOP.replace('"stop"', '"tool-calls"'), "data: [DONE]"]


async def test_continued_steps_and_finish_reasons_outside_every_clients_list() -> None:
    events = await encoded([StepFinish("length", 1, 2, is_continued=True), StepFinish("weird")])
    assert '"isContinued":true' in events[2]
    assert events[-2].startswith('data: {"type":"finish","finishReason":"other"')
    assert '"finishReason":"weird"' in events[4]  # the step keeps its own reason
    assert "interrupted" not in FINISH_REASONS  # ai 5.0.92's schema rejects it


async def test_state_starts_from_the_input_state_and_never_aliases_the_chunks() -> None:
    value = {"items": []}
    chunks: list[Chunk] = [
        StateUpdate(({"type": "set", "path": ["doc"], "value": value},)),
        StateUpdate(({"type": "set", "path": ["doc", "items", "0"], "value": "a"},)),
    ]
    events = await encoded(chunks, state={"n": 1})
    assert events[1:3] == [
        'data: {"type":"data-state","id":"state","data":{"n":1,"doc":{"items":[]}}}',
        'data: {"type":"data-state","id":"state","data":{"n":1,"doc":{"items":["a"]}}}',
    ]
    assert value == {"items": []}  # the first chunk's value is still what it said
    again = await encoded(chunks, state={"n": 1})
    assert again == events


async def test_nan_is_refused_and_the_stream_still_ends_cleanly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def run(controller: sb.RunController) -> None:
        controller.append_text("before")
        controller.add_data({"x": float("nan")})
        controller.append_text("after")

    body = b"".join(
        [part async for part in sb.encode(sb.create_run(run), protocol=PROTOCOL)]
    ).decode()
    events = body.split("\n\n")[:-1]
    assert events[1:] == [
        'data: {"type":"text-start","id":"text-1"}',
        'data: {"type":"text-delta","id":"text-1","delta":"before"}',
        'data: {"type":"text-end","id":"text-1"}',
        f'data: {{"type":"error","errorText":{json.dumps(GENERIC)}}}',
        'data: {"type":"finish","finishReason":"error","messageMetadata":'
        '{"usage":{"inputTokens":0,"outputTokens":0,"totalTokens":0}}}',
        "data: [DONE]",
    ]
    assert "could not be encoded" in caplog.text
    out = await oracle(body.encode())
    assert out["errors"] == [GENERIC]
    assert out["finish"]["finishReason"] == "error"
    assert [p["text"] for p in out["message"]["parts"]] == ["before"]


async def test_nan_in_state_is_refused_too(caplog: pytest.LogCaptureFixture) -> None:
    async def source() -> Any:
        yield StateUpdate(({"type": "set", "path": ["x"], "value": float("inf")},))

    body = b"".join([part async for part in sb.encode(source(), protocol=PROTOCOL)]).decode()
    assert "data-state" not in body
    assert '"finishReason":"error"' in body
    out = await oracle(body.encode())
    assert out["errors"] == [GENERIC]


async def test_a_lone_surrogate_is_escaped_not_fatal() -> None:
    events = await encoded([TextDelta("\ud83d"), TextDelta("\ude00")])
    assert events[2:4] == [
        'data: {"type":"text-delta","id":"text-1","delta":"\\ud83d"}',
        'data: {"type":"text-delta","id":"text-1","delta":"\\ude00"}',
    ]


async def test_protocol_metadata() -> None:
    protocol = sb.get_protocol(PROTOCOL)
    assert protocol.media_type == "text/event-stream"
    assert protocol.framing == "sse"
    assert protocol.headers == {"x-vercel-ai-ui-message-stream": "v1"}
    assert protocol.keepalive == b": keepalive\n\n"
    assert protocol.new_encoder is UIMessageStreamEncoder
    assert protocol.new_decoder is UIMessageStreamDecoder
    assert protocol.parse_request is parse_request
    assert PROTOCOL in sb.protocol_names()


# -- the request ----------------------------------------------------------------------------------


def realistic_body() -> dict[str, Any]:
    """What ``useChat`` (DefaultChatTransport) POSTs after a tool call the frontend answered:
    ``{...body, id, messages, trigger, messageId}``."""
    return {
        "state": {"draft": "x"},
        "system": "Be brief.",
        "tools": {"get_weather": {"description": "Weather", "parameters": {"type": "object"}}},
        "id": "chat_123",
        "messages": [
            {
                "id": "msg_u1",
                "role": "user",
                "parts": [{"type": "text", "text": "Weather in Paris?"}],
            },
            {
                "id": "msg_a1",
                "role": "assistant",
                "metadata": {"usage": {"inputTokens": 3, "outputTokens": 4}},
                "parts": [
                    {"type": "step-start"},
                    {
                        "type": "tool-get_weather",
                        "toolCallId": "call_1",
                        "state": "output-available",
                        "input": {"city": "Paris"},
                        "output": {"temp": 21},
                    },
                ],
            },
        ],
        "trigger": "submit-message",
        "messageId": "msg_a1",
    }


def test_parse_request_of_a_use_chat_body() -> None:
    body = realistic_body()
    run_input = sb.get_protocol(PROTOCOL).parse_request(body)
    call = sb.ToolCallPart("call_1", "get_weather", '{"city": "Paris"}', args_complete=True)
    call.set_result({"temp": 21})
    assert run_input.messages == [
        sb.Message([sb.TextPart("Weather in Paris?")], "user", "msg_u1"),
        sb.Message(
            [call],
            "assistant",
            "msg_a1",
            metadata={"usage": {"inputTokens": 3, "outputTokens": 4}},
        ),
    ]
    assert run_input.thread_id == "chat_123"
    assert run_input.run_id == "msg_a1"  # the response continues the last assistant message
    assert run_input.state == {"draft": "x"}
    assert run_input.system == "Be brief."
    assert run_input.tools == [
        {"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}}
    ]
    assert run_input.options == {"trigger": "submit-message", "messageId": "msg_a1"}
    assert run_input.raw is body


def test_parse_request_of_a_first_message_leaves_the_run_id_to_create_run() -> None:
    body = {"id": "c", "messages": [{"id": "u", "role": "user", "parts": []}]}
    run_input = parse_request(body)
    assert run_input.run_id is None
    assert (run_input.tools, run_input.state, run_input.system, run_input.options) == (
        [],
        None,
        None,
        {},
    )
    assert sb.create_run(_checkpoint, input=run_input).input.run_id


async def _checkpoint(controller: sb.RunController) -> None:
    await anyio.lowlevel.checkpoint()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "request body must be a JSON object"),
        ({}, "needs 'messages'"),
        ({"messages": {"role": "user"}}, "needs 'messages'"),
        ({"messages": ["hi"]}, r"messages\[0\] must be a JSON object"),
        ({"messages": [{"role": "bot", "parts": []}]}, r"messages\[0\]\.role must be one of"),
        ({"messages": [{"role": "user", "content": "hi"}]}, r"messages\[0\]\.parts must be"),
        ({"messages": [{"id": 1, "role": "user", "parts": []}]}, r"messages\[0\]\.id must be"),
        (
            {"messages": [{"role": "user", "parts": [{"text": "hi"}]}]},
            r"messages\[0\]\.parts\[0\] must be a JSON object with a string 'type'",
        ),
        ({"messages": [], "id": 5}, "'id' must be a JSON string"),
        ({"messages": [], "tools": "all"}, "'tools' must be a JSON object or array"),
        ({"messages": [], "system": ["x"]}, "'system' must be a JSON string"),
        ({"messages": [], "trigger": 1}, "'trigger' must be a JSON string"),
    ],
)
def test_parse_request_rejects_wrong_shapes(body: Any, message: str) -> None:
    with pytest.raises(sb.RequestError, match=message):
        parse_request(body)


# -- the decoder ----------------------------------------------------------------------------------


def test_decoder_ignores_done_and_empty_events_and_refuses_what_is_not_a_chunk() -> None:
    decoder = UIMessageStreamDecoder()
    assert decoder.decode(None, "[DONE]") == []
    assert decoder.decode(None, "") == []
    assert decoder.decode(None, '{"type":"finish-step"}') == []
    assert decoder.close() == []
    with pytest.raises(ValueError, match="unknown UI message chunk type 'nope'"):
        decoder.decode(None, '{"type":"nope"}')
    with pytest.raises(ValueError, match="not a UI message chunk"):
        decoder.decode(None, "[1]")
    with pytest.raises(ValueError, match="not open"):
        decoder.decode(None, '{"type":"text-delta","id":"t","delta":"x"}')
    decoder.decode(None, '{"type":"reasoning-start","id":"r"}')
    with pytest.raises(ValueError, match="not open"):
        decoder.decode(None, '{"type":"text-delta","id":"r","delta":"x"}')
    with pytest.raises(ValueError, match="not streaming"):
        decoder.decode(None, '{"type":"tool-input-delta","toolCallId":"c","inputTextDelta":"x"}')


def test_decoder_reads_what_other_ai_sdk_servers_send() -> None:
    """A call sent whole, a file by URL, a data part with an id, a finish without usage."""
    decoder = UIMessageStreamDecoder()
    events = [
        {"type": "start", "messageId": "m"},
        {"type": "start-step"},
        {"type": "tool-input-available", "toolCallId": "c", "toolName": "t", "input": {"a": 1}},
        {"type": "tool-output-available", "toolCallId": "c", "output": "ok"},
        {"type": "file", "url": "https://example.com/x.png", "mediaType": "image/png"},
        {"type": "data-weather", "id": "w1", "data": {"t": 1}},
        {"type": "data-state", "data": "not ours"},
        {"type": "finish"},
    ]
    out = [item for event in events for item in decoder.decode(None, json.dumps(event))]
    assert out == [
        StepStart("m"),
        ToolCallBegin("c", "t"),
        ToolCallDelta("c", '{"a":1}'),
        ToolCallArgsFinish("c"),
        ToolResult("c", "ok"),
        File("https://example.com/x.png", "image/png"),
        Data({"t": 1}, "weather"),
        Data("not ours", "state"),
        StreamEnd(None, None, None),
    ]


def test_decoder_gives_back_what_the_encoder_sent() -> None:
    chunks: list[Chunk] = [
        TextDelta("a", parent_id="p"),
        ReasoningDelta("r"),
        ToolCallBegin("c", "t"),
        ToolCallDelta("c", "{oops"),
        ToolCallArgsFinish("c"),
        ToolResult("c", "bad", is_error=True),
        Source("s", "https://e.x", None, "p", "document"),
        File("aGk=", "image/png", "p"),
        Data(1),
        Annotations((1, 2)),
        Annotations((3,)),
        StateUpdate(({"type": "set", "path": ["k"], "value": 1},)),
        StepFinish("length", 4, 5, is_continued=True),
        Error("e"),
    ]
    out = decode(encode_chunks(chunks, PROTOCOL), PROTOCOL)
    assert out == [
        TextDelta("a", "p"),
        ReasoningDelta("r"),
        ToolCallBegin("c", "t"),
        ToolCallDelta("c", "{oops"),
        ToolCallArgsFinish("c"),
        ToolResult("c", "bad", is_error=True),
        Source("s", "https://e.x", None, "p", "document"),
        File("aGk=", "image/png", "p"),
        Data(1),
        Annotations((1, 2)),
        Annotations((3,)),
        StateUpdate(({"type": "set", "path": [], "value": {"k": 1}},)),
        StepFinish("length", 4, 5, True),
        Error("e"),
        StreamEnd("error", 4, 5),
    ]


# -- the official client --------------------------------------------------------------------------


async def oracle(body: bytes, *, fragment: bool = False) -> dict[str, Any]:
    return await anyio.to_thread.run_sync(
        lambda: run_oracle("ui-message-stream.mjs", body, fragment=fragment)
    )


def client_summary(out: dict[str, Any], state: Any = None) -> dict[str, Any]:
    """The official client's message in the scenarios' plain form (see scenarios.summary).

    ``state`` is what the client had before the stream (it sent it): a ``data-state`` part
    replaces it.
    """
    message = out["message"]
    parts = message["parts"]
    metadata = message.get("metadata") or {}
    finish = out["finish"]
    tools = [p for p in parts if p["type"].startswith("tool-") or p["type"] == "dynamic-tool"]
    states = [p for p in parts if p["type"] == "data-state" and p.get("id") == STATE_ID]
    data = [p for p in parts if p["type"].startswith("data-") and p not in states]
    usage = (finish or {}).get("messageMetadata", {}).get("usage")
    return {
        "text": "".join(p["text"] for p in parts if p["type"] == "text"),
        "reasoning": "".join(p["text"] for p in parts if p["type"] == "reasoning"),
        "tool_calls": [
            {
                "id": p["toolCallId"],
                "name": p["toolName"] if p["type"] == "dynamic-tool" else p["type"][5:],
                "args": p.get("input", {}),
                "result": p.get("errorText") if p["state"] == "output-error" else p.get("output"),
                "is_error": p["state"] == "output-error",
            }
            for p in tools
        ],
        "sources": [
            {"url": p["url"], "title": p.get("title")} for p in parts if p["type"] == "source-url"
        ],
        "files": [
            {"data": data_url_payload(p["url"]), "mime_type": p["mediaType"]}
            for p in parts
            if p["type"] == "file"
        ],
        "data": [
            {"name": None if p["type"] == "data-data" else p["type"][5:], "data": p["data"]}
            for p in data
        ],
        "state": states[-1]["data"] if states else state,
        "finish_reason": None if finish is None else finish["finishReason"],
        "usage": None
        if usage is None
        else {"input": usage["inputTokens"], "output": usage["outputTokens"]},
        "steps": [
            (s["usage"]["inputTokens"], s["usage"]["outputTokens"])
            for s in metadata.get("steps", [])
        ],
        "errors": out["errors"],
    }


def data_url_payload(url: str) -> str:
    header, _, payload = url.partition(",")
    assert header.startswith("data:"), url
    assert header.endswith(";base64"), url
    base64.b64decode(payload, validate=True)
    return payload


def project(want: dict[str, Any]) -> dict[str, Any]:
    """What the UI message stream can say.  A failed tool call has only an ``errorText``
    string (``tool-output-error``), so a non-string error result arrives as its JSON text; the
    finish chunk only takes the finish reasons every client accepts, others arrive as
    ``"other"``.  Everything else (usage, per-step usage, data, state) goes through."""
    want = copy.deepcopy(want)
    for call in want["tool_calls"]:
        if call["is_error"] and not isinstance(call["result"], str):
            call["result"] = json.dumps(call["result"], separators=(",", ":"), ensure_ascii=False)
    reason = want["finish_reason"]
    if reason is not None and reason not in FINISH_REASONS:
        want["finish_reason"] = "other"
    return want


@pytest.mark.parametrize("fragment", [False, True], ids=["whole", "fragments"])
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_official_client_accepts(name: str, fragment: bool) -> None:
    scenario = SCENARIOS[name]
    chunks, body = await scenario_bytes(scenario, PROTOCOL)
    out = await oracle(body, fragment=fragment)
    message = out["message"]
    assert client_summary(out, scenario.state) == project(summary(expected(scenario, chunks)))
    assert message["id"] == "run_fixed"
    assert out["types"][0] == "start"
    if scenario.complete:
        assert out["types"][-1] == "finish"
        assert body.endswith(b"data: [DONE]\n\n")
        # Every text and reasoning part was ended, every call's input completed.
        assert all(p.get("state") != "streaming" for p in message["parts"])
        assert all(p.get("state") != "input-streaming" for p in message["parts"])
    else:
        # A cut stream just stops: no finish, no [DONE]; the client keeps what arrived, the
        # call's input as far as it streamed, still "input-streaming".
        assert out["finish"] is None
        assert b"[DONE]" not in body
        assert [(p["type"], p.get("state")) for p in message["parts"]] == [
            ("text", "done"),
            ("tool-search", "input-streaming"),
        ]
        assert message["parts"][1]["input"] == {"query": "stre"}
    if name == "one_tool_call":
        call = message["parts"][0]
        assert (call["type"], call["state"], call["output"]) == (
            "tool-get_weather",
            "output-available",
            {"temp": 21},
        )
    if name == "tool_error":
        assert message["parts"][0]["errorText"] == '{"message":"boom"}'
    if name == "sources_and_file":
        assert [(p["type"], p.get("url")) for p in message["parts"]] == [
            ("source-url", "https://example.com/a"),
            ("source-url", "https://example.com/b"),
            ("file", "data:text/plain;base64,aGVsbG8="),
        ]
    if name == "named_data":
        assert [p["type"] for p in message["parts"]] == ["data-progress", "data-data"]
    if name == "nested_state":
        # One state part, replaced in place by each data-state.
        assert [p["type"] for p in message["parts"]] == ["data-state", "text"]
        assert out["types"].count("data-state") == 2
    if name == "steps_with_usage":
        assert message["metadata"]["steps"] == [
            {
                "finishReason": "tool-calls",
                "usage": {"inputTokens": 10, "outputTokens": 5},
                "isContinued": True,
            },
            {"finishReason": "stop", "usage": {"inputTokens": 20, "outputTokens": 7}},
        ]
        assert message["metadata"]["usage"] == {
            "inputTokens": 30,
            "outputTokens": 12,
            "totalTokens": 42,
        }
        assert [p["type"] for p in message["parts"]].count("step-start") == 2
    if name == "error_mid_stream":
        assert out["errors"] == [GENERIC]
        assert out["types"][-2:] == ["error", "finish"]
    if name == "parent_ids":
        text, call = message["parts"]
        assert text["providerMetadata"] == {"streambridge": {"parentId": "group"}}
        assert call["callProviderMetadata"] == {"streambridge": {"parentId": "group"}}
    assert "secret" not in json.dumps(out)


async def test_official_client_sees_a_call_waiting_for_the_frontend() -> None:
    async def run(c: sb.RunController) -> None:
        c.add_tool_call("frontend_tool", "call_ui").append_args_text('{"a": 1}')

    body = b"".join([part async for part in sb.encode(sb.create_run(run), protocol=PROTOCOL)])
    out = await oracle(body)
    assert out["finish"]["finishReason"] == "tool-calls"
    [call] = out["message"]["parts"]
    assert (call["type"], call["state"], call["input"]) == (
        "tool-frontend_tool",
        "input-available",
        {"a": 1},
    )


async def test_official_client_accepts_keepalives() -> None:
    async def run(c: sb.RunController) -> None:
        c.append_text("a")
        await anyio.sleep(0.12)
        c.append_text("b")

    parts = [part async for part in sb.encode(sb.create_run(run), PROTOCOL, heartbeat=0.03)]
    assert b": keepalive\n\n" in parts
    body = b"".join(parts)
    for fragment in (False, True):
        out = await oracle(body, fragment=fragment)
        assert [p["text"] for p in out["message"]["parts"]] == ["ab"]
        assert [item for item in decode(body, PROTOCOL) if isinstance(item, TextDelta)] == [
            TextDelta("a"),
            TextDelta("b"),
        ]


@pytest.mark.parametrize(
    ("events", "problem"),
    [
        (['{"type":"text-delta","id":"t","delta":"x"}'], "missing text part"),
        (['{"type":"start","extra":1}'], "keys older clients reject: extra"),
        (['{"type":"finish","finishReason":"interrupted"}'], "not one every client accepts"),
        (['{"type":"file","url":"data:,"}'], "invalid chunk"),
        (['{"type":"finish"}', '{"type":"start"}'], "start chunk after finish"),
    ],
)
async def test_the_oracle_fails_on_what_the_client_rejects(events: list[str], problem: str) -> None:
    body = "".join(f"data: {event}\n\n" for event in events).encode()
    with pytest.raises(AssertionError, match=problem):
        await oracle(body)


# -- round trip -----------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(chunk_sequences())
def test_decode_inverts_encode(chunks: list[Chunk]) -> None:
    got, want = round_trip(chunks, PROTOCOL, project)
    assert got == want


def test_round_trip_keeps_what_summary_leaves_out() -> None:
    """Parent ids, annotations and a source's type survive too (the summary has none of them)."""
    chunks: list[Chunk] = [
        TextDelta("a", "p"),
        Source("s", "https://e.x", "T", "p", "document"),
        Annotations(({"k": 1},)),
    ]
    message = accumulate(decode(encode_chunks(chunks, PROTOCOL), PROTOCOL))
    assert message.parts[0].parent_id == "p"
    assert message.sources[0].source_type == "document"
    assert message.annotations == [{"k": 1}]
