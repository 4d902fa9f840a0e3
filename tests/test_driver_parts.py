"""The driver's parts on their own: the block its stops interrupt, and the loop's clock."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import anyio
import anyio.lowlevel
import pytest

from streambridge.transport import clock
from streambridge.transport.interrupt import Interruptible

pytestmark = pytest.mark.anyio


async def test_an_interrupt_ends_the_block_where_it_waits() -> None:
    block = Interruptible()
    reached_end = False
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(_interrupt_soon, block)
        async with block:
            await anyio.sleep(5)
            reached_end = True
    assert block.interrupted
    assert not reached_end


async def test_an_interrupt_before_the_block_ends_it_at_its_first_wait() -> None:
    block = Interruptible()
    block.interrupt()
    with anyio.fail_after(1):
        async with block:
            await anyio.sleep(5)


async def test_an_uninterrupted_block_is_left_normally_and_a_late_interrupt_is_harmless() -> None:
    block = Interruptible()
    async with block:
        await anyio.lowlevel.checkpoint()
    block.interrupt()
    await anyio.sleep(0.01)  # nothing is cancelled later on


async def test_a_cancellation_from_outside_still_goes_through() -> None:
    block = Interruptible()
    with anyio.move_on_after(0.05) as outer:
        async with block:
            await anyio.sleep(5)
    assert outer.cancelled_caught
    assert not block.interrupted


async def test_an_inner_block_interrupted_leaves_the_outer_one_running() -> None:
    outer, inner = Interruptible(), Interruptible()
    after_inner = False
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(_interrupt_soon, inner)
        async with outer:
            async with inner:
                await anyio.sleep(5)
            after_inner = True
            await anyio.sleep(0.01)  # no cancellation is left over
    assert after_inner
    assert not outer.interrupted


async def test_both_blocks_interrupted_at_once_end_at_the_outer_one() -> None:
    outer, inner = Interruptible(), Interruptible()
    after_inner = False
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(_soon, inner.interrupt, outer.interrupt)
        async with outer:
            async with inner:
                await anyio.sleep(5)
            after_inner = True
    assert not after_inner
    await anyio.sleep(0.01)  # and nothing is cancelled later on


async def test_an_interrupt_with_a_cancellation_from_outside_lets_that_through() -> None:
    block = Interruptible()
    with anyio.CancelScope() as outer:
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(_soon, outer.cancel, block.interrupt)
            async with block:
                await anyio.sleep(5)
            pytest.fail("the outer cancellation was swallowed")
    assert outer.cancelled_caught


async def _interrupt_soon(block: Interruptible) -> None:
    await _soon(block.interrupt)


async def _soon(*calls: Callable[[], object]) -> None:
    """Make ``calls`` one after the other, in one step, 20 ms from now."""
    await anyio.sleep(0.02)
    for call in calls:
        call()


class _Stream:
    """What the clock times: a send under way, and idleness since the last send."""

    def __init__(self, timeout: float = math.inf, heartbeat: float = math.inf) -> None:
        self.send_timeout = timeout
        self.heartbeat = heartbeat
        self.send_started: float | None = None
        self.last_sent = clock.monotonic()
        self.timed_out_at: float | None = None
        self.idle_at: list[float] = []
        self.quiet_at: list[float] = []

    def quiet(self) -> None:
        self.quiet_at.append(clock.monotonic())

    def time_out(self) -> None:
        self.timed_out_at = clock.monotonic()

    def idle(self) -> None:
        self.idle_at.append(clock.monotonic())
        self.last_sent = clock.monotonic()  # as the keepalive's send would


async def test_a_stuck_send_is_given_up_within_an_eighth_more_than_its_timeout() -> None:
    slow, stuck = _Stream(timeout=60.0), _Stream(timeout=0.2)
    clock.watch(slow)  # the loop's clock now looks every 7.5 s
    clock.watch(stuck)  # ... and must look often enough for this one too
    try:
        started = stuck.send_started = clock.monotonic()
        slow.send_started = started
        await anyio.sleep(0.3)
    finally:
        clock.unwatch(slow)
        clock.unwatch(stuck)
    assert stuck.timed_out_at is not None
    assert 0.2 <= stuck.timed_out_at - started <= 0.225 + 0.1  # 0.1: a busy machine
    assert slow.timed_out_at is None


async def test_a_send_that_finished_is_not_given_up() -> None:
    done = _Stream(timeout=0.05)
    clock.watch(done)
    try:
        done.send_started = clock.monotonic()
        done.send_started = None  # the send returned
        await anyio.sleep(0.1)
    finally:
        clock.unwatch(done)
    assert done.timed_out_at is None


async def test_an_idle_stream_is_told_every_heartbeat_and_a_sending_one_never() -> None:
    quiet, busy = _Stream(heartbeat=0.08), _Stream(heartbeat=0.08)
    busy.send_started = clock.monotonic()  # one long send: not idle
    start = clock.monotonic()
    clock.watch(quiet)
    clock.watch(busy)
    try:
        await anyio.sleep(0.3)
    finally:
        clock.unwatch(quiet)
        clock.unwatch(busy)
    assert 2 <= len(quiet.idle_at) <= 4
    assert quiet.idle_at[0] - start >= 0.08
    assert all(b - a >= 0.08 for a, b in itertools.pairwise(quiet.idle_at))
    assert busy.idle_at == []
    assert busy.quiet_at == []


async def test_a_stream_that_sent_nothing_for_a_tick_is_told_it_is_quiet() -> None:
    stream = _Stream(heartbeat=0.4)  # the clock ticks every 0.05 s
    clock.watch(stream)
    try:
        await anyio.sleep(0.2)
        assert stream.quiet_at  # between ticks 1 and 2, and at every tick after
        assert stream.quiet_at[0] - stream.last_sent >= 0.05
        stream.last_sent = clock.monotonic()  # a send
        told = len(stream.quiet_at)
        await anyio.sleep(0.03)  # less than a tick after it
        assert len(stream.quiet_at) == told
    finally:
        clock.unwatch(stream)
    assert stream.idle_at == []


async def test_the_clock_task_ends_with_the_last_stream() -> None:
    watched = _Stream(timeout=0.05)
    clock.watch(watched)
    assert clock._clocks
    clock.unwatch(watched)
    assert not clock._clocks  # and its task was cancelled


def test_a_stream_with_nothing_to_time_is_not_watched() -> None:
    clock.watch(_Stream())  # outside any event loop: it must not even look for one
    assert not clock._clocks
