"""The openai-responses protocol: exact frames, and the official OpenAI SDK's verdict on runs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import anyio
import jiter
import openai
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
from streambridge.protocols.openai_responses import (
    OpenAIResponsesDecoder,
    OpenAIResponsesEncoder,
    parse_request,
)
from support.chunk_strategies import chunk_sequences, round_trip
from support.openai_oracle import fragments, openai_oracle_client
from support.scenarios import (
    SCENARIOS,
    encode_chunks,
    expected,
    fixed_input,
    produce,
    scenario_bytes,
)
from support.scenarios import summary as scenario_summary

pytestmark = pytest.mark.anyio

PROTOCOL = "openai-responses"
GENERIC = sb.run.GENERIC_ERROR_MESSAGE


# -- exact frames ------------------------------------------------------------------------------


def frame(type_: str, seq: int, **fields: Any) -> str:
    """One event as OpenAI frames it: its type as the SSE event name, compact JSON data (with
    U+2028 escaped, which streambridge writes so that every event is one line)."""
    data = json.dumps(
        {"type": type_, "sequence_number": seq, **fields}, ensure_ascii=False, separators=(",", ":")
    ).replace("\u2028", "\\u2028")
    return f"event: {type_}\ndata: {data}\n\n"


def response(status: str, output: list[Any], usage: Any = None, **overrides: Any) -> dict[str, Any]:
    return {
        "id": "resp_run_fixed",
        "object": "response",
        "created_at": 1_760_000_000,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "model": "streambridge",
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage,
        **overrides,
    }


def usage(input_tokens: int = 0, output_tokens: int = 0) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


OPENING = [
    frame("response.created", 0, response=response("in_progress", [])),
    frame("response.in_progress", 1, response=response("in_progress", [])),
]


def message(index: int, text: str, status: str = "completed", annotations: Any = ()) -> Any:
    return {
        "id": f"msg_run_fixed_{index}",
        "type": "message",
        "status": status,
        "content": [
            {"type": "output_text", "annotations": list(annotations), "logprobs": [], "text": text}
        ],
        "role": "assistant",
    }


def message_opening(index: int, seq: int) -> list[str]:
    item_id = f"msg_run_fixed_{index}"
    return [
        frame(
            "response.output_item.added",
            seq,
            output_index=index,
            item={**message(index, "", "in_progress"), "content": []},
        ),
        frame(
            "response.content_part.added",
            seq + 1,
            item_id=item_id,
            output_index=index,
            content_index=0,
            part={"type": "output_text", "annotations": [], "logprobs": [], "text": ""},
        ),
    ]


def text_delta(index: int, seq: int, delta: str) -> str:
    return frame(
        "response.output_text.delta",
        seq,
        item_id=f"msg_run_fixed_{index}",
        output_index=index,
        content_index=0,
        delta=delta,
        logprobs=[],
    )


def message_closing(index: int, seq: int, item: Any) -> list[str]:
    part = item["content"][0]
    where = {"item_id": item["id"], "output_index": index, "content_index": 0}
    return [
        frame("response.output_text.done", seq, **where, text=part["text"], logprobs=[]),
        frame("response.content_part.done", seq + 1, **where, part=part),
        frame("response.output_item.done", seq + 2, output_index=index, item=item),
    ]


def encoded(chunks: list[Chunk], *, complete: bool = True, **input: Any) -> str:
    return encode_chunks(chunks, PROTOCOL, complete=complete, input=fixed_input(**input)).decode()


def split(body: str) -> list[str]:
    return [event + "\n\n" for event in body.split("\n\n") if event]


async def test_text_frames_and_the_completed_response() -> None:
    # A parent id has no place in a Responses event: grouped text joins the open message.
    body = encoded([TextDelta("Hi\n"), TextDelta("“😀” \u2028", parent_id="p")])
    item = message(0, "Hi\n“😀” \u2028")
    assert split(body) == [
        *OPENING,
        *message_opening(0, 2),
        text_delta(0, 4, "Hi\n"),
        text_delta(0, 5, "“😀” \u2028"),
        *message_closing(0, 6, item),
        frame("response.completed", 9, response=response("completed", [item], usage())),
    ]
    # The hot path's exact bytes, spelled out once.
    assert split(body)[4] == (
        "event: response.output_text.delta\n"
        'data: {"type":"response.output_text.delta","sequence_number":4,'
        '"item_id":"msg_run_fixed_0","output_index":0,"content_index":0,'
        '"delta":"Hi\\n","logprobs":[]}\n\n'
    )


async def test_reasoning_frames_are_a_reasoning_summary() -> None:
    body = encoded([ReasoningDelta("hmm"), ReasoningDelta("!"), TextDelta("ok")])
    where = {"item_id": "rs_run_fixed_0", "output_index": 0, "summary_index": 0}
    summary = {"type": "summary_text", "text": "hmm!"}
    reasoning = {"id": "rs_run_fixed_0", "type": "reasoning", "summary": [summary]}
    item = message(1, "ok")
    assert split(body) == [
        *OPENING,
        frame(
            "response.output_item.added",
            2,
            output_index=0,
            item={"id": "rs_run_fixed_0", "type": "reasoning", "summary": []},
        ),
        frame(
            "response.reasoning_summary_part.added",
            3,
            **where,
            part={"type": "summary_text", "text": ""},
        ),
        frame("response.reasoning_summary_text.delta", 4, **where, delta="hmm"),
        frame("response.reasoning_summary_text.delta", 5, **where, delta="!"),
        frame("response.reasoning_summary_text.done", 6, **where, text="hmm!"),
        frame("response.reasoning_summary_part.done", 7, **where, part=summary),
        frame(
            "response.output_item.done",
            8,
            output_index=0,
            item={**reasoning, "status": "completed"},
        ),
        *message_opening(1, 9),
        text_delta(1, 11, "ok"),
        *message_closing(1, 12, item),
        frame(
            "response.completed",
            15,
            response=response("completed", [{**reasoning, "status": "completed"}, item], usage()),
        ),
    ]


def call_item(index: int, call_id: str, name: str, arguments: str, status: str) -> Any:
    return {
        "id": f"fc_run_fixed_{index}",
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call_id,
        "name": name,
    }


def output_item(index: int, call_id: str, output: str, status: str) -> Any:
    return {
        "id": f"fco_run_fixed_{index}",
        "type": "function_call_output",
        "status": status,
        "call_id": call_id,
        "output": output,
    }


async def test_tool_call_frames_and_the_result_as_a_function_call_output() -> None:
    body = encoded(
        [
            TextDelta("Let me look"),
            ToolCallBegin("c1", "search", parent_id="p"),
            ToolCallDelta("c1", '{"q":'),
            ToolCallDelta("c1", "1}"),
            ToolCallArgsFinish("c1"),
            ToolCallDelta("c1", "ignored: the arguments are closed"),
            ToolCallBegin("c1", "ignored: a call id names one function_call item"),
            # The artifact and the error flag have no Responses field.
            ToolResult("c1", {"ok": True, "n": 1.5}, artifact=[1], is_error=True),
        ]
    )
    where = {"item_id": "fc_run_fixed_1", "output_index": 1}
    call = call_item(1, "c1", "search", '{"q":1}', "completed")
    result = output_item(2, "c1", '{"ok":true,"n":1.5}', "completed")
    text = message(0, "Let me look")
    assert split(body) == [
        *OPENING,
        *message_opening(0, 2),
        text_delta(0, 4, "Let me look"),
        *message_closing(0, 5, text),  # a new output item closes the message
        frame(
            "response.output_item.added",
            8,
            output_index=1,
            item=call_item(1, "c1", "search", "", "in_progress"),
        ),
        frame("response.function_call_arguments.delta", 9, **where, delta='{"q":'),
        frame("response.function_call_arguments.delta", 10, **where, delta="1}"),
        frame("response.function_call_arguments.done", 11, **where, arguments='{"q":1}'),
        frame("response.output_item.done", 12, output_index=1, item=call),
        frame(
            "response.output_item.added",
            13,
            output_index=2,
            item={**result, "status": "in_progress"},
        ),
        frame("response.output_item.done", 14, output_index=2, item=result),
        frame(
            "response.completed", 15, response=response("completed", [text, call, result], usage())
        ),
    ]


async def test_a_call_waiting_for_its_result_completes_with_empty_object_arguments() -> None:
    body = encoded([ToolCallBegin("c2", "now"), StepFinish("tool-calls", 3, 4)])
    where = {"item_id": "fc_run_fixed_0", "output_index": 0}
    call = call_item(0, "c2", "now", "{}", "completed")
    assert split(body) == [
        *OPENING,
        frame(
            "response.output_item.added",
            2,
            output_index=0,
            item={**call, "status": "in_progress", "arguments": ""},
        ),
        frame("response.function_call_arguments.delta", 3, **where, delta="{}"),
        frame("response.function_call_arguments.done", 4, **where, arguments="{}"),
        frame("response.output_item.done", 5, output_index=0, item=call),
        frame("response.completed", 6, response=response("completed", [call], usage(3, 4))),
    ]


async def test_sources_are_url_citations_on_the_output_text() -> None:
    body = encoded(
        [
            TextDelta("See "),
            TextDelta("this"),
            Source("s1", "https://example.com/a", title="A", parent_id="p"),
            Source("s2", "https://example.com/b", source_type="document"),
        ]
    )
    first = {
        "type": "url_citation",
        "start_index": 8,
        "end_index": 8,
        "url": "https://example.com/a",
        "title": "A",
    }
    second = {**first, "url": "https://example.com/b", "title": ""}
    where = {"item_id": "msg_run_fixed_0", "output_index": 0, "content_index": 0}
    item = message(0, "See this", annotations=[first, second])
    assert split(body) == [
        *OPENING,
        *message_opening(0, 2),
        text_delta(0, 4, "See "),
        text_delta(0, 5, "this"),
        frame(
            "response.output_text.annotation.added",
            6,
            **where,
            annotation_index=0,
            annotation=first,
        ),
        frame(
            "response.output_text.annotation.added",
            7,
            **where,
            annotation_index=1,
            annotation=second,
        ),
        *message_closing(0, 8, item),
        frame("response.completed", 11, response=response("completed", [item], usage())),
    ]


async def test_a_source_without_text_opens_a_message_to_hold_its_citation() -> None:
    body = encoded([Source("s1", "https://example.com", title="Ex")])
    citation = {
        "type": "url_citation",
        "start_index": 0,
        "end_index": 0,
        "url": "https://example.com",
        "title": "Ex",
    }
    item = message(0, "", annotations=[citation])
    assert split(body)[2:] == [
        *message_opening(0, 2),
        frame(
            "response.output_text.annotation.added",
            4,
            item_id="msg_run_fixed_0",
            output_index=0,
            content_index=0,
            annotation_index=0,
            annotation=citation,
        ),
        *message_closing(0, 5, item),
        frame("response.completed", 8, response=response("completed", [item], usage())),
    ]


async def test_images_are_image_generation_calls_and_other_files_are_not_sent() -> None:
    body = encoded(
        [File("aGk=", "image/png"), File("aGk=", "text/plain"), File("eA==", "image/jpeg")]
    )
    png = {
        "id": "ig_run_fixed_0",
        "type": "image_generation_call",
        "status": "completed",
        "result": "aGk=",
        "output_format": "png",
    }
    jpeg = {**png, "id": "ig_run_fixed_1", "result": "eA==", "output_format": "jpeg"}
    assert split(body) == [
        *OPENING,
        frame(
            "response.output_item.added",
            2,
            output_index=0,
            item={**png, "status": "in_progress", "result": None},
        ),
        frame("response.output_item.done", 3, output_index=0, item=png),
        frame(
            "response.output_item.added",
            4,
            output_index=1,
            item={**jpeg, "status": "in_progress", "result": None},
        ),
        frame("response.output_item.done", 5, output_index=1, item=jpeg),
        frame("response.completed", 6, response=response("completed", [png, jpeg], usage())),
    ]


async def test_data_state_annotations_and_step_boundaries_send_nothing() -> None:
    body = encoded(
        [
            StepStart("m1"),
            Data({"a": 1}),
            Data([1], name="n"),
            Annotations(({"x": 1},)),
            StateUpdate(({"type": "set", "path": ["a"], "value": 1},)),
            StepFinish("stop", 5, 6, is_continued=True),
            StepStart("m2"),
            StepFinish("stop", 1, 1),
        ]
    )
    assert split(body) == [
        *OPENING,
        frame("response.completed", 2, response=response("completed", [], usage(6, 7))),
    ]


async def test_an_error_is_an_error_event_then_the_response_fails() -> None:
    body = encoded(
        [
            TextDelta("partial"),
            ToolCallBegin("c1", "t"),
            ToolCallDelta("c1", '{"a"'),
            Error("careful"),
        ]
    )
    text = message(0, "partial")
    call = call_item(1, "c1", "t", '{"a"', "incomplete")  # the error cut its arguments short
    where = {"item_id": "fc_run_fixed_1", "output_index": 1}
    failed = response(
        "failed",
        [text, call],
        usage(),
        error={"code": "server_error", "message": "careful"},
    )
    assert split(body) == [
        *OPENING,
        *message_opening(0, 2),
        text_delta(0, 4, "partial"),
        *message_closing(0, 5, text),
        frame(
            "response.output_item.added",
            8,
            output_index=1,
            item=call_item(1, "c1", "t", "", "in_progress"),
        ),
        frame("response.function_call_arguments.delta", 9, **where, delta='{"a"'),
        frame("response.function_call_arguments.done", 10, **where, arguments='{"a"'),
        frame("response.output_item.done", 11, output_index=1, item=call),
        frame("error", 12, code="server_error", message="careful", param=None),
        frame("response.failed", 13, response=failed),
    ]


async def test_an_error_at_the_end_marks_open_items_incomplete() -> None:
    body = encoded([TextDelta("partial"), Error("careful")])
    text = message(0, "partial", "incomplete")
    failed = response(
        "failed", [text], usage(), error={"code": "server_error", "message": "careful"}
    )
    assert split(body)[5:] == [
        frame("error", 5, code="server_error", message="careful", param=None),
        *message_closing(0, 6, text),
        frame("response.failed", 9, response=failed),
    ]


async def test_a_length_finish_is_an_incomplete_response() -> None:
    body = encoded([TextDelta("cut"), StepFinish("length", 1, 2)])
    item = message(0, "cut")
    incomplete = response(
        "incomplete",
        [item],
        usage(1, 2),
        incomplete_details={"reason": "max_output_tokens"},
    )
    assert split(body)[-1] == frame("response.incomplete", 8, response=incomplete)


async def test_the_response_echoes_the_request() -> None:
    body = encoded(
        [],
        run_id="run_42",
        created_at=7,
        system="Be brief",
        options={
            "model": "gpt-test",
            "previous_response_id": "resp_prev",
            "parallel_tool_calls": False,
            "tool_choice": "required",
        },
    )
    created = json.loads(split(body)[0].split("data: ", 1)[1])["response"]
    assert created == {
        **response("in_progress", []),
        "id": "resp_run_42",
        "created_at": 7,
        "instructions": "Be brief",
        "model": "gpt-test",
        "previous_response_id": "resp_prev",
        "parallel_tool_calls": False,
        "tool_choice": "required",
    }


async def test_a_cut_stream_just_stops() -> None:
    body = encoded([TextDelta("a"), ToolCallBegin("c", "t")], complete=False)
    assert split(body)[-1] == frame(
        "response.output_item.added",
        8,
        output_index=1,
        item=call_item(1, "c", "t", "", "in_progress"),
    )
    assert "response.completed" not in body


def sequence_numbers(body: str) -> list[int]:
    numbers = []
    for event in split(body):
        name, data = event.removesuffix("\n\n").split("\n")
        value = json.loads(data.removeprefix("data: "))
        assert name == "event: " + value["type"]
        numbers.append(value["sequence_number"])
    return numbers


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_sequence_numbers_are_gapless_from_zero(name: str) -> None:
    _, body = await scenario_bytes(SCENARIOS[name], PROTOCOL)
    numbers = sequence_numbers(body.decode())
    assert numbers == list(range(len(numbers)))
    assert len(numbers) >= 3


async def test_ids_and_times_come_from_the_input() -> None:
    """(Purity itself, for every protocol: test_protocol_contract.py.)"""
    chunks = await produce(SCENARIOS["one_tool_call"])
    first = encode_chunks(chunks, PROTOCOL)
    other = encode_chunks(chunks, PROTOCOL, input=fixed_input(run_id="run_other", created_at=1))
    assert other != first
    assert other == first.replace(b"run_fixed", b"run_other").replace(b"1760000000", b"1")


async def test_nan_ends_the_stream_with_a_failed_response(caplog: pytest.LogCaptureFixture) -> None:
    async def run(controller: sb.RunController) -> None:
        controller.append_text("before")
        controller.add_data({"x": float("nan")})  # not sent, but refused as in every protocol
        controller.append_text("after")

    body = b"".join([part async for part in sb.encode(sb.create_run(run), protocol=PROTOCOL)])
    text = body.decode()
    assert "NaN" not in text
    assert "after" not in text
    numbers = sequence_numbers(text)
    assert numbers == list(range(len(numbers)))
    events = [json.loads(e.split("data: ", 1)[1]) for e in split(text)]
    assert events[-5]["type"] == "error"
    assert events[-5]["message"] == GENERIC
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["error"] == {"code": "server_error", "message": GENERIC}
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "before"
    assert "could not be encoded" in caplog.text

    run_result = read_with_sdk(body, tools=())
    assert [e.type for e in run_result.events][-2:] == [
        "response.output_item.done",
        "response.failed",
    ]
    assert run_result.final is None


async def test_a_refused_tool_result_leaves_no_gap() -> None:
    encoder = OpenAIResponsesEncoder(fixed_input())
    head = encoder.encode(ToolCallBegin("c", "t"))
    with pytest.raises(ValueError, match="Out of range float values"):
        encoder.encode(ToolResult("c", float("inf")))
    rest = encoder.encode(Error(GENERIC)) + encoder.finish()
    numbers = sequence_numbers(head + rest)
    assert numbers == list(range(len(numbers)))


async def test_protocol_metadata() -> None:
    protocol = sb.get_protocol(PROTOCOL)
    assert protocol.media_type == "text/event-stream"
    assert protocol.framing == "sse"
    assert protocol.headers == {}
    assert protocol.keepalive == b": keepalive\n\n"
    assert PROTOCOL in sb.protocol_names()


# -- the request -------------------------------------------------------------------------------


def test_parse_request_reads_what_the_sdk_sends() -> None:
    oracle = openai_oracle_client(b"")
    tools = [
        {
            "type": "function",
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": True,
        }
    ]
    items: list[Any] = [
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": '{"temp":21}'},
    ]
    with oracle.client.responses.stream(
        model="gpt-test",
        input=items,
        instructions="Be brief",
        tools=tools,
        previous_response_id="resp_prev",
        temperature=0.2,
        conversation="conv_1",
    ) as stream:
        assert list(stream) == []
    body = oracle.request_json(0)
    run_input = parse_request(body)
    assert run_input.raw["input"] == items
    call = sb.ToolCallPart("c1", "get_weather", "{}", args_complete=True)
    call.set_result('{"temp":21}')
    assert run_input.messages == [
        sb.Message([sb.TextPart("Weather in Paris?")], "user"),
        sb.Message([call], "assistant"),
    ]
    assert run_input.tools == tools
    assert run_input.system == "Be brief"
    assert run_input.thread_id == "conv_1"
    assert run_input.options == {
        "model": "gpt-test",
        "previous_response_id": "resp_prev",
        "temperature": 0.2,
    }
    assert run_input.raw is body
    assert run_input.run_id is None


def test_parse_request_takes_a_string_input_as_one_user_message() -> None:
    run_input = parse_request(
        {"model": "m", "input": "Hi", "stream": True, "conversation": {"id": "conv_2"}}
    )
    assert run_input.messages == [sb.Message([sb.TextPart("Hi")], "user")]
    assert run_input.thread_id == "conv_2"
    assert run_input.options == {"model": "m"}
    assert parse_request({}).messages == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "the openai-responses request body must be a JSON object"),
        ({"input": 3}, "'input' must be a JSON string or array"),
        ({"input": ["hi"]}, "each item of 'input' must be a JSON object"),
        ({"input": [{"role": "user"}]}, "'content' must be a string or an array"),
        ({"tools": {"a": {}}}, "'tools' must be a JSON array"),
        ({"tools": ["a"]}, "each item of 'tools' must be a JSON object"),
        ({"instructions": 1}, "'instructions' must be a JSON string"),
        ({"model": 1}, "'model' must be a JSON string"),
        ({"stream": False}, "'stream' must be true"),
        ({"conversation": {"id": 1}}, "'conversation' must be an id"),
    ],
)
def test_parse_request_refuses_wrong_shapes(body: Any, message: str) -> None:
    with pytest.raises(sb.RequestError, match=message):
        parse_request(body)


# -- the official SDK --------------------------------------------------------------------------


@dataclass
class SdkRun:
    events: list[Any]
    final: Any
    """The SDK's ``get_final_response()``, or ``None`` when it raised (no response.completed)."""
    failure: str | None


def read_with_sdk(body: bytes, *, fragment: bool = False, tools: Any = ()) -> SdkRun:
    """Stream ``body`` through ``client.responses.stream`` with strict validation.

    ``tools`` names function tools to declare as strict, so the SDK parses their arguments.
    """
    oracle = openai_oracle_client(body, fragment=fragment, seed=len(body))
    params = [
        {"type": "function", "name": name, "parameters": {"type": "object"}, "strict": True}
        for name in tools
    ]
    with oracle.client.responses.stream(model="gpt-test", input="hi", tools=params) as stream:
        events = list(stream)
        try:
            return SdkRun(events, stream.get_final_response(), None)
        except RuntimeError as exc:
            return SdkRun(events, None, str(exc))


IMAGE_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "svg": "image/svg+xml",
}


def summarize_output(output: list[Any]) -> dict[str, Any]:
    """Text, reasoning, tool calls, sources and files of a Response's output items."""
    results = {item.call_id: item.output for item in output if item.type == "function_call_output"}
    messages = [item for item in output if item.type == "message"]
    parts = [part for item in messages for part in item.content if part.type == "output_text"]
    return {
        "text": "".join(part.text for part in parts),
        "reasoning": "".join(
            s.text for item in output if item.type == "reasoning" for s in item.summary
        ),
        "tool_calls": [
            {
                "id": item.call_id,
                "name": item.name,
                "args": (
                    item.parsed_arguments
                    if getattr(item, "parsed_arguments", None) is not None
                    else json.loads(item.arguments)
                ),
                "result": json.loads(results[item.call_id]) if item.call_id in results else None,
                "is_error": False,
            }
            for item in output
            if item.type == "function_call"
        ],
        "sources": [
            {"url": a.url, "title": a.title}
            for part in parts
            for a in part.annotations
            if a.type == "url_citation"
        ],
        "files": [
            {"data": item.result, "mime_type": IMAGE_TYPES[item.output_format]}
            for item in output
            if item.type == "image_generation_call"
        ],
    }


def summarize_events(events: list[Any]) -> dict[str, Any]:
    """What a cut stream's events delivered: the SDK's snapshots of text and arguments."""
    texts: dict[int, str] = {}
    calls: dict[int, dict[str, Any]] = {}
    for event in events:
        if event.type == "response.output_text.delta":
            texts[event.output_index] = event.snapshot
        elif event.type == "response.output_item.added" and event.item.type == "function_call":
            calls[event.output_index] = {"id": event.item.call_id, "name": event.item.name}
            calls[event.output_index]["args"] = ""
        elif event.type == "response.function_call_arguments.delta":
            calls[event.output_index]["args"] = event.snapshot
    return {
        "text": "".join(texts[index] for index in sorted(texts)),
        "reasoning": "",
        "tool_calls": [
            {
                "id": call["id"],
                "name": call["name"],
                "args": jiter.from_json(call["args"].encode(), partial_mode="trailing-strings")
                if call["args"]
                else {},
                "result": None,
                "is_error": False,
            }
            for _, call in sorted(calls.items())
        ],
        "sources": [],
        "files": [],
    }


def client_summary(run: SdkRun) -> dict[str, Any]:
    """What the SDK delivered, in the scenarios' plain form (see scenarios.summary)."""
    terminal = run.events[-1] if run.events else None
    errors = [event.message for event in run.events if event.type == "error"]
    end = terminal.type if terminal is not None else None
    if end == "response.completed":
        final = run.final
        assert final is not None
        assert final.status == "completed"
        parts = summarize_output(final.output)
        answered = {i.call_id for i in final.output if i.type == "function_call_output"}
        waiting = {i.call_id for i in final.output if i.type == "function_call"} - answered
        finish: str | None = "tool-calls" if waiting else "stop"
    elif end in ("response.failed", "response.incomplete"):
        assert run.final is None
        assert run.failure is not None
        final = terminal.response
        parts = summarize_output(final.output)
        finish = "error" if end == "response.failed" else "length"
    else:  # cut: no final response
        assert run.final is None
        assert run.failure is not None
        final, parts, finish = None, summarize_events(run.events), None
    return {
        **parts,
        "data": [],
        "state": None,
        "finish_reason": finish,
        "usage": (
            None
            if final is None or final.usage is None
            else {"input": final.usage.input_tokens, "output": final.usage.output_tokens}
        ),
        "steps": [],
        "errors": errors,
    }


def project(want: dict[str, Any]) -> dict[str, Any]:
    """What the Responses events can say.

    No event carries data parts, state, per-step usage (only the response's total) or a tool
    result's error flag; a file is sent only when it is an image (as an image generation call);
    a citation's ``title`` is a required string, so a missing title is ``""``; a finish reason
    the Responses statuses have no word for ends as ``completed`` ("stop").
    """
    want["data"] = []
    want["state"] = None
    want["steps"] = []
    for call in want["tool_calls"]:
        call["is_error"] = False
    for source in want["sources"]:
        source["title"] = source["title"] or ""
    want["files"] = [f for f in want["files"] if f["mime_type"] in IMAGE_TYPES.values()]
    if want["finish_reason"] not in (None, "stop", "tool-calls", "length", "error"):
        want["finish_reason"] = "stop"
    return want


def tool_names(chunks: list[Chunk]) -> list[str]:
    return sorted({chunk.tool_name for chunk in chunks if isinstance(chunk, ToolCallBegin)})


@pytest.mark.parametrize("fragment", [False, True], ids=["whole", "fragments"])
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_official_sdk_accepts(name: str, fragment: bool) -> None:
    scenario = SCENARIOS[name]
    chunks, body = await scenario_bytes(scenario, PROTOCOL)
    names = tool_names(chunks)
    run = await anyio.to_thread.run_sync(
        lambda: read_with_sdk(body, fragment=fragment, tools=names)
    )
    assert client_summary(run) == project(scenario_summary(expected(scenario, chunks)))
    assert [event.sequence_number for event in run.events] == list(range(len(run.events)))
    assert run.events[0].type == "response.created"
    assert run.events[1].type == "response.in_progress"
    assert "secret" not in body.decode()
    if name == "error_mid_stream":
        # The SDK yields the error event (top-level message, as OpenAI documents it), then
        # response.failed with the partial output; get_final_response() has nothing to give.
        kinds = [event.type for event in run.events]
        assert kinds.index("response.output_text.delta") < kinds.index("error")
        assert kinds[-1] == "response.failed"
        failed = run.events[-1].response
        assert failed.status == "failed"
        assert failed.error.message == GENERIC
        assert failed.error.code == "server_error"
        assert failed.output_text == "partial"
        assert run.failure == "Didn't receive a `response.completed` event."
        assert "secret" not in "".join(event.model_dump_json() for event in run.events)
    elif name == "cancelled_mid_tool_call":
        # A cut stream just stops: the SDK delivers what came, then has no final response.
        assert run.events[-1].type == "response.function_call_arguments.delta"
        assert run.events[-1].snapshot == '{"query": "stre'
        assert run.failure == "Didn't receive a `response.completed` event."
    else:
        final = run.final
        assert final.status == "completed"
        assert final.id == "resp_run_fixed"
        assert final.output_text == expected(scenario, chunks).text
        assert final.usage.total_tokens == final.usage.input_tokens + final.usage.output_tokens
        if name == "one_tool_call":
            call = final.output[0]
            assert call.parsed_arguments == {"city": "Paris", "days": [1, 2]}
            assert [item.type for item in final.output] == [
                "function_call",
                "function_call_output",
                "message",
            ]
        if name == "reasoning_then_text":
            assert final.output[0].summary[0].text == "Let me think..."
        if name == "sources_and_file":
            annotations = final.output[0].content[0].annotations
            assert [(a.type, a.url, a.title) for a in annotations] == [
                ("url_citation", "https://example.com/a", "A"),
                ("url_citation", "https://example.com/b", ""),
            ]
        if name == "steps_with_usage":
            assert (final.usage.input_tokens, final.usage.output_tokens) == (30, 12)


def test_official_sdk_completes_a_run_waiting_for_tool_results() -> None:
    body = encoded(
        [ToolCallBegin("call_ui", "frontend_tool"), ToolCallDelta("call_ui", '{"a": 1}')]
    ).encode()
    run = read_with_sdk(body, tools=["frontend_tool"])
    assert run.final.status == "completed"
    (call,) = run.final.output
    assert (call.type, call.call_id, call.parsed_arguments) == (
        "function_call",
        "call_ui",
        {"a": 1},
    )
    assert client_summary(run)["finish_reason"] == "tool-calls"


def test_official_sdk_reads_a_length_finish_as_incomplete() -> None:
    body = encoded([TextDelta("cut"), StepFinish("length", 1, 2)]).encode()
    run = read_with_sdk(body, fragment=True)
    assert run.final is None
    incomplete = run.events[-1]
    assert incomplete.type == "response.incomplete"
    assert incomplete.response.incomplete_details.reason == "max_output_tokens"
    assert incomplete.response.output_text == "cut"
    assert incomplete.response.usage.output_tokens == 2


def test_official_sdk_shows_images() -> None:
    body = encoded([File("aGk=", "image/png")]).encode()
    (image,) = read_with_sdk(body).final.output
    assert (image.type, image.result, image.output_format) == (
        "image_generation_call",
        "aGk=",
        "png",
    )


def test_the_oracle_is_strict() -> None:
    """A text delta without ``logprobs`` fails the SDK's strict validation: so would ours."""
    body = encoded([TextDelta("x")]).replace(',"logprobs":[]}', "}").encode()
    with pytest.raises(openai.APIResponseValidationError):
        read_with_sdk(body)


async def test_official_sdk_accepts_keepalives() -> None:
    async def run(c: sb.RunController) -> None:
        c.append_text("a")
        await anyio.sleep(0.12)
        c.append_text("b")

    parts = [p async for p in sb.encode(sb.create_run(run), protocol=PROTOCOL, heartbeat=0.03)]
    assert b": keepalive\n\n" in parts
    body = b"".join(parts)
    result = await anyio.to_thread.run_sync(lambda: read_with_sdk(body, fragment=True))
    assert result.final.output_text == "ab"
    assert accumulate(decode(body, PROTOCOL)).text == "ab"


@settings(max_examples=60, deadline=None)
@given(chunk_sequences())
def test_official_sdk_accepts_any_run(chunks: list[Chunk]) -> None:
    body = encode_chunks(chunks, PROTOCOL)
    run = read_with_sdk(body, tools=tool_names(chunks))
    want = project(scenario_summary(accumulate(chunks, complete=True)))
    assert client_summary(run) == want


# -- the decoder -------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(chunk_sequences())
def test_decode_inverts_encode(chunks: list[Chunk]) -> None:
    got, want = round_trip(chunks, PROTOCOL, project)
    assert got == want


def test_decode_in_fragments_gives_the_same_chunks() -> None:
    chunks: list[Chunk] = [
        ReasoningDelta("r"),
        TextDelta("héllo"),
        ToolCallBegin("c", "t"),
        ToolCallDelta("c", '{"a":1}'),
        ToolCallArgsFinish("c"),
        ToolResult("c", "done"),
        Source("s", "https://e.com"),
        StepFinish("stop", 1, 2),
    ]
    body = encode_chunks(chunks, PROTOCOL)
    whole = decode(body, PROTOCOL)
    assert decode(list(fragments(body, 7)), PROTOCOL) == whole
    assert whole == [
        ReasoningDelta("r"),
        TextDelta("héllo"),
        ToolCallBegin("c", "t"),
        ToolCallDelta("c", '{"a":1}'),
        ToolCallArgsFinish("c"),
        ToolResult("c", "done"),
        Source("msg_run_fixed_4_0", "https://e.com"),
        StreamEnd("stop", 1, 2),
    ]


def test_decoder_reads_what_openai_itself_sends() -> None:
    decoder = OpenAIResponsesDecoder()
    events: list[dict[str, Any]] = [
        {"type": "response.web_search_call.searching", "item_id": "ws", "output_index": 0},
        {
            "type": "response.output_item.added",
            "output_index": 1,
            "item": {"type": "function_call", "call_id": "c", "name": "f", "arguments": ""},
        },
        {
            "type": "response.output_item.done",  # arguments only in the done item
            "output_index": 1,
            "item": {"type": "function_call", "call_id": "c", "name": "f", "arguments": '{"x":1}'},
        },
        {
            "type": "response.output_item.done",
            "output_index": 2,
            "item": {"type": "function_call_output", "call_id": "c", "output": "plain text"},
        },
        {"type": "response.reasoning_text.delta", "delta": "r"},
        {"type": "error", "sequence_number": 5, "error": {"message": "Too Many Requests"}},
        {"type": "response.failed", "response": {"error": {"message": "again"}, "usage": None}},
    ]
    decoded = [
        item for event in events for item in decoder.decode(event["type"], json.dumps(event))
    ]
    assert decoded == [
        ToolCallBegin("c", "f"),
        ToolCallDelta("c", '{"x":1}'),
        ToolCallArgsFinish("c"),
        ToolResult("c", "plain text"),
        ReasoningDelta("r"),
        Error("Too Many Requests"),
        StreamEnd("error", None, None),
    ]
    assert decoder.decode(None, "") == []
    assert decoder.close() == []


def test_decoder_reports_a_failure_without_an_error_event_and_an_incomplete_reason() -> None:
    decoder = OpenAIResponsesDecoder()
    failed = {"type": "response.failed", "response": {"error": {"message": "boom"}}}
    assert decoder.decode(None, json.dumps(failed)) == [Error("boom"), StreamEnd("error")]
    incomplete = {
        "type": "response.incomplete",
        "response": {"incomplete_details": {"reason": "content_filter"}, "usage": None},
    }
    assert OpenAIResponsesDecoder().decode(None, json.dumps(incomplete)) == [
        StreamEnd("content-filter")
    ]


@pytest.mark.parametrize("data", ["[1]", '{"no": "type"}', "not json"])
def test_decoder_refuses_what_is_not_a_responses_event(data: str) -> None:
    with pytest.raises(ValueError, match=r"not a Responses streaming event|Expecting value"):
        OpenAIResponsesDecoder().decode(None, data)


def test_decoder_refuses_a_malformed_event() -> None:
    event = {
        "type": "response.output_item.added",
        "output_index": 0,
        "item": {"type": "function_call"},
    }
    with pytest.raises(ValueError, match=r"malformed response\.output_item\.added event"):
        OpenAIResponsesDecoder().decode(None, json.dumps(event))


def test_decoder_refuses_arguments_for_an_unknown_item() -> None:
    event = {"type": "response.function_call_arguments.delta", "output_index": 4, "delta": "x"}
    with pytest.raises(ValueError, match="output index 4, which is not a function call"):
        OpenAIResponsesDecoder().decode(None, json.dumps(event))
