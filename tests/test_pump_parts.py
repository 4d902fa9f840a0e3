"""The pump's parts on their own: the block its stops interrupt, and the send watchdog."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from streambridge.transport import watchdog
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


async def _interrupt_soon(block: Interruptible) -> None:
    await anyio.sleep(0.02)
    block.interrupt()


class _Send:
    def __init__(self, timeout: float) -> None:
        self.send_timeout = timeout
        self.send_started: float | None = None
        self.timed_out_at: float | None = None

    def time_out(self) -> None:
        self.timed_out_at = anyio.current_time()


async def test_a_stuck_send_is_given_up_within_a_quarter_more_than_its_timeout() -> None:
    slow, stuck = _Send(timeout=60.0), _Send(timeout=0.2)
    watchdog.watch(slow)  # the loop's watchdog now wakes every 15 s
    watchdog.watch(stuck)  # ... and must wake often enough for this one too
    try:
        started = stuck.send_started = anyio.current_time()
        slow.send_started = started
        await anyio.sleep(0.3)
    finally:
        watchdog.unwatch(slow)
        watchdog.unwatch(stuck)
    assert stuck.timed_out_at is not None
    assert 0.2 <= stuck.timed_out_at - started <= 0.25 + 0.1  # 0.1: a busy machine
    assert slow.timed_out_at is None


async def test_a_send_that_finished_is_not_given_up() -> None:
    done = _Send(timeout=0.05)
    watchdog.watch(done)
    try:
        done.send_started = anyio.current_time()
        done.send_started = None  # the send returned
        await anyio.sleep(0.1)
    finally:
        watchdog.unwatch(done)
    assert done.timed_out_at is None


async def test_the_watchdog_task_ends_with_the_last_stream() -> None:
    watched = _Send(timeout=0.05)
    watchdog.watch(watched)
    assert watchdog._watchdogs
    watchdog.unwatch(watched)
    assert not watchdog._watchdogs  # and its task was cancelled
