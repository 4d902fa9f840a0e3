"""``Wakeup``: a wake-up that comes with the timeout is not lost."""

from __future__ import annotations

import time

import anyio
import pytest

from streambridge._wakeup import Wakeup

pytestmark = pytest.mark.anyio


async def test_a_wake_in_the_same_loop_pass_as_the_timeout_still_counts() -> None:
    wakeup = Wakeup()
    results: list[bool] = []
    late: list[bool] = []

    async def waiter() -> None:
        results.append(await wakeup.wait(0.05))

    async def waker() -> None:
        await anyio.sleep(0.04)
        late.append(bool(results))  # the wait had already returned: this wake-up is for nobody
        wakeup.wake()

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(waiter)
        task_group.start_soon(waker)
        await anyio.sleep(0.01)
        time.sleep(0.1)  # noqa: ASYNC251 (hold the loop: the sleep and the timeout come due at once)
    # Which task resumes first is the event loop's choice (asyncio: the waker; trio: either);
    # a wake-up that came before the wait returned must count.
    assert results == [False] if late == [True] else results == [True]


async def test_a_wait_times_out_or_is_woken() -> None:
    wakeup = Wakeup()
    assert await wakeup.wait(0.01) is False
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(_wake_soon, wakeup)
        assert await wakeup.wait(5) is True
        task_group.start_soon(_wake_soon, wakeup)
        assert await wakeup.wait() is True


async def test_a_cancelled_wait_is_not_woken_later() -> None:
    wakeup = Wakeup()
    with anyio.move_on_after(0.01):
        await wakeup.wait()
    # The cancelled task has moved on: waking it now must not resume it a second time (trio
    # raises if a task that is not parked is rescheduled), and the next wait still works.
    wakeup.wake()
    await anyio.sleep(0.01)
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(_wake_soon, wakeup)
        assert await wakeup.wait(5) is True


async def _wake_soon(wakeup: Wakeup) -> None:
    await anyio.sleep(0.01)
    wakeup.wake()
