"""The framework-free serving layer: options, request preparation, headers, events, envelope."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

import streambridge as sb
from streambridge.input import RunInput
from streambridge.protocols import WireProtocol
from streambridge.transport import (
    DEFAULT_BODY_TIMEOUT,
    HTTPError,
    Reply,
    StreamOptions,
    chunk_event,
    error_headers,
    protocol_from_query,
    stream_headers,
)
from streambridge.transport.envelope import (
    Abort,
    EnvelopeError,
    Resume,
    Send,
    chunk_frame,
    parse_client_frame,
)
from streambridge.transport.events import Event, EventSplitter, event_text
from streambridge.transport.request import (
    check_content_length,
    check_method,
    decode_json,
    parse_input,
    read_limited,
    select_protocol,
)
from support.fake_protocols import TEST_SSE, register_test_sse


@pytest.fixture
def test_sse(monkeypatch: pytest.MonkeyPatch) -> WireProtocol:
    return register_test_sse(monkeypatch)


# -- options -------------------------------------------------------------------------------------


def test_options_default_to_the_documented_values() -> None:
    options = StreamOptions()
    assert (options.protocol, options.protocols, options.heartbeat) == ("data-stream", None, 15.0)
    assert options.max_body_bytes == 1_000_000
    assert options.offers("anything-registered")


@pytest.mark.parametrize(
    ("options", "error", "text"),
    [
        ({"protocol": "nope"}, ValueError, "protocol=: unknown protocol 'nope'"),
        ({"protocols": ["nope"]}, ValueError, "protocols=: unknown protocol 'nope'"),
        ({"protocols": "data-stream"}, TypeError, "collection of names"),
        ({"heartbeat": 0}, ValueError, "heartbeat= must be finite and > 0"),
        ({"heartbeat": float("nan")}, ValueError, "heartbeat="),
        ({"heartbeat": "15"}, TypeError, "heartbeat= must be a number"),
        ({"send_timeout": -1}, ValueError, "send_timeout="),
        ({"body_timeout": -1}, ValueError, "body_timeout= must be finite and > 0, got -1"),
        ({"body_timeout": 0}, ValueError, "body_timeout= must be finite and > 0"),
        ({"body_timeout": float("inf")}, ValueError, "body_timeout= must be finite"),
        ({"body_timeout": "10"}, TypeError, "body_timeout= must be a number of seconds or None"),
        ({"body_timeout": True}, TypeError, "body_timeout= must be a number of seconds"),
        ({"grace": None}, TypeError, "grace= must be a number of seconds"),
        ({"max_body_bytes": 0}, ValueError, "max_body_bytes= must be at least 1"),
        ({"max_body_bytes": 1.5}, TypeError, "max_body_bytes= must be an int"),
        ({"max_buffered": True}, TypeError, "max_buffered= must be an int"),
        ({"max_buffered_bytes": 1000}, ValueError, "max_buffered_bytes= must be at least 1024"),
        ({"max_buffered_bytes": "8MB"}, TypeError, "max_buffered_bytes= must be an int"),
    ],
)
def test_options_refuse_mistakes_with_the_option_named(
    options: dict[str, Any], error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text.replace("(", r"\(").replace(")", r"\)")):
        StreamOptions(**options)


def test_default_protocol_must_be_offered(test_sse: WireProtocol) -> None:
    with pytest.raises(ValueError, match=r"protocol='data-stream' must be one of protocols="):
        StreamOptions(protocols=["test-sse"])
    options = StreamOptions(protocol="test-sse", protocols=["test-sse"])
    assert options.protocols == frozenset({"test-sse"})
    assert options.offered() == ["test-sse"]


def test_unknown_option_names_the_valid_ones() -> None:
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['heartbaet'\]; the options are"):
        StreamOptions.from_kwargs(heartbaet=1)
    assert StreamOptions.from_kwargs(heartbeat=None).heartbeat is None


def test_body_timeout_defaults_to_ten_seconds_and_may_be_none() -> None:
    assert StreamOptions().body_timeout == DEFAULT_BODY_TIMEOUT == 10.0
    assert StreamOptions(body_timeout=None).body_timeout is None
    assert StreamOptions.from_kwargs(body_timeout=0.5).body_timeout == 0.5


def test_high_water_stays_below_a_small_cap() -> None:
    assert StreamOptions().high_water == 1024
    assert StreamOptions(max_buffered=10).high_water == 5


# -- request preparation ------------------------------------------------------------------------


def test_only_post_and_head_are_allowed() -> None:
    check_method("POST")
    check_method("HEAD")
    with pytest.raises(HTTPError) as caught:
        check_method("GET")
    assert caught.value.status == 405
    assert caught.value.headers == {"Allow": "POST, HEAD"}


@pytest.mark.parametrize(
    ("query", "name"),
    [(b"", None), (b"protocol=data-stream", "data-stream"), ("a=1&protocol=x&protocol=y", "y")],
)
def test_protocol_comes_from_the_query(query: bytes | str, name: str | None) -> None:
    assert protocol_from_query(query) == name


def test_protocol_selection(test_sse: WireProtocol) -> None:
    options = StreamOptions(protocols=["data-stream"])
    assert select_protocol(options, None).name == "data-stream"
    assert select_protocol(options, "").name == "data-stream"
    with pytest.raises(HTTPError, match="'test-sse' is not offered here; choose one of: data-st"):
        select_protocol(options, "test-sse")
    with pytest.raises(HTTPError, match="unknown protocol 'nope'") as caught:
        select_protocol(StreamOptions(), "nope")
    assert caught.value.status == 400
    assert select_protocol(StreamOptions(), "test-sse") is test_sse


def test_content_length_over_the_limit_is_refused_before_reading() -> None:
    check_content_length(None, 10)
    check_content_length("10", 10)
    check_content_length("garbage", 10)  # the read itself still counts
    with pytest.raises(HTTPError) as caught:
        check_content_length("11", 10)
    assert caught.value.status == 413


@pytest.mark.anyio
async def test_body_read_stops_as_soon_as_it_is_over_the_limit() -> None:
    pulled: list[bytes] = []

    async def chunks() -> Any:
        for chunk in (b"12345", b"67890", b"x", b"never read"):
            pulled.append(chunk)
            yield chunk

    assert await read_limited(chunks(), 100) == b"1234567890xnever read"
    pulled.clear()
    with pytest.raises(HTTPError) as caught:
        await read_limited(chunks(), 10)
    assert caught.value.status == 413
    assert pulled == [b"12345", b"67890", b"x"]


@pytest.mark.parametrize(
    "body", [b"", b"  ", b"{", b"\xff\xfe{", b"[" * 100_000, b"NaN", b'{"a": Infinity}']
)
def test_bodies_that_are_not_json_are_a_400(body: bytes) -> None:
    with pytest.raises(HTTPError) as caught:
        decode_json(body)
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b'{"state": {"x": 1e999}}', 400, "out of range"),
        (b'{"state": {"x": -1e999}}', 400, "out of range"),
        (b'{"state": ' + b'{"a": ' * 600 + b"1" + b"}" * 601, 400, "deeper than 100"),
        (b'{"state": ' + b"[" * 101 + b"]" * 101 + b"}", 400, "deeper than 100"),
        (b'{"state": {"__proto__": {"admin": true}}}', 422, "__proto__"),
        (b'{"messages": [{"content": [{"__proto__": 1}]}]}', 422, "__proto__"),
    ],
)
def test_hostile_bodies_are_refused_before_any_parser(
    body: bytes, status: int, message: str
) -> None:
    with pytest.raises(HTTPError, match=message) as caught:
        decode_json(body)
    assert caught.value.status == status


def test_bodies_within_the_limits_pass() -> None:
    deep = b'{"state": ' + b"[" * 98 + b"]" * 98 + b"}"  # 99 levels with the outer object
    assert decode_json(deep)["state"]
    assert decode_json(b'{"state": {"constructor": 1, "n": 1e308, "i": 123456789012345678901}}')


def test_body_of_the_wrong_shape_is_a_422_with_the_parsers_message() -> None:
    protocol = sb.get_protocol("data-stream")
    assert parse_input(protocol, {"messages": []}).messages == []
    with pytest.raises(HTTPError, match="'messages' must be a JSON array") as caught:
        parse_input(protocol, {"messages": 1})
    assert caught.value.status == 422


@pytest.mark.parametrize("key", ["constructor", "prototype"])
def test_a_state_the_run_could_not_start_from_is_a_422(key: str) -> None:
    """Plain keys in a body, but not in the state: the client's state store refuses them."""
    protocol = sb.get_protocol("data-stream")
    with pytest.raises(HTTPError, match=f"the request's state: '{key}' cannot be") as caught:
        parse_input(protocol, {"messages": [], "state": {"deep": [{key: 1}]}})
    assert caught.value.status == 422


def test_a_parser_that_trips_is_still_a_422(caplog: pytest.LogCaptureFixture) -> None:
    def broken(body: Any) -> RunInput:
        return body["missing"]  # type: ignore[no-any-return]

    protocol = dataclasses.replace(TEST_SSE, parse_request=broken)
    with pytest.raises(HTTPError, match="not a valid test-sse request") as caught:
        parse_input(protocol, {})
    assert caught.value.status == 422
    assert "KeyError" in caplog.text  # the server log has the traceback


def test_error_body_and_headers() -> None:
    error = HTTPError(405, "nope", {"Allow": "POST, HEAD"})
    assert json.loads(error.body()) == {"error": {"message": "nope"}}
    assert dict(error_headers(error, 7)) == {
        "content-type": "application/json",
        "content-length": "7",
        "cache-control": "no-store",
        "allow": "POST, HEAD",
    }
    reply = error.reply()  # what StreamEndpoint.respond answers a refusal with
    assert reply.status == 405
    assert json.loads(reply.body()) == {"error": {"message": "nope"}}
    assert dict(reply.headers()) == {
        "content-type": "application/json",
        "content-length": str(len(reply.body())),
        "cache-control": "no-store",
        "allow": "POST, HEAD",
    }
    assert dict(Reply(204).headers()) == {"cache-control": "no-store"}  # no body, no type


# -- headers -------------------------------------------------------------------------------------


def test_stream_headers_keep_the_protocols_and_drop_hop_by_hop(test_sse: WireProtocol) -> None:
    assert stream_headers(test_sse) == [
        ("content-type", "text/event-stream"),
        ("x-test-stream", "v1"),
        ("cache-control", "no-store"),  # the stream policy wins over the protocol's no-cache
        ("x-accel-buffering", "no"),
    ]
    assert dict(stream_headers(sb.get_protocol("data-stream"))) == {
        "content-type": "text/plain; charset=utf-8",
        "x-vercel-ai-data-stream": "v1",
        "cache-control": "no-store",
        "x-accel-buffering": "no",
    }


# -- events --------------------------------------------------------------------------------------


def test_sse_is_cut_into_events_whatever_the_cuts() -> None:
    text = (
        b": keepalive\n\n"
        b'data: {"a":1}\n\n'
        b'event: thread.run.created\ndata: {"b":2}\n\n'
        b"data: line one\ndata: line two\n\n"
        b"id: 7\nretry: 10\n\n"
        b"data: [DONE]\n\n"
    )
    want = [
        Event(None, '{"a":1}'),
        Event("thread.run.created", '{"b":2}'),
        Event(None, "line one\nline two"),
        Event(None, "[DONE]"),
    ]
    whole = EventSplitter("sse").feed(text)
    assert whole == want
    splitter = EventSplitter("sse")
    pieces = [splitter.feed(text[i : i + 3]) for i in range(0, len(text), 3)]
    assert [event for piece in pieces for event in piece] == want
    assert "".join(event_text(event, "sse") for event in want).encode() in text.replace(
        b": keepalive\n\n", b""
    ).replace(b"id: 7\nretry: 10\n\n", b"")


def test_lines_are_cut_into_lines_and_blank_keepalives_dropped() -> None:
    splitter = EventSplitter("lines")
    assert splitter.feed(b'0:"a"\n\n0:"b') == [Event(None, '0:"a"')]
    assert splitter.feed(b'"\r\nd:{}\n') == [Event(None, '0:"b"'), Event(None, "d:{}")]
    assert event_text(Event(None, "d:{}"), "lines") == "d:{}\n"
    with pytest.raises(ValueError, match="unknown framing"):
        EventSplitter("ndjson")  # type: ignore[arg-type]


# -- the WebSocket envelope ---------------------------------------------------------------------


def test_chunk_frames_carry_one_event_and_invert() -> None:
    line = Event(None, '0:"hi"')
    frame = json.loads(chunk_frame("r", 0, line, "lines") or "")
    assert frame == {"type": "chunk", "requestId": "r", "sequence": 0, "chunk": '0:"hi"'}
    assert chunk_event(frame, "lines") == line

    named = Event("thread.message.delta", '{"delta":{"x":1}}')
    frame = json.loads(chunk_frame("r", 3, named, "sse") or "")
    assert frame["chunk"] == {"delta": {"x": 1}}
    assert frame["event"] == "thread.message.delta"
    assert chunk_event(frame, "sse") == named

    text = Event(None, "not json")
    frame = json.loads(chunk_frame("r", 1, text, "sse") or "")
    assert frame["raw"] is True
    assert chunk_event(frame, "sse") == text
    string = Event(None, '"a JSON string"')
    assert chunk_event(json.loads(chunk_frame("r", 2, string, "sse") or ""), "sse") == string
    assert chunk_frame("r", 4, Event(None, "[DONE]"), "sse") is None  # `end` says it


def test_send_frames_become_the_http_body() -> None:
    ai_sdk = {
        "type": "send",
        "requestId": "q1",
        "id": "chat",
        "trigger": "submit-message",
        "messageId": "m0",
        "messages": [{"id": "m1"}],
        "headers": {"authorization": "x"},
        "body": {"temperature": 1, "id": "overridden"},
        "metadata": {"k": 1},
        "protocol": "data-stream",
    }
    assert parse_client_frame(json.dumps(ai_sdk), 10_000) == Send(
        "q1",
        {
            "temperature": 1,
            "id": "chat",
            "trigger": "submit-message",
            "messageId": "m0",
            "messages": [{"id": "m1"}],
        },
        "data-stream",
    )
    plain = parse_client_frame(b'{"type": "send", "requestId": "q2", "messages": []}', 100)
    assert plain == Send("q2", {"messages": []}, None)
    assert parse_client_frame('{"type": "abort"}', 100) == Abort(None)
    assert parse_client_frame('{"type": "abort", "requestId": "q"}', 100) == Abort("q")
    assert parse_client_frame('{"type": "resume", "requestId": "q", "id": "c"}', 100) == Resume(
        "q", chat_id="c"
    )
    resume = '{"type": "resume", "requestId": "q", "runId": "r", "lastSequence": 4}'
    assert parse_client_frame(resume, 100) == Resume("q", run_id="r", last_sequence=4)
    for bad in ('"lastSequence": -2', '"lastSequence": true', '"id": 3', '"x": 1'):
        with pytest.raises(EnvelopeError):
            parse_client_frame('{"type": "resume", "requestId": "q", ' + bad + "}", 100)


@pytest.mark.parametrize(
    ("frame", "request_id", "text"),
    [
        ("{", "", "not valid JSON"),
        ("[1]", "", "JSON object"),
        ('{"type": "send"}', "", "non-empty string 'requestId'"),
        ('{"type": "send", "requestId": ""}', "", "non-empty string 'requestId'"),
        ('{"type": "abort", "requestId": 3}', "", "'requestId' must be a string"),
        ('{"type": "nope", "requestId": "a"}', "a", "unknown frame type 'nope'"),
        ('{"type": "send", "requestId": "a", "body": []}', "a", "'body' must be a JSON object"),
        ('{"type": "send", "requestId": "a", "protocol": 1}', "a", "'protocol' must be a string"),
        ('{"type": "send", "requestId": "a", "x": NaN}', "", "not valid JSON"),
        ('{"type": "send", "requestId": "a", "pad": "' + "x" * 200 + '"}', "", "larger than"),
    ],
)
def test_bad_client_frames_say_what_is_wrong(frame: str, request_id: str, text: str) -> None:
    with pytest.raises(EnvelopeError, match=text) as caught:
        parse_client_frame(frame, 200)
    assert caught.value.request_id == request_id


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ('{"type": "send", "requestId": "r", "body": {"state": {"__proto__": 1}}}', "__proto__"),
        ('{"type": "send", "requestId": "r", "n": 1e999}', "out of range"),
        ('{"type": "send", "requestId": "r", "x": ' + "[" * 200 + "]" * 200 + "}", "deeper"),
        ("{not json", "the frame is not valid JSON"),
    ],
)
def test_hostile_frames_are_refused_as_bodies_are(frame: str, message: str) -> None:
    with pytest.raises(EnvelopeError, match=message):
        parse_client_frame(frame, 100_000)
