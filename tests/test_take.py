"""Reading a run without a waiting task: ``take_batch`` / ``take`` and the ``when_ready`` callback
(what the ``Driver`` reads a run with)."""

from __future__ import annotations

import math

import anyio
import anyio.lowlevel
import pytest

import streambridge as sb
from streambridge.chunks import TextDelta

pytestmark = pytest.mark.anyio


class Calls:
    def __init__(self) -> None:
        self.count = 0
        self.called = anyio.Event()

    def __call__(self) -> None:
        self.count += 1
        self.called.set()


async def test_take_starts_the_run_and_when_ready_calls_back_once_when_a_chunk_is_ready() -> None:
    go_on = anyio.Event()

    async def run(controller: sb.RunController) -> None:
        await go_on.wait()
        controller.append_text("a")
        controller.append_text("b")

    async with sb.create_run(run) as stream:
        assert stream.take_batch() == []
        calls = Calls()
        stream.when_ready(calls)
        await anyio.sleep(0.02)
        assert calls.count == 0  # nothing ready yet
        go_on.set()
        with anyio.fail_after(1):
            await calls.called.wait()
        await anyio.sleep(0.01)
        assert calls.count == 1  # once, for the first chunk
        assert stream.take_batch() == [TextDelta("a"), TextDelta("b")]
        assert stream.take_batch() is None


async def test_when_ready_calls_back_at_once_when_something_is_ready() -> None:
    appended = anyio.Event()

    async def run(controller: sb.RunController) -> None:
        controller.append_text("a")
        appended.set()
        await anyio.sleep_forever()

    async with sb.create_run(run) as stream:
        assert stream.take_batch() == []
        with anyio.fail_after(1):
            await appended.wait()
        calls = Calls()
        stream.when_ready(calls)
        assert calls.count == 1


async def test_the_end_of_the_run_calls_back_too() -> None:
    async def run(controller: sb.RunController) -> None:
        await anyio.sleep(0.02)

    async with sb.create_run(run) as stream:
        assert stream.take_batch() == []
        calls = Calls()
        stream.when_ready(calls)
        with anyio.fail_after(1):
            await calls.called.wait()
        assert stream.take_batch() is None


async def test_closing_the_stream_forgets_the_callback() -> None:
    async def run(controller: sb.RunController) -> None:
        await anyio.sleep_forever()

    stream = sb.create_run(run)
    assert stream.take_batch() == []
    calls = Calls()
    stream.when_ready(calls)
    await stream.aclose()
    await anyio.sleep(0.05)
    assert calls.count == 0  # not even for the end of the run


async def test_when_ready_before_the_first_take_says_what_to_do() -> None:
    async def run(controller: sb.RunController) -> None:
        await anyio.lowlevel.checkpoint()

    stream = sb.create_run(run)
    with pytest.raises(RuntimeError, match="take_batch"):
        stream.when_ready(Calls())


async def test_take_encodes_what_is_ready_and_ends_with_the_protocols_end() -> None:
    async def run(controller: sb.RunController) -> None:
        controller.append_text("a")

    body = sb.encode(sb.create_run(run), "data-stream")
    assert body.take() is None  # the run has just been started
    await anyio.sleep(0.01)
    assert body.take() == b'0:"a"\n'
    await anyio.sleep(0.01)
    end = body.take()
    assert end is not None
    assert end.startswith(b'd:{"finishReason":"stop"')
    assert body.ended
    assert body.take() is None
    await body.aclose()


async def test_take_ends_with_an_error_when_a_chunk_cannot_be_encoded() -> None:
    async def run(controller: sb.RunController) -> None:
        controller.add_data({"value": math.nan})
        await anyio.sleep_forever()

    body = sb.encode(sb.create_run(run), "data-stream")
    body.take()
    await anyio.sleep(0.01)
    data = body.take()
    assert data is not None
    assert data.startswith(b"3:")
    assert b'"finishReason":"error"' in data
    assert body.ended
    await body.aclose()  # the caller stops the run


async def test_take_needs_a_run_stream() -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield TextDelta("a")

    body = sb.encode(chunks(), "data-stream")
    with pytest.raises(TypeError, match="create_run"):
        body.take()
    with pytest.raises(TypeError, match="create_run"):
        body.when_ready(Calls())
