"""streambridge.client: decoding bytes, httpx responses and URLs, and building the message."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

import streambridge as sb
from streambridge.chunks import (
    Data,
    Error,
    StateUpdate,
    StepFinish,
    TextDelta,
    ToolCallBegin,
    ToolCallDelta,
    ToolResult,
)
from streambridge.client import (
    MessageAccumulator,
    ToolCallPart,
    Usage,
    accumulate,
    aiter_chunks,
    decode,
    fetch_message,
    stream_chunks,
)
from streambridge.protocols import StreamEnd

STREAM = (
    b'0:"Hello \xe2\x80\xa8 w\xc3\xb6rld"\n'  # U+2028 stays raw inside JSON strings
    b'b:{"toolCallId":"c1","toolName":"search"}\n'
    b'c:{"toolCallId":"c1","argsTextDelta":"{\\"q\\": \\"pa"}\n'
    b'c:{"toolCallId":"c1","argsTextDelta":"ris\\"}"}\n'
    b'c:{"toolCallId":"c1","argsTextDelta":"","isFinal":true}\n'
    b'a:{"toolCallId":"c1","result":[1,2]}\n'
    b'aui-state:[{"type":"set","path":["n"],"value":"a"}]\n'
    b'd:{"finishReason":"stop","usage":{"inputTokens":3,"outputTokens":4}}\n'
)


def test_decode_reads_every_frame_and_keeps_unicode_line_breaks_inside_strings() -> None:
    message = accumulate(decode(STREAM, "data-stream"))
    assert message.text == "Hello \u2028 wörld"
    [call] = message.tool_calls
    assert (call.tool_name, call.args, call.result, call.has_result) == (
        "search",
        {"q": "paris"},
        [1, 2],
        True,
    )
    assert message.state == {"n": "a"}
    assert (message.finish_reason, message.usage) == ("stop", Usage(3, 4))


def test_decode_is_the_same_in_any_fragments() -> None:
    whole = decode(STREAM, "data-stream")
    for size in (1, 2, 3, 7):
        pieces = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
        assert decode(pieces, "data-stream") == whole


def test_tool_args_parse_while_they_stream() -> None:
    call = ToolCallPart("c1", "search")
    assert call.args == {}
    call.args_text = '{"q": "pa'
    assert call.args == {"q": "pa"}
    call.args_text = '{"q": "paris", "n": [1, 2'
    assert call.args == {"q": "paris", "n": [1, 2]}


def test_a_run_s_raw_chunks_end_as_every_encoder_would_say() -> None:
    pending = accumulate([ToolCallBegin("c1", "ui_tool")], complete=True)
    assert pending.finish_reason == "tool-calls"
    failed = accumulate([TextDelta("a"), Error("sorry")], complete=True)
    assert (failed.finish_reason, failed.errors) == ("error", ["sorry"])
    done = accumulate(
        [ToolCallBegin("c1", "t"), ToolResult("c1", 1), StepFinish("length", 2, 5)],
        complete=True,
    )
    assert (done.finish_reason, done.usage) == ("length", Usage(2, 5))
    cut = accumulate([TextDelta("a")])
    assert (cut.finish_reason, cut.usage) == (None, None)


def test_the_accumulator_groups_deltas_into_parts_and_applies_state() -> None:
    accumulator = MessageAccumulator(state={"doc": ""})
    for item in [
        TextDelta("a"),
        TextDelta("b"),
        TextDelta("c", parent_id="p"),
        Data({"x": 1}, name="progress"),
        TextDelta("d"),
        StateUpdate(({"type": "append-text", "path": ["doc"], "value": "hi"},)),
        StreamEnd("stop", 1, 2),
    ]:
        accumulator.add(item)
    message = accumulator.message
    assert [type(p).__name__ for p in message.parts] == [
        "TextPart",
        "TextPart",
        "DataPart",
        "TextPart",
    ]
    assert message.text == "abcd"
    assert message.state == {"doc": "hi"}
    assert message.usage == Usage(1, 2)


def test_a_delta_for_an_unknown_tool_call_is_refused() -> None:
    with pytest.raises(ValueError, match="before starting it"):
        accumulate([ToolCallDelta("nope", "{")])


@pytest.mark.parametrize(
    ("line", "match"),
    [(b"zz:1\n", "unknown data-stream code 'zz'"), (b"no colon\n", "not a data-stream line")],
)
def test_a_foreign_line_is_refused(line: bytes, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        decode(line, "data-stream")


def test_an_unknown_protocol_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"known protocols: .*'data-stream'"):
        decode(b"", "carrier-pigeon")


# -- over httpx -------------------------------------------------------------------------------

anyio_test = pytest.mark.anyio


@anyio_test
async def test_aiter_chunks_yields_each_chunk_as_its_bytes_arrive() -> None:
    """The first chunk reaches the caller while the server has not sent the second yet."""
    release = anyio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield b'0:"first"\n'
        await release.wait()
        yield b'0:"second"\n'

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body())

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
        http.stream("POST", "http://test/api/chat") as response,
    ):
        chunks = aiter_chunks(response, "data-stream")
        assert await chunks.__anext__() == TextDelta("first")
        release.set()
        assert [c async for c in chunks] == [TextDelta("second")]


@anyio_test
async def test_fetch_message_posts_the_body_and_builds_the_message() -> None:
    seen: list[bytes] = []

    async def run(controller: sb.RunController) -> None:
        controller.append_text("Hi ")
        controller.append_text(controller.input.last_user_text)

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        run_input = sb.get_protocol("data-stream").parse_request(json.loads(request.content))
        stream = sb.encode(sb.create_run(run, input=run_input))
        return httpx.Response(200, content=stream)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        message = await fetch_message(
            "http://test/api/chat",
            protocol="data-stream",
            json={"messages": [{"role": "user", "content": "there"}]},
            client=http,
        )
    assert message.text == "Hi there"
    assert message.finish_reason == "stop"
    assert b'"content":"there"' in seen[0].replace(b" ", b"")


@anyio_test
async def test_an_error_status_raises_before_any_chunk() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": {"message": "bad body"}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(httpx.HTTPStatusError) as caught:
            async for _ in stream_chunks("http://test/", protocol="data-stream", client=http):
                pass
    assert caught.value.response.json() == {"error": {"message": "bad body"}}


def test_accumulating_never_changes_the_chunks() -> None:
    chunks = [
        StateUpdate(({"type": "set", "path": ["doc"], "value": {"title": ""}},)),
        StateUpdate(({"type": "append-text", "path": ["doc", "title"], "value": "Draft"},)),
    ]
    assert accumulate(chunks).state == {"doc": {"title": "Draft"}}
    assert accumulate(chunks).state == {"doc": {"title": "Draft"}}
