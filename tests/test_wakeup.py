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


async def test_a_task_and_a_callback_cannot_wait_on_one_wakeup() -> None:
    wakeup = Wakeup()
    wakeup.call_on_wake(lambda woken: None, None)
    with pytest.raises(RuntimeError, match="callback"):
        await wakeup.wait(0.01)
    wakeup.forget()
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(wakeup.wait, 1.0)
        await anyio.sleep(0.01)
        with pytest.raises(RuntimeError, match="task waits"):
            wakeup.call_on_wake(lambda woken: None, None)
        wakeup.wake()


async def test_a_callback_that_raises_is_logged_and_the_producer_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    wakeup = Wakeup()

    def broken(woken: bool) -> None:
        raise ValueError("a bug in the callback")

    wakeup.call_on_wake(broken, None)
    wakeup.wake()  # the producer's call returns normally
    assert "a callback waiting for a run's chunks raised" in caplog.text
