"""Reading a run without a waiting task: ``poll_batch`` / ``poll`` and the ``on_ready`` callback."""

from __future__ import annotations

import math
import time

import anyio
import anyio.lowlevel
import pytest

import streambridge as sb
from streambridge.chunks import TextDelta

pytestmark = pytest.mark.anyio


async def one_chunk_soon(controller: sb.RunController) -> None:
    await anyio.sleep(0.02)
    controller.append_text("a")
    await anyio.sleep_forever()


class Calls:
    def __init__(self) -> None:
        self.calls: list[tuple[bool, float]] = []
        self.called = anyio.Event()

    def __call__(self, woken: bool) -> None:
        self.calls.append((woken, time.monotonic()))
        self.called.set()


async def test_poll_starts_the_run_and_on_ready_calls_back_when_a_chunk_is_ready() -> None:
    go_on = anyio.Event()

    async def run(controller: sb.RunController) -> None:
        await go_on.wait()
        controller.append_text("a")
        controller.append_text("b")

    async with sb.create_run(run) as stream:
        assert stream.poll_batch() == []
        calls = Calls()
        stream.on_ready(calls, None)
        await anyio.sleep(0.02)
        assert calls.calls == []  # nothing ready, nobody waits
        go_on.set()
        with anyio.fail_after(1):
            await calls.called.wait()
        assert [woken for woken, _ in calls.calls] == [True]  # once, for the first chunk
        await anyio.sleep(0.01)
        assert stream.poll_batch() == [TextDelta("a"), TextDelta("b")]
        assert stream.poll_batch() is None  # what was ready before arming is polled, not called


async def test_the_end_of_the_run_calls_back_too() -> None:
    async with sb.create_run(lambda controller: anyio.sleep(0.02)) as stream:
        assert stream.poll_batch() == []
        calls = Calls()
        stream.on_ready(calls, None)
        with anyio.fail_after(1):
            await calls.called.wait()
        assert stream.poll_batch() is None


async def test_on_ready_calls_back_once_after_the_idle_timeout() -> None:
    async with sb.create_run(lambda controller: anyio.sleep_forever()) as stream:
        assert stream.poll_batch() == []
        calls = Calls()
        start = time.monotonic()
        stream.on_ready(calls, 0.05)
        await anyio.sleep(0.2)
        assert len(calls.calls) == 1
        woken, when = calls.calls[0]
        assert not woken
        assert when - start >= 0.045


async def test_a_chunk_before_the_idle_timeout_cancels_the_timeout() -> None:
    async with sb.create_run(one_chunk_soon) as stream:
        assert stream.poll_batch() == []
        calls = Calls()
        stream.on_ready(calls, 0.1)
        await anyio.sleep(0.25)
        assert [woken for woken, _ in calls.calls] == [True]


async def test_closing_the_stream_forgets_the_callback() -> None:
    stream = sb.create_run(lambda controller: anyio.sleep_forever())
    assert stream.poll_batch() == []
    calls = Calls()
    stream.on_ready(calls, 0.05)
    await stream.aclose()
    await anyio.sleep(0.1)
    assert calls.calls == []  # neither the end of the run nor the timer


async def test_on_ready_before_the_first_poll_says_what_to_do() -> None:
    stream = sb.create_run(lambda controller: anyio.lowlevel.checkpoint())
    with pytest.raises(RuntimeError, match="poll_batch"):
        stream.on_ready(Calls(), None)


async def test_poll_encodes_what_is_ready_and_ends_with_the_protocols_end() -> None:
    async def run(controller: sb.RunController) -> None:
        controller.append_text("a")

    body = sb.encode(sb.create_run(run), "data-stream")
    assert body.poll() is None  # the run has just been started
    await anyio.sleep(0.01)
    assert body.poll() == b'0:"a"\n'
    await anyio.sleep(0.01)
    end = body.poll()
    assert end is not None
    assert end.startswith(b'd:{"finishReason":"stop"')
    assert body.ended
    assert body.poll() is None
    await body.aclose()


async def test_poll_ends_with_an_error_when_a_chunk_cannot_be_encoded() -> None:
    async def run(controller: sb.RunController) -> None:
        controller.add_data({"value": math.nan})
        await anyio.sleep_forever()

    body = sb.encode(sb.create_run(run), "data-stream")
    body.poll()
    await anyio.sleep(0.01)
    data = body.poll()
    assert data is not None
    assert data.startswith(b"3:")
    assert b'"finishReason":"error"' in data
    assert body.ended
    await body.aclose()  # the caller stops the run


async def test_poll_needs_a_run_stream() -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield TextDelta("a")

    body = sb.encode(chunks(), "data-stream")
    with pytest.raises(TypeError, match="create_run"):
        body.poll()


async def test_wait_ready_waits_for_a_chunk_or_the_timeout() -> None:
    async def run(controller: sb.RunController) -> None:
        await anyio.sleep(0.05)
        controller.append_text("a")
        await anyio.sleep_forever()

    async with sb.create_run(run) as stream:
        with pytest.raises(RuntimeError, match="poll_batch"):
            await stream.wait_ready(0.01)
        assert stream.poll_batch() == []
        assert not await stream.wait_ready(0.01)
        with anyio.fail_after(1):
            assert await stream.wait_ready(None)
        assert await stream.wait_ready(None)  # still ready: nothing was taken
        assert stream.poll_batch() == [TextDelta("a")]


async def test_on_ready_after_the_end_says_nothing_more_will_come() -> None:
    stream = sb.create_run(lambda controller: anyio.sleep_forever())
    assert stream.poll_batch() == []
    await stream.aclose()
    with pytest.raises(RuntimeError, match="ended or was closed"):
        stream.on_ready(Calls(), 0.01)


async def test_polling_forgets_a_pending_callback() -> None:
    async with sb.create_run(one_chunk_soon) as stream:
        assert stream.poll_batch() == []
        calls = Calls()
        stream.on_ready(calls, 0.05)
        assert stream.poll_batch() == []  # the consumer polls on its own instead
        await anyio.sleep(0.1)
        assert calls.calls == []  # neither the chunk nor the timer calls back
        assert stream.poll_batch() == [TextDelta("a")]
