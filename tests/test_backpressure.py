"""Backpressure: sync calls never block, drain() waits for the reader, a hard cap fails the run."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import streambridge as sb
from streambridge.chunks import (
    Chunk,
    Error,
    StateUpdate,
    TextDelta,
    ToolCallArgsFinish,
    ToolCallBegin,
)
from streambridge.run import GENERIC_ERROR_MESSAGE

pytestmark = pytest.mark.anyio


async def test_sync_methods_never_block_or_yield_to_the_reader() -> None:
    """Far past high_water, sync calls return at once and the reader has not run in between."""
    done: list[bool] = []

    async def run(controller: sb.RunController) -> None:
        for i in range(500):
            controller.append_text(str(i))
            controller.with_parent_id("p").append_reasoning("r")
            controller.state["n"] = i
        tool = controller.add_tool_call("t", "t1")
        tool.append_args_text("{}")
        tool.set_response(1)
        done.append(True)

    async with sb.create_run(run, state={}, high_water=2, max_buffered=5000) as stream:
        with anyio.fail_after(2):
            first = await stream.next_batch()
            rest = [chunk async for chunk in stream]
    assert done == [True]
    # Everything arrived in the first batch: no call gave the reader a chance to run.
    assert first is not None
    assert len(first) == 500 * 3 + 4
    assert first[0] == TextDelta("0")
    assert rest == []


async def test_drain_returns_at_once_at_or_below_high_water() -> None:
    order: list[str] = []

    async def run(controller: sb.RunController) -> None:
        controller.append_text("a")
        controller.append_text("b")
        await controller.drain()  # 2 buffered, high_water 2: nothing to wait for
        order.append("drained")
        controller.append_text("c")

    async with sb.create_run(run, high_water=2, max_buffered=10) as stream:
        first = await stream.next_batch()
        order.append("read")
    assert order == ["drained", "read"]
    assert first == [TextDelta("a"), TextDelta("b"), TextDelta("c")]


async def test_drain_waits_above_high_water_until_the_reader_reads() -> None:
    reached = anyio.Event()
    resumed = anyio.Event()

    async def run(controller: sb.RunController) -> None:
        for i in range(5):
            controller.append_text(f"a{i}")
        await controller.drain()  # released by the first read
        for i in range(5):
            controller.append_text(f"b{i}")
        reached.set()
        await controller.drain()
        resumed.set()
        controller.append_text("end")

    async with sb.create_run(run, high_water=2, max_buffered=50) as stream:
        with anyio.fail_after(2):
            first = await stream.next_batch()
            assert first == [TextDelta(f"a{i}") for i in range(5)]
            await reached.wait()
            await anyio.sleep(0.05)
            assert not resumed.is_set(), "drain() returned while nobody read"
            second = await stream.next_batch()
            assert second == [TextDelta(f"b{i}") for i in range(5)]
            await resumed.wait()
            rest = [chunk async for chunk in stream]
    assert rest == [TextDelta("end")]


async def test_drain_returns_once_the_stream_is_closed() -> None:
    """A run blocked in drain() sees the close and can stop on its own."""
    blocked = anyio.Event()
    after_drain: list[bool] = []

    async def run(controller: sb.RunController) -> None:
        for i in range(10):
            controller.append_text(str(i))
        await controller.drain()  # released by the first read
        for i in range(10):
            controller.append_text(str(i))
        blocked.set()
        await controller.drain()  # released by the close, not by a read
        after_drain.append(controller.is_cancelled)

    stream = sb.create_run(run, high_water=2, max_buffered=50, grace=0.5)
    with anyio.fail_after(2):
        await stream.next_batch()
        await blocked.wait()
        started = anyio.current_time()
        await stream.aclose()
    assert after_drain == [True]
    assert anyio.current_time() - started < 0.25  # stopped on its own, long before the grace


def counting_source() -> tuple[AsyncIterator[Chunk], list[int]]:
    """A source that always has a chunk ready (a fast model), and how many it gave."""
    produced = [0]

    async def source() -> AsyncIterator[Chunk]:
        while True:
            produced[0] += 1
            yield TextDelta(str(produced[0]))

    return source(), produced


async def test_add_stream_reader_waits_while_nobody_reads() -> None:
    high_water = 4
    source, produced = counting_source()

    async def run(controller: sb.RunController) -> None:
        controller.add_stream(source)

    consumed = 0
    async with sb.create_run(run, high_water=high_water, max_buffered=100) as stream:
        with anyio.fail_after(2):
            for _ in range(3):
                batch = await stream.next_batch()
                assert batch
                consumed += len(batch)
                await anyio.sleep(0.03)  # plenty of time for an unbounded reader to run away
                assert produced[0] - consumed <= high_water + 1
            # ...and it resumes when the consumer reads.
            before = produced[0]
            for _ in range(5):
                batch = await stream.next_batch()
                assert batch
                consumed += len(batch)
            assert produced[0] > before
            assert produced[0] - consumed <= high_water + 1


async def test_add_stream_reader_stops_reading_its_source_after_close(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Once the client has gone nobody reads: the reader must not drain the source into a
    buffer nobody will read (and must not hog the event loop doing so)."""
    caplog.set_level(logging.WARNING, logger="streambridge")
    high_water = 4
    source, produced = counting_source()

    async def run(controller: sb.RunController) -> None:
        controller.add_stream(source)

    stream = sb.create_run(run, high_water=high_water, max_buffered=10_000)
    with anyio.fail_after(5):
        batch = await stream.next_batch()
        assert batch
        consumed = len(batch)
        await stream.aclose()
    assert produced[0] - consumed <= high_water + 2
    assert not [r for r in caplog.records if r.name == "streambridge"], caplog.text


async def test_exceeding_max_buffered_raises_at_the_call(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="streambridge")
    raised: list[BaseException] = []
    emitted: list[int] = []

    async def run(controller: sb.RunController) -> None:
        try:
            for i in range(100):
                controller.append_text(str(i))
                emitted.append(i)
        except sb.BufferOverflowError as exc:
            raised.append(exc)
            raise

    async with sb.create_run(run, high_water=2, max_buffered=10) as stream:
        with anyio.fail_after(2):
            chunks = [chunk async for chunk in stream]
    assert len(raised) == 1, "no BufferOverflowError at the call"
    assert isinstance(raised[0], RuntimeError)  # BufferOverflowError is a RuntimeError
    message = str(raised[0])
    assert "drain()" in message
    assert "max_buffered" in message
    assert len(emitted) < 12  # it stopped at the cap, not later
    assert chunks[-1] == Error(GENERIC_ERROR_MESSAGE)
    assert all(isinstance(chunk, TextDelta) for chunk in chunks[:-1])
    assert len(chunks) <= 10 + 2
    assert any(
        record.exc_info is not None and isinstance(record.exc_info[1], sb.BufferOverflowError)
        for record in caplog.records
    )


async def test_a_run_that_swallows_the_overflow_is_still_stopped() -> None:
    attempts: list[Any] = []

    async def run(controller: sb.RunController) -> None:
        for i in range(50):
            try:
                controller.append_text(str(i))
            except sb.BufferOverflowError as exc:
                attempts.append(exc)
        attempts.append("loop ended")
        await anyio.lowlevel.checkpoint()  # the run was failed: cancelled at its next checkpoint
        attempts.append("not reached")

    async with sb.create_run(run, high_water=2, max_buffered=10) as stream:
        with anyio.fail_after(2):
            chunks = [chunk async for chunk in stream]
    assert "not reached" not in attempts
    assert attempts[-1] == "loop ended"
    # Every call past the cap raised, so nothing after it slipped into the stream.
    assert all(isinstance(a, sb.BufferOverflowError) for a in attempts[:-1])
    assert chunks.count(Error(GENERIC_ERROR_MESSAGE)) == 1
    assert chunks[-1] == Error(GENERIC_ERROR_MESSAGE)
    texts = [chunk.text_delta for chunk in chunks if isinstance(chunk, TextDelta)]
    assert texts == [str(i) for i in range(len(texts))]


async def test_the_call_that_overflows_raises_and_adds_nothing() -> None:
    """The call that hits the cap raises (once ``max_buffered`` unread chunks are reached, or
    exceeded) and, like any call that raised, its chunk is not sent."""
    succeeded: list[int] = []
    failed_at: list[int] = []

    async def run(controller: sb.RunController) -> None:
        for i in range(10):
            try:
                controller.append_text(str(i))
            except sb.BufferOverflowError:
                failed_at.append(i)
                raise
            succeeded.append(i)

    async with sb.create_run(run, high_water=2, max_buffered=5) as stream:
        chunks = [chunk async for chunk in stream]
    texts = [chunk.text_delta for chunk in chunks if isinstance(chunk, TextDelta)]
    assert failed_at in ([4], [5])
    assert texts == [str(i) for i in succeeded], f"call {failed_at} raised, yet its chunk was sent"
    assert chunks[-1] == Error(GENERIC_ERROR_MESSAGE)


async def test_overflow_with_open_tool_calls_still_closes_them_and_ends_with_error() -> None:
    async def run(controller: sb.RunController) -> None:
        for n in range(3):
            controller.add_tool_call("tool", f"t{n}")
        while True:
            controller.append_text("x")

    async with sb.create_run(run, high_water=2, max_buffered=6) as stream:
        with anyio.fail_after(2):
            chunks = [chunk async for chunk in stream]
    assert chunks[:3] == [ToolCallBegin(f"t{n}", "tool") for n in range(3)]
    finishes = [chunk for chunk in chunks if isinstance(chunk, ToolCallArgsFinish)]
    assert sorted(finish.tool_call_id for finish in finishes) == ["t0", "t1", "t2"]
    assert chunks[-1] == Error(GENERIC_ERROR_MESSAGE)


async def test_no_chunk_is_accepted_after_the_run_ended() -> None:
    saved: list[sb.RunController] = []

    async def run(controller: sb.RunController) -> None:
        saved.append(controller)
        controller.append_text("a")

    async with sb.create_run(run) as stream:
        assert [chunk async for chunk in stream] == [TextDelta("a")]
    with pytest.raises(RuntimeError, match="ended"):
        saved[0].append_text("late")


async def test_create_run_rejects_a_bad_high_water() -> None:
    async def run(controller: sb.RunController) -> None:
        pass

    with pytest.raises(ValueError, match="high_water"):
        sb.create_run(run, high_water=10, max_buffered=10)
    with pytest.raises(ValueError, match="high_water"):
        sb.create_run(run, high_water=0)


async def test_pending_state_operations_count_against_high_water() -> None:
    """A loop of state writes is held back by drain() like any other chunks."""

    async def run(controller: sb.RunController) -> None:
        for i in range(2_000):
            controller.state["k"] = i
            await controller.drain()

    sizes = []
    async for chunk in sb.create_run(run, state={}, high_water=10, max_buffered=100):
        assert isinstance(chunk, StateUpdate)
        sizes.append(len(chunk.operations))
    assert sum(sizes) == 2_000
    assert max(sizes) <= 11


async def test_pending_state_operations_hit_max_buffered() -> None:
    written = []

    async def run(controller: sb.RunController) -> None:
        for i in range(1_000):
            controller.state["k"] = i
            written.append(i)

    chunks = [
        chunk async for chunk in sb.create_run(run, state={}, high_water=10, max_buffered=100)
    ]
    assert len(written) == 100  # the 101st write raised BufferOverflowError
    assert chunks[-1] == Error(GENERIC_ERROR_MESSAGE)
