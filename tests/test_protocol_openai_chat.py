"""The openai-chat protocol: exact frames, the official openai SDK's verdict on every scenario,
request parsing, and decode(encode(chunks)) round trips."""

from __future__ import annotations

import copy
import json
import zlib
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletionChunk

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
from streambridge.protocols.openai_chat import OpenAIChatDecoder, OpenAIChatEncoder, parse_request
from streambridge.state import apply_operation
from support.chunk_strategies import chunk_sequences, round_trip, tool_call
from support.openai_oracle import openai_oracle_client
from support.scenarios import SCENARIOS, Scenario, expected, fixed_input, produce, summary
from support.scenarios import encode_chunks as scenario_encode

pytestmark = pytest.mark.anyio

MODEL = "gpt-test"
HEAD = (
    'data: {"id":"chatcmpl-run_fixed","object":"chat.completion.chunk",'
    '"created":1760000000,"model":"gpt-test"'
)


def frame(delta: str, finish: str = "null", extension: str | None = None) -> str:
    """One choice chunk of the fixed input, as the encoder must write it."""
    tail = "" if extension is None else ',"streambridge":' + extension
    return (
        HEAD
        + ',"choices":[{"index":0,"delta":{'
        + delta
        + '},"finish_reason":'
        + finish
        + "}]"
        + tail
        + "}\n\n"
    )


ROLE = frame('"role":"assistant"')


def encode_all(chunks: list[Chunk], *, complete: bool = True, **options: Any) -> str:
    encoder = OpenAIChatEncoder(fixed_input(options={"model": MODEL, **options}))
    text = "".join(encoder.encode(chunk) for chunk in chunks)
    return text + encoder.finish() if complete else text


# -- exact frames ---------------------------------------------------------------------------


def test_each_chunk_kind_has_its_frame() -> None:
    text = encode_all(
        [
            TextDelta("Hi\n"),
            TextDelta("grouped", parent_id="p"),
            ReasoningDelta("hmm"),
            ReasoningDelta("sub", parent_id="p"),
            ToolCallBegin("c1", "search", parent_id="p"),
            ToolCallDelta("c1", '{"q":1}'),
            ToolCallArgsFinish("c1"),
            ToolResult("c1", {"ok": True}, artifact=[1], is_error=True),
            ToolCallBegin("c2", "now"),
            ToolCallArgsFinish("c2"),
            Source("s1", "https://example.com", title="Example", parent_id="p"),
            File("aGk=", "text/plain", parent_id="p"),
            Data({"a": 1}),
            Data({"b": 2}, name="weather"),
            Annotations(({"x": 1},)),
            StateUpdate(({"type": "set", "path": ["a"], "value": 1},)),
            StepStart("m1"),
            StepFinish("stop", 2, 3),
            Error("careful"),
        ],
        include_usage=True,
    )
    assert text == "".join(
        [
            ROLE,
            frame('"content":"Hi\\n"'),
            frame('"content":"grouped"', extension='{"parent_id":"p"}'),
            frame('"reasoning_content":"hmm"'),
            frame('"reasoning_content":"sub"', extension='{"parent_id":"p"}'),
            frame(
                '"tool_calls":[{"index":0,"id":"c1","type":"function",'
                '"function":{"name":"search","arguments":""}}]',
                extension='{"parent_id":"p"}',
            ),
            frame('"tool_calls":[{"index":0,"function":{"arguments":"{\\"q\\":1}"}}]'),
            frame(
                "",
                extension='{"type":"tool-result","tool_call_id":"c1","result":{"ok":true},'
                '"artifact":[1],"is_error":true}',
            ),
            frame(
                '"tool_calls":[{"index":1,"id":"c2","type":"function",'
                '"function":{"name":"now","arguments":""}}]'
            ),
            frame('"tool_calls":[{"index":1,"function":{"arguments":"{}"}}]'),
            frame(
                "",
                extension='{"type":"source","source_type":"url","id":"s1",'
                '"url":"https://example.com","title":"Example","parent_id":"p"}',
            ),
            frame(
                "",
                extension='{"type":"file","data":"aGk=","mime_type":"text/plain","parent_id":"p"}',
            ),
            frame("", extension='{"type":"data","data":{"a":1}}'),
            frame("", extension='{"type":"data","data":{"b":2},"name":"weather"}'),
            frame("", extension='{"type":"annotations","annotations":[{"x":1}]}'),
            frame(
                "",
                extension='{"type":"update-state","operations":'
                '[{"type":"set","path":["a"],"value":1}]}',
            ),
            frame("", extension='{"type":"step-start","message_id":"m1"}'),
            frame(
                "",
                extension='{"type":"step-finish","finish_reason":"stop","input_tokens":2,'
                '"output_tokens":3,"is_continued":false}',
            ),
            'data: {"error":{"message":"careful","type":"server_error","param":null,"code":null}}'
            "\n\n",
            # No finish reason after an error: the error frame said how the stream ended.
            HEAD + ',"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":3,'
            '"total_tokens":5}}\n\n',
            "data: [DONE]\n\n",
        ]
    )


@pytest.mark.parametrize(
    ("chunks", "wire_reason"),
    [
        ([], "stop"),
        ([StepFinish("length")], "length"),
        ([StepFinish("content-filter")], "content_filter"),
        ([StepFinish("other")], "stop"),  # the SDK's schema has no other spelling
        ([ToolCallBegin("c1", "ui"), StepFinish("tool-calls")], "tool_calls"),
        ([ToolCallBegin("c1", "ui"), ToolResult("c1", 1), StepFinish("tool-calls")], "stop"),
    ],
)
def test_finish_reason_follows_the_shared_rule(chunks: list[Chunk], wire_reason: str) -> None:
    text = encode_all(chunks)
    assert text.endswith(frame("", finish=f'"{wire_reason}"') + "data: [DONE]\n\n")
    assert "usage" not in text  # not asked for


def test_an_empty_run_is_still_a_whole_completion() -> None:
    assert encode_all([]) == ROLE + frame("", finish='"stop"') + "data: [DONE]\n\n"


def test_open_arguments_close_with_the_empty_object_before_the_finish() -> None:
    text = encode_all([ToolCallBegin("c1", "now")])
    assert text.endswith(
        frame('"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]')
        + frame("", finish='"tool_calls"')
        + "data: [DONE]\n\n"
    )


def test_a_cut_stream_just_stops() -> None:
    text = encode_all(
        [TextDelta("a"), ToolCallBegin("c1", "f"), ToolCallDelta("c1", "{")], complete=False
    )
    assert text.endswith(frame('"tool_calls":[{"index":0,"function":{"arguments":"{"}}]'))
    assert "[DONE]" not in text
    assert 'finish_reason":"' not in text


def test_model_and_ids_come_from_the_input() -> None:
    encoder = OpenAIChatEncoder(sb.RunInput(run_id="r9", created_at=5))
    assert encoder.encode(TextDelta("x")).startswith(
        'data: {"id":"chatcmpl-r9","object":"chat.completion.chunk","created":5,'
        '"model":"streambridge","choices"'
    )
    encoder = OpenAIChatEncoder(sb.RunInput(run_id="r9", created_at=5, options={"model": 'a"b'}))
    assert '"model":"a\\"b"' in encoder.finish()


def test_the_completion_id_and_time_come_from_the_input() -> None:
    """(Purity itself, for every protocol: test_protocol_contract.py.)"""
    other = OpenAIChatEncoder(fixed_input(run_id="run_other", created_at=7))
    assert '"id":"chatcmpl-run_other"' in other.encode(TextDelta("t"))
    assert '"created":7,' in other.finish()


def test_a_tool_call_must_begin_before_its_arguments() -> None:
    encoder = OpenAIChatEncoder(fixed_input())
    with pytest.raises(ValueError, match="never began"):
        encoder.encode(ToolCallDelta("nope", "{"))


async def test_nan_ends_the_stream_with_an_error_frame(caplog: pytest.LogCaptureFixture) -> None:
    async def run(controller: sb.RunController) -> None:
        controller.append_text("before")
        controller.add_data({"x": float("nan")})
        controller.append_text("after")

    stream = sb.create_run(run)
    body = b"".join(
        [
            part
            async for part in sb.encode(
                stream, protocol="openai-chat", input=fixed_input(options={"model": MODEL})
            )
        ]
    )
    assert body.decode() == (
        ROLE
        + frame('"content":"before"')
        + 'data: {"error":{"message":'
        + json.dumps(sb.run.GENERIC_ERROR_MESSAGE)
        + ',"type":"server_error","param":null,"code":null}}\n\n'
        + "data: [DONE]\n\n"
    )
    assert "could not be encoded" in caplog.text
    oracle = openai_oracle_client(body)
    result = sdk_stream(oracle.client, include_usage=False)
    assert result.error is not None
    assert result.error.message == sb.run.GENERIC_ERROR_MESSAGE
    assert result.completion.choices[0].message.content == "before"


def test_protocol_metadata() -> None:
    protocol = sb.get_protocol("openai-chat")
    assert protocol.media_type == "text/event-stream"
    assert protocol.framing == "sse"
    assert protocol.headers == {}
    assert protocol.keepalive == b": keepalive\n\n"
    assert "openai-chat" in sb.protocol_names()


# -- requests -------------------------------------------------------------------------------

REALISTIC_BODY: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "developer", "content": "Be brief."},
        {
            "role": "system",
            "content": [
                {"type": "text", "text": "Answer in "},
                {"type": "text", "text": "French."},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp":21}'},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                "strict": True,
            },
        },
        {"type": "custom", "custom": {"name": "grammar_tool"}},
    ],
    "tool_choice": "auto",
    "temperature": 0.2,
    "stream": True,
    "stream_options": {"include_usage": True},
}


def test_parse_request_of_a_realistic_body() -> None:
    body = copy.deepcopy(REALISTIC_BODY)
    run_input = parse_request(body)
    assert run_input.raw["messages"] == REALISTIC_BODY["messages"]
    system, developer, user, assistant = run_input.messages
    assert [m.role for m in run_input.messages] == ["system", "system", "user", "assistant"]
    assert (system.text, developer.text) == ("Be brief.", "Answer in French.")
    assert user.parts == [
        sb.TextPart("Weather?"),
        sb.FilePart(None, "image/*", url="https://example.com/a.png"),
    ]
    [call] = assistant.tool_calls  # the tool message's content is the call's result
    assert (call.tool_call_id, call.tool_name, call.args) == (
        "call_1",
        "get_weather",
        {"city": "Paris"},
    )
    assert (call.has_result, call.result) == (True, '{"temp":21}')
    assert run_input.system == "Be brief.\n\nAnswer in French."
    assert run_input.tools == [
        {
            "name": "get_weather",
            "description": "Current weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": True,
        },
        {"type": "custom", "custom": {"name": "grammar_tool"}},
    ]
    assert run_input.options == {
        "model": "gpt-4o-mini",
        "tool_choice": "auto",
        "temperature": 0.2,
        "stream": True,
        "include_usage": True,
    }
    assert run_input.raw is body
    assert (run_input.run_id, run_input.thread_id, run_input.state) == (None, None, None)


def test_parse_request_of_a_minimal_body() -> None:
    run_input = parse_request({"messages": [{"role": "user", "content": "Hi"}]})
    assert run_input.system is None
    assert run_input.tools == []
    assert run_input.options == {"include_usage": False}
    assert OpenAIChatEncoder(run_input).finish().count('"model":"streambridge"') == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "the openai-chat request body must be a JSON object"),
        ({}, "'messages' must be a JSON array of chat messages"),
        ({"messages": {"role": "user"}}, "'messages' must be a JSON array"),
        ({"messages": ["hi"]}, r"messages\[0\] must be an object with a string 'role'"),
        (
            {"messages": [{"content": "hi"}]},
            r"messages\[0\] must be an object with a string 'role'",
        ),
        (
            {"messages": [{"role": "system", "content": 3}]},
            r"messages\[0\].content must be a string or an array",
        ),
        (
            {"messages": [{"role": "system", "content": ["x"]}]},
            r"messages\[0\].content must hold content part objects",
        ),
        (
            {"messages": [{"role": "system", "content": [{"type": "text"}]}]},
            "a text part needs a string 'text'",
        ),
        ({"messages": [], "model": 4}, "'model' must be a JSON string"),
        ({"messages": [], "stream": "yes"}, "'stream' must be a JSON boolean"),
        ({"messages": [], "stream": False}, "this endpoint only streams"),
        ({"messages": [], "n": 2}, "'n' must be 1"),
        ({"messages": [], "stream_options": []}, "'stream_options' must be a JSON object"),
        (
            {"messages": [], "stream_options": {"include_usage": "y"}},
            "'stream_options.include_usage' must be a JSON boolean",
        ),
        ({"messages": [], "tools": {}}, "'tools' must be a JSON array"),
        ({"messages": [], "tools": ["f"]}, r"tools\[0\] must be an object with a string 'type'"),
        (
            {"messages": [], "tools": [{"type": "function"}]},
            r"tools\[0\].function must be an object with a string 'name'",
        ),
        (
            {"messages": [], "tools": [{"type": "function", "function": {"name": 1}}]},
            r"tools\[0\].function must be",
        ),
    ],
)
def test_parse_request_refuses_wrong_shapes(body: Any, message: str) -> None:
    with pytest.raises(sb.RequestError, match=message):
        parse_request(body)


# -- decoding -------------------------------------------------------------------------------


def test_done_and_keepalives_give_nothing_but_the_end() -> None:
    decoder = OpenAIChatDecoder()
    assert decoder.decode(None, "") == []
    assert decoder.decode(None, "[DONE]") == [StreamEnd(None)]
    with pytest.raises(ValueError, match="after \\[DONE\\]"):
        decoder.decode(None, json.dumps({"object": "chat.completion.chunk", "choices": []}))
    assert decoder.close() == []


def test_the_decoder_refuses_what_the_protocol_does_not_allow() -> None:
    with pytest.raises(ValueError, match="unnamed"):
        OpenAIChatDecoder().decode("message.delta", "{}")
    with pytest.raises(ValueError, match="not an openai-chat chunk"):
        OpenAIChatDecoder().decode(None, "[1]")
    with pytest.raises(ValueError, match=r"not a chat\.completion\.chunk"):
        OpenAIChatDecoder().decode(None, '{"object":"response"}')
    with pytest.raises(ValueError, match="one choice"):
        OpenAIChatDecoder().decode(
            None, frame('"content":"x"').replace('"index":0', '"index":1')[6:]
        )
    with pytest.raises(ValueError, match="unknown streambridge extension type 'nope'"):
        OpenAIChatDecoder().decode(None, frame("", extension='{"type":"nope"}')[6:])
    with pytest.raises(ValueError, match="before its id"):
        OpenAIChatDecoder().decode(None, frame('"tool_calls":[{"index":0,"function":{}}]')[6:])


def test_a_stream_that_said_how_it_ended_ends_without_done() -> None:
    decoder = OpenAIChatDecoder()
    assert decoder.decode(None, frame("", finish='"length"')[6:]) == []
    assert decoder.close() == [StreamEnd("length")]
    decoder = OpenAIChatDecoder()
    assert decoder.decode(None, '{"error":{"message":""}}') == [
        Error("An error occurred during streaming")
    ]
    assert decoder.close() == [StreamEnd("error")]


def test_decoding_a_stream_in_openai_shape() -> None:
    """A stream as OpenAI's own server writes one (role chunk with empty content, ``usage: null``
    in every chunk, logprobs and fingerprints, tool-call ids repeated on later fragments)."""
    base = {
        "id": "chatcmpl-B9",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o",
        "system_fingerprint": "fp_1",
        "usage": None,
        "obfuscation": "xx",
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return "data: " + json.dumps({**base, "choices": [choice]}) + "\n\n"

    call = {"index": 0, "id": "call_9", "type": "function"}
    body = (
        chunk({"role": "assistant", "content": "", "refusal": None})
        + chunk({"content": "Hel"})
        + chunk({"content": "lo"})
        + chunk({"tool_calls": [{**call, "function": {"name": "f", "arguments": ""}}]})
        + chunk({"tool_calls": [{**call, "function": {"arguments": '{"a":'}}]})
        + chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]})
        + chunk({}, "tool_calls")
        + "data: "
        + json.dumps(
            {
                **base,
                "choices": [],
                "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
            }
        )
        + "\n\ndata: [DONE]\n\n"
    )
    assert decode(body.encode(), "openai-chat") == [
        TextDelta("Hel"),
        TextDelta("lo"),
        ToolCallBegin("call_9", "f"),
        ToolCallDelta("call_9", '{"a":'),
        ToolCallDelta("call_9", "1}"),
        ToolCallArgsFinish("call_9"),
        StreamEnd("tool-calls", 3, 4),
    ]


@settings(max_examples=150, deadline=None)
@given(chunk_sequences())
def test_decode_inverts_encode(chunks: list[Chunk]) -> None:
    got, want = round_trip(chunks, "openai-chat", project_round_trip)
    assert got == want
    # With include_usage the usage chunk carries the total too: nothing is lost at all.
    data = scenario_encode(
        chunks, "openai-chat", input=fixed_input(options={"include_usage": True})
    )
    assert summary(accumulate(decode(data, "openai-chat"))) == summary(
        accumulate(chunks, complete=True)
    )


def project_round_trip(want: dict[str, Any]) -> dict[str, Any]:
    """Without ``stream_options.include_usage`` there is no usage chunk, so no total usage (the
    per-step usage still rides in the step-finish extension frames)."""
    want["usage"] = None
    return want


# -- the official client --------------------------------------------------------------------


@dataclass
class SdkResult:
    completion: Any
    """``get_final_completion()``, or the snapshot when the SDK raised ``APIError``."""
    chunks: list[ChatCompletionChunk]
    error: openai.APIError | None
    final_error: Exception | None = None
    """What ``get_final_completion()`` raised (its parse step), the snapshot then standing in."""


def sdk_stream(
    client: openai.OpenAI, *, include_usage: bool, tool_names: list[str] | tuple[str, ...] = ()
) -> SdkResult:
    """``client.chat.completions.stream(...)``: the SDK's own accumulation of the stream.

    Tools are declared ``strict`` so that the SDK parses each call's arguments itself.
    """
    request: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    if include_usage:
        request["stream_options"] = {"include_usage": True}
    if tool_names:
        request["tools"] = [
            {"type": "function", "function": {"name": n, "parameters": {}, "strict": True}}
            for n in tool_names
        ]
    chunks: list[ChatCompletionChunk] = []
    with client.chat.completions.stream(**request) as stream:
        try:
            for event in stream:
                if event.type == "chunk":
                    chunks.append(event.chunk)
        except openai.APIError as exc:
            if type(exc) is not openai.APIError:  # a validation or transport failure: a bug
                raise
            return SdkResult(stream.current_completion_snapshot, chunks, exc)
        try:
            return SdkResult(stream.get_final_completion(), chunks, None)
        except openai.LengthFinishReasonError as exc:
            # The helper's final parse refuses any completion that hit the length limit.
            return SdkResult(exc.completion, chunks, None, exc)
        except json.JSONDecodeError as exc:
            # A strict tool's arguments cut off mid-JSON: the final parse fails; the snapshot
            # has what arrived.
            return SdkResult(stream.current_completion_snapshot, chunks, None, exc)


_CHUNK_REASONS = {"tool_calls": "tool-calls", "content_filter": "content-filter"}


def client_summary(result: SdkResult, state: Any) -> dict[str, Any]:
    """What the SDK built, in the scenarios' plain form (see scenarios.summary): text, reasoning,
    tool calls (arguments as the SDK parsed them), finish reason, usage and the error from its
    standard fields; results, sources, files, data, state and steps from the ``streambridge``
    extension of the chunks it validated."""
    choice = result.completion.choices[0]
    message = choice.message
    extensions = [(chunk.model_extra or {}).get("streambridge") or {} for chunk in result.chunks]
    extensions = [ext for ext in extensions if "type" in ext]
    results = {e["tool_call_id"]: e for e in extensions if e["type"] == "tool-result"}
    for ext in extensions:
        if ext["type"] == "update-state":
            for operation in ext["operations"]:
                state = apply_operation(state, operation)
    usage = result.completion.usage
    return {
        "text": message.content or "",
        "reasoning": getattr(message, "reasoning_content", None) or "",
        "tool_calls": [
            {
                "id": call.id,
                "name": call.function.name,
                # parsed by the SDK for the strict tools a test declared; else as any client
                "args": (
                    json.loads(call.function.arguments)
                    if call.function.parsed_arguments is None
                    else call.function.parsed_arguments
                ),
                "result": results.get(call.id, {}).get("result"),
                "is_error": results.get(call.id, {}).get("is_error", False),
            }
            for call in message.tool_calls or []
        ],
        "sources": [
            {"url": e["url"], "title": e.get("title")} for e in extensions if e["type"] == "source"
        ],
        "files": [
            {"data": e["data"], "mime_type": e["mime_type"]}
            for e in extensions
            if e["type"] == "file"
        ],
        "data": [
            {"name": e.get("name"), "data": e["data"]} for e in extensions if e["type"] == "data"
        ],
        "state": state,
        "finish_reason": (
            "error"
            if result.error is not None
            else _CHUNK_REASONS.get(choice.finish_reason, choice.finish_reason)
        ),
        "usage": None
        if usage is None
        else {"input": usage.prompt_tokens, "output": usage.completion_tokens},
        "steps": [
            (e["input_tokens"], e["output_tokens"])
            for e in extensions
            if e["type"] == "step-finish"
        ],
        "errors": [] if result.error is None else [result.error.message],
    }


def project(want: dict[str, Any], *, include_usage: bool) -> dict[str, Any]:
    """What an OpenAI SDK client can get: everything, except the total usage when the request
    did not ask ``stream_options.include_usage`` (no usage chunk is sent) or when the stream
    carried an error (the SDK raises at the error frame and never reads the usage chunk behind
    it)."""
    if not include_usage or want["errors"]:
        want["usage"] = None
    return want


def sdk_raw(
    client: openai.OpenAI, *, include_usage: bool
) -> tuple[list[ChatCompletionChunk], openai.APIError | None]:
    """Iterate ``client.chat.completions.create(stream=True)``: every chunk, strictly validated."""
    chunks: list[ChatCompletionChunk] = []
    options: dict[str, Any] = {"stream_options": {"include_usage": True}} if include_usage else {}
    try:
        for chunk in client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Hi"}], stream=True, **options
        ):
            chunks.append(chunk)
    except openai.APIError as exc:
        if type(exc) is not openai.APIError:
            raise
        return chunks, exc
    return chunks, None


def raw_summary(chunks: list[ChatCompletionChunk]) -> dict[str, Any]:
    """The raw chunks accumulated by hand, as any client iterating the stream would."""
    text, reasoning, finish, usage = "", "", None, None
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        assert (chunk.id, chunk.created, chunk.model) == ("chatcmpl-run_fixed", 1760000000, MODEL)
        if chunk.usage is not None:
            usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        for choice in chunk.choices:
            text += choice.delta.content or ""
            reasoning += (choice.delta.model_extra or {}).get("reasoning_content") or ""
            for call in choice.delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] += call.id or ""
                if call.function is not None:
                    entry["name"] += call.function.name or ""
                    entry["arguments"] += call.function.arguments or ""
            finish = choice.finish_reason or finish
    return {
        "text": text,
        "reasoning": reasoning,
        "calls": [calls[i] for i in sorted(calls)],
        "finish": finish,
        "usage": usage,
    }


def scenario_server(scenario: Scenario, chunks: list[Chunk]) -> Any:
    """The fake server's answer: parse the SDK's request as a streambridge host would, then
    encode the scenario's chunks with that input."""

    def respond(request: httpx.Request) -> bytes:
        run_input = parse_request(json.loads(request.content))
        run_input.run_id, run_input.created_at = "run_fixed", 1_760_000_000
        return scenario_encode(chunks, "openai-chat", complete=scenario.complete, input=run_input)

    return respond


def tool_names(chunks: list[Chunk]) -> list[str]:
    return sorted({c.tool_name for c in chunks if isinstance(c, ToolCallBegin)})


EXPECTED: dict[str, dict[str, Any]] = {
    "plain_text": {"text": "Hello, wörld 😀\nline two\r\n“quotes” \\ \u2028 end", "finish": "stop"},
    "reasoning_then_text": {"reasoning": "Let me think...", "text": "Answer"},
    "one_tool_call": {
        "calls": [
            {
                "id": "call_1",
                "name": "get_weather",
                "arguments": '{"city": "Paris", "days": [1, 2]}',
            }
        ],
        "text": "It is 21°C.",
        "finish": "stop",
    },
    "interleaved_tool_calls": {
        "calls": [
            {"id": "call_a", "name": "a", "arguments": '{"x":1}'},
            {"id": "call_b", "name": "b", "arguments": '{"y":2}'},
        ]
    },
    "parent_ids": {"calls": [{"id": "call_g", "name": "t", "arguments": "{}"}]},
    "steps_with_usage": {"text": "onetwo"},
    "error_mid_stream": {"text": "partial", "finish": None},
    "cancelled_mid_tool_call": {
        "text": "Looking it up",
        "calls": [{"id": "call_cut", "name": "search", "arguments": '{"query": "stre'}],
        "finish": None,
        "usage": None,
    },
}


@pytest.mark.parametrize("include_usage", [False, True], ids=["no-usage", "usage"])
@pytest.mark.parametrize("fragment", [False, True], ids=["whole", "fragments"])
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_official_client_accepts(name: str, fragment: bool, include_usage: bool) -> None:
    scenario = SCENARIOS[name]
    chunks = await produce(scenario)
    seed = zlib.crc32(name.encode())
    oracle = openai_oracle_client(scenario_server(scenario, chunks), fragment=fragment, seed=seed)

    result = sdk_stream(oracle.client, include_usage=include_usage, tool_names=tool_names(chunks))
    request = oracle.request_json()
    assert request["stream"] is True
    assert parse_request(request).options["include_usage"] is include_usage

    got = client_summary(result, copy.deepcopy(scenario.state))
    want = project(summary(expected(scenario, chunks)), include_usage=include_usage)
    if scenario.complete:
        assert result.final_error is None
    else:
        # Cut short: no finish reason and no [DONE]. Iterating ends quietly (no error, no wait);
        # get_final_completion() then fails to json.loads the cut arguments of the strict tool,
        # so the snapshot is what the client has: finish_reason None, the arguments text as far
        # as it came, and the SDK's partial parse of it, which keeps only complete values ({}
        # here, where streambridge.client keeps the trailing string: {"query": "stre"}).
        assert isinstance(result.final_error, json.JSONDecodeError)
        [call] = result.completion.choices[0].message.tool_calls
        assert call.function.arguments == '{"query": "stre'
        assert got["tool_calls"][0].pop("args") == {}
        assert want["tool_calls"][0].pop("args") == {"query": "stre"}
    assert got == want
    assert result.completion.model == MODEL

    chunks_raw, error = sdk_raw(oracle.client, include_usage=include_usage)
    raw = raw_summary(chunks_raw)
    for key, value in EXPECTED.get(name, {}).items():
        assert raw[key] == value, key
    assert raw["text"] == got["text"]
    assert raw["reasoning"] == got["reasoning"]
    assert [(c["id"], c["name"]) for c in raw["calls"]] == [
        (c["id"], c["name"]) for c in got["tool_calls"]
    ]
    expected_usage = None if want["usage"] is None else tuple(want["usage"].values())
    assert raw["usage"] == expected_usage
    assert (error is None) == (result.error is None)

    if name == "error_mid_stream":
        assert result.error is not None
        assert error is not None
        assert result.error.message == error.message == sb.run.GENERIC_ERROR_MESSAGE
        assert result.completion.choices[0].message.content == "partial"  # delivered first
        assert "secret" not in json.dumps(got)
    if name == "nested_state":
        assert got["state"] == {
            "doc": {"title": "Draft", "sections": [{"body": "xyz"}, {"body": ""}]}
        }
    if name == "steps_with_usage":
        assert got["steps"] == [(10, 5), (20, 7)]
        assert got["usage"] == ({"input": 30, "output": 12} if include_usage else None)
    if name == "tool_error":
        assert got["tool_calls"][0]["is_error"] is True


async def test_secret_never_reaches_the_wire() -> None:
    chunks = await produce(SCENARIOS["error_mid_stream"])
    body = scenario_encode(chunks, "openai-chat")
    assert b"secret" not in body


def test_official_client_sees_tool_calls_waiting_for_results() -> None:
    body = encode_all(
        [ToolCallBegin("call_ui", "frontend_tool"), ToolCallDelta("call_ui", '{"a": 1}')],
        include_usage=True,
    ).encode()
    result = sdk_stream(
        openai_oracle_client(body).client, include_usage=True, tool_names=["frontend_tool"]
    )
    choice = result.completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls[0].function.parsed_arguments == {"a": 1}
    assert result.completion.usage.total_tokens == 0


def test_official_client_reports_length() -> None:
    body = encode_all([TextDelta("cut"), StepFinish("length", 1, 2)], include_usage=True).encode()
    client = openai_oracle_client(body).client
    chunks, error = sdk_raw(client, include_usage=True)
    assert error is None
    assert raw_summary(chunks)["finish"] == "length"
    # The stream helper's final parse refuses a completion cut by the length limit, by design.
    result = sdk_stream(client, include_usage=True)
    assert isinstance(result.final_error, openai.LengthFinishReasonError)
    assert result.completion.choices[0].message.content == "cut"
    assert result.completion.choices[0].finish_reason == "length"
    assert result.completion.usage.completion_tokens == 2


@st.composite
def interleaved_tool_calls(draw: st.DrawFn) -> list[Chunk]:
    """Two or three tool calls whose chunks interleave (each call's own order kept), as
    concurrent tools produce them."""
    calls = [draw(tool_call(i)) for i in range(draw(st.integers(2, 3)))]
    chunks: list[Chunk] = []
    while any(calls):
        call = draw(st.sampled_from([c for c in calls if c]))
        chunks.append(call.pop(0))
    if draw(st.booleans()):
        chunks.append(TextDelta(draw(st.sampled_from(["done", "ok"]))))
    return chunks


def sdk_verdict(chunks: list[Chunk], include_usage: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what the SDK built from the encoded chunks, in fragments, what the chunks say,
    projected)."""
    options = {"model": MODEL, "include_usage": include_usage}
    body = scenario_encode(chunks, "openai-chat", input=fixed_input(options=options))
    oracle = openai_oracle_client(body, fragment=True, seed=len(body))
    # No tools declared: with strict tools the helper raises LengthFinishReasonError as soon as
    # a "length" finish arrives, before the usage chunk (test_official_client_reports_length).
    result = sdk_stream(oracle.client, include_usage=include_usage)
    assert result.final_error is None or isinstance(
        result.final_error, openai.LengthFinishReasonError
    )
    want = project(summary(accumulate(chunks, complete=True)), include_usage=include_usage)
    return client_summary(result, None), want


@settings(max_examples=100, deadline=None)
@given(chunk_sequences(), st.booleans())
def test_official_client_reads_any_run(chunks: list[Chunk], include_usage: bool) -> None:
    got, want = sdk_verdict(chunks, include_usage)
    assert got == want


@settings(max_examples=100, deadline=None)
@given(interleaved_tool_calls(), st.booleans())
def test_interleaved_tool_calls_reach_the_sdk_one_at_a_time(
    chunks: list[Chunk], include_usage: bool
) -> None:
    got, want = sdk_verdict(chunks, include_usage)
    assert got == want
    data = scenario_encode(chunks, "openai-chat")
    assert summary(accumulate(decode(data, "openai-chat"))) == project_round_trip(
        summary(accumulate(chunks, complete=True))
    )


def test_a_call_that_begins_during_another_waits_for_it() -> None:
    text = encode_all(
        [
            ToolCallBegin("a", "fa"),
            ToolCallBegin("b", "fb", parent_id="p"),
            ToolCallDelta("a", '{"x":'),
            ToolCallDelta("b", '{"y":'),
            TextDelta("meanwhile"),
            ToolCallDelta("b", "2}"),
            ToolCallArgsFinish("b"),
            ToolResult("b", "B"),
            ToolCallBegin("c", "fc"),
            ToolCallDelta("a", "1}"),
            ToolCallArgsFinish("a"),
            ToolResult("a", "A"),
        ]
    )
    assert text == "".join(
        [
            ROLE,
            frame(
                '"tool_calls":[{"index":0,"id":"a","type":"function",'
                '"function":{"name":"fa","arguments":""}}]'
            ),
            frame('"tool_calls":[{"index":0,"function":{"arguments":"{\\"x\\":"}}]'),
            frame('"content":"meanwhile"'),
            frame('"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]'),
            # a's arguments are finished: b goes on the wire with what it held, then c waits
            # no longer (it is open, so it stays on the wire until the stream's end).
            frame(
                '"tool_calls":[{"index":1,"id":"b","type":"function",'
                '"function":{"name":"fb","arguments":""}}]',
                extension='{"parent_id":"p"}',
            ),
            frame('"tool_calls":[{"index":1,"function":{"arguments":"{\\"y\\":2}"}}]'),
            frame("", extension='{"type":"tool-result","tool_call_id":"b","result":"B"}'),
            frame(
                '"tool_calls":[{"index":2,"id":"c","type":"function",'
                '"function":{"name":"fc","arguments":""}}]'
            ),
            frame("", extension='{"type":"tool-result","tool_call_id":"a","result":"A"}'),
            frame('"tool_calls":[{"index":2,"function":{"arguments":"{}"}}]'),
            frame("", finish='"tool_calls"'),
            "data: [DONE]\n\n",
        ]
    )


async def test_official_client_accepts_keepalives() -> None:
    async def run(c: sb.RunController) -> None:
        c.append_text("a")
        await anyio.sleep(0.12)
        c.append_text("b")

    stream = sb.create_run(run)
    body = b"".join(
        [
            part
            async for part in sb.encode(
                stream,
                protocol="openai-chat",
                heartbeat=0.03,
                input=fixed_input(options={"model": MODEL}),
            )
        ]
    )
    assert b": keepalive\n\n" in body
    oracle = openai_oracle_client(body, fragment=True)
    result = sdk_stream(oracle.client, include_usage=False)
    assert result.completion.choices[0].message.content == "ab"
    assert decode(body, "openai-chat") == [TextDelta("a"), TextDelta("b"), StreamEnd("stop")]
