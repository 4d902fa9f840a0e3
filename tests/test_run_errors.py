"""Errors end the stream cleanly: logged with their traceback, generic for the client."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import streambridge as sb
from streambridge.chunks import Chunk, Data, Error, TextDelta, ToolCallArgsFinish, ToolCallBegin
from streambridge.run import GENERIC_ERROR_MESSAGE

pytestmark = pytest.mark.anyio

SECRET = "db password is hunter2"


class Boom(Exception):
    pass


def failure_records(caplog: pytest.LogCaptureFixture, exc_type: type[BaseException]) -> list[Any]:
    return [
        record
        for record in caplog.records
        if record.name == "streambridge"
        and record.levelno >= logging.ERROR
        and record.exc_info is not None
        and isinstance(record.exc_info[1], exc_type)
    ]


async def encoded(run: sb.RunFunction) -> bytes:
    async with sb.encode(sb.create_run(run)) as body:
        return b"".join([data async for data in body])


async def test_exception_is_logged_and_the_client_gets_a_generic_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="streambridge")

    async def run(controller: sb.RunController) -> None:
        controller.append_text("before")
        controller.add_tool_call("search", "t1")
        raise Boom(SECRET)

    async with sb.create_run(run) as stream:
        chunks = [chunk async for chunk in stream]  # ends normally: no exception here

    assert chunks == [
        TextDelta("before"),
        ToolCallBegin("t1", "search"),
        ToolCallArgsFinish("t1"),
        Error(GENERIC_ERROR_MESSAGE),
    ]
    assert SECRET not in repr(chunks)
    [record] = failure_records(caplog, Boom)
    assert record.exc_info[2] is not None  # the traceback
    assert "Traceback" in caplog.text
    assert SECRET in caplog.text
    assert "in run" in caplog.text  # the frame that raised


async def test_run_error_sends_its_own_message() -> None:
    async def run(controller: sb.RunController) -> None:
        controller.append_text("a")
        raise sb.RunError("Your quota is used up.")

    async with sb.create_run(run) as stream:
        chunks = [chunk async for chunk in stream]
    assert chunks == [TextDelta("a"), Error("Your quota is used up.")]


async def test_the_run_stops_at_the_exception() -> None:
    after: list[str] = []

    async def source() -> AsyncIterator[Chunk]:
        try:
            yield TextDelta("s")
            await anyio.sleep_forever()
        finally:
            after.append("source finally")

    async def run(controller: sb.RunController) -> None:
        controller.add_stream(source())
        await anyio.sleep(0.01)
        raise Boom("x")

    with anyio.fail_after(2):
        async with sb.create_run(run) as stream:
            chunks = [chunk async for chunk in stream]
    assert chunks == [TextDelta("s"), Error(GENERIC_ERROR_MESSAGE)]
    assert after == ["source finally"]


@pytest.mark.parametrize(
    ("exc", "exc_type"),
    [(Boom("boom"), Boom), (sb.RunError("boom"), sb.RunError)],
)
async def test_raise_errors_reraises(exc: Exception, exc_type: type[Exception]) -> None:
    async def run(controller: sb.RunController) -> None:
        controller.append_text("a")
        raise exc

    chunks: list[Chunk] = []

    async def consume() -> None:
        async with sb.create_run(run, raise_errors=True) as stream:
            async for chunk in stream:
                chunks.append(chunk)

    with pytest.raises(exc_type, match="boom") as raised:
        await consume()
    assert raised.value is exc
    assert chunks[0] == TextDelta("a")


async def test_raise_errors_does_not_raise_for_a_run_that_succeeds() -> None:
    async def run(controller: sb.RunController) -> None:
        controller.append_text("a")

    async with sb.create_run(run, raise_errors=True) as stream:
        assert [chunk async for chunk in stream] == [TextDelta("a")]


async def test_exception_in_an_add_stream_source_behaves_the_same(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="streambridge")
    run_cancelled: list[bool] = []

    async def source() -> AsyncIterator[Chunk]:
        yield TextDelta("from source")
        await anyio.lowlevel.checkpoint()
        raise Boom(SECRET)

    async def run(controller: sb.RunController) -> None:
        controller.add_stream(source())
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            run_cancelled.append(True)
            raise

    with anyio.fail_after(2):
        async with sb.create_run(run) as stream:
            chunks = [chunk async for chunk in stream]
    assert chunks == [TextDelta("from source"), Error(GENERIC_ERROR_MESSAGE)]
    assert run_cancelled == [True]
    [record] = failure_records(caplog, Boom)
    assert record.exc_info[2] is not None
    assert SECRET in caplog.text


async def test_run_error_in_an_add_stream_source_sends_its_message() -> None:
    async def source() -> AsyncIterator[Chunk]:
        yield TextDelta("s")
        raise sb.RunError("source said no")

    async def run(controller: sb.RunController) -> None:
        controller.add_stream(source())

    async with sb.create_run(run) as stream:
        assert [chunk async for chunk in stream] == [TextDelta("s"), Error("source said no")]


async def test_exception_in_an_add_stream_source_reraises_with_raise_errors() -> None:
    async def source() -> AsyncIterator[Chunk]:
        yield TextDelta("s")
        raise Boom("from source")

    async def run(controller: sb.RunController) -> None:
        controller.add_stream(source())

    async def consume() -> list[Chunk]:
        async with sb.create_run(run, raise_errors=True) as stream:
            return [chunk async for chunk in stream]

    with pytest.raises(Boom, match="from source"):
        await consume()


def frames(body: bytes) -> list[tuple[str, Any]]:
    lines = body.decode().split("\n")
    assert lines[-1] == "", "the body must end with a newline"
    result = []
    for line in lines[:-1]:
        code, _, value = line.partition(":")
        result.append((code, json.loads(value)))
    return result


async def test_encode_of_a_failing_run_ends_with_the_generic_error_then_finish(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="streambridge")

    async def run(controller: sb.RunController) -> None:
        controller.append_text("hi")
        raise Boom(SECRET)

    body = await encoded(run)
    assert SECRET.encode() not in body
    generic = GENERIC_ERROR_MESSAGE.encode()
    assert b'3:"' + generic + b'"\nd:{' in body
    assert body.count(b"\nd:") == 1
    parsed = frames(body)
    assert parsed[0] == ("0", "hi")
    assert parsed[-2] == ("3", GENERIC_ERROR_MESSAGE)
    code, finish = parsed[-1]
    assert code == "d"
    assert finish["finishReason"] == "error"
    assert len(failure_records(caplog, Boom)) == 1


async def test_encode_of_a_run_error_sends_its_message() -> None:
    async def run(controller: sb.RunController) -> None:
        raise sb.RunError("Try a shorter question.")

    parsed = frames(await encoded(run))
    assert parsed[-2] == ("3", "Try a shorter question.")
    assert parsed[-1][0] == "d"
    assert parsed[-1][1]["finishReason"] == "error"


@pytest.mark.parametrize(
    "bad", [float("nan"), float("inf"), object()], ids=["nan", "inf", "object"]
)
async def test_a_chunk_that_cannot_be_encoded_ends_the_stream_and_the_run(
    bad: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="streambridge")
    seen: dict[str, Any] = {}

    async def run(controller: sb.RunController) -> None:
        controller.append_text("ok")
        controller.add_data(bad)
        controller.append_text("after")
        try:
            while True:
                await anyio.sleep(0.005)
                controller.append_text("more")
        finally:
            seen["is_cancelled"] = controller.is_cancelled
            seen["finally"] = True

    outputs: list[bytes] = []
    with anyio.fail_after(2):
        async with sb.encode(sb.create_run(run)) as body:
            async for data in body:
                outputs.append(data)
            # Once the error frame is out, the run is over: the stream stays ended.
            assert [data async for data in body] == []

    joined = b"".join(outputs)
    parsed = frames(joined)
    assert parsed[0] == ("0", "ok")
    assert ("0", "after") not in parsed
    assert ("0", "more") not in parsed
    assert parsed[-2] == ("3", GENERIC_ERROR_MESSAGE)
    assert parsed[-1][0] == "d"
    assert parsed[-1][1]["finishReason"] == "error"
    assert seen == {"is_cancelled": True, "finally": True}
    error_records = [
        r for r in caplog.records if r.name == "streambridge" and r.levelno >= logging.ERROR
    ]
    assert error_records, "the encoding failure was not logged"
    assert all(r.exc_info is not None for r in error_records)
    assert "data" in caplog.text  # names the chunk that failed


async def test_an_unencodable_chunk_in_a_later_batch_keeps_what_was_sent() -> None:
    go = anyio.Event()

    async def run(controller: sb.RunController) -> None:
        controller.append_text("first")
        await go.wait()
        controller.add_data({"fine": 1})
        controller.add_data({"bad": float("nan")})

    outputs: list[bytes] = []
    with anyio.fail_after(2):
        async with sb.encode(sb.create_run(run)) as body:
            async for data in body:
                outputs.append(data)
                go.set()
    assert outputs[0] == b'0:"first"\n'
    parsed = frames(b"".join(outputs))
    assert parsed == [
        ("0", "first"),
        ("2", [{"fine": 1}]),
        ("3", GENERIC_ERROR_MESSAGE),
        ("d", parsed[-1][1]),
    ]
    assert parsed[-1][1]["finishReason"] == "error"


async def test_data_chunk_reaches_the_consumer_unencoded() -> None:
    """Without an encoder, any value passes through (JSON is the encoder's business)."""
    marker = object()

    async def run(controller: sb.RunController) -> None:
        controller.add_data(marker)

    async with sb.create_run(run) as stream:
        assert [chunk async for chunk in stream] == [Data(marker)]


async def test_text_that_is_not_a_str_is_refused_where_the_run_appends_it() -> None:
    refused: list[str] = []

    async def run(controller: sb.RunController) -> None:
        call = controller.add_tool_call("lookup")
        for append in (controller.append_text, controller.append_reasoning, call.append_args_text):
            try:
                append(None)  # type: ignore[arg-type]
            except TypeError as exc:
                refused.append(str(exc))
        controller.append_text("still running")

    chunks = [chunk async for chunk in sb.create_run(run)]
    assert [c.text_delta for c in chunks if isinstance(c, TextDelta)] == ["still running"]
    assert len(refused) == 3
    assert refused[0].startswith("append_text() takes a str, got NoneType")
    assert "skip a delta whose text is None" in refused[0]
    assert refused[2].startswith("append_args_text() takes a str")
