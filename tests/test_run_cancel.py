"""Closing a run's stream cancels the run: promptly, completely, and with its cleanup done."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import streambridge as sb
from streambridge.chunks import Chunk, TextDelta

pytestmark = pytest.mark.anyio

GRACE = 0.05  # create_run's default


def running_tasks() -> set[Any]:
    """Every task of the event loop (trio's system tasks included)."""
    tasks: set[Any] = {task.id for task in anyio.get_running_tasks()}
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return tasks  # trio
    return tasks | {id(task) for task in asyncio.all_tasks()}


class Probe:
    """What a run saw: whether it was cancelled, whether its cleanup ran."""

    def __init__(self) -> None:
        self.started = False
        self.cancelled_at_start: bool | None = None
        self.got_cancel_exception = False
        self.finally_ran = False
        self.shielded_cleanup_done = False
        self.is_cancelled_in_finally: bool | None = None
        self.stopped_on_its_own = False
        self.controller: sb.RunController | None = None


def stubborn_run(probe: Probe) -> sb.RunFunction:
    """A run that ignores is_cancelled: it must be cancelled after the grace."""

    async def run(controller: sb.RunController) -> None:
        probe.started = True
        probe.controller = controller
        probe.cancelled_at_start = controller.is_cancelled
        try:
            controller.append_text("ready")
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            probe.got_cancel_exception = True
            raise
        finally:
            probe.finally_ran = True
            probe.is_cancelled_in_finally = controller.is_cancelled
            with anyio.CancelScope(shield=True):
                await anyio.sleep(0.01)
                probe.shielded_cleanup_done = True

    return run


async def close_by(how: str, run: sb.RunFunction, grace: float = GRACE) -> list[Any]:
    """Read the run's first output, then close its stream the way ``how`` says."""
    received: list[Any] = []

    def create_run() -> sb.RunStream:
        return sb.create_run(run, grace=grace)

    if how == "aclose":
        stream = create_run()
        received.append(await stream.__anext__())
        await stream.aclose()
    elif how == "async_with":
        async with create_run() as stream:
            async for chunk in stream:
                received.append(chunk)
                break
    elif how == "outer_cancel_scope":
        stream = create_run()
        with anyio.move_on_after(0.05):
            async for chunk in stream:
                received.append(chunk)
    elif how == "task_group_cancel":
        stream = create_run()
        first = anyio.Event()

        async def respond() -> None:
            async for chunk in stream:
                received.append(chunk)
                first.set()

        async with anyio.create_task_group() as task_group:
            task_group.start_soon(respond)
            await first.wait()
            await anyio.sleep(0.01)  # let the consumer block waiting for the next chunk
            task_group.cancel_scope.cancel()
    elif how == "encode_aclose":
        body = sb.encode(create_run())
        received.append(await body.__anext__())
        await body.aclose()
    elif how == "encode_outer_cancel_scope":
        body = sb.encode(create_run())
        with anyio.move_on_after(0.05):
            async for data in body:
                received.append(data)
    else:  # pragma: no cover
        raise AssertionError(how)
    return received


CLOSERS = [
    "aclose",
    "async_with",
    "outer_cancel_scope",
    "task_group_cancel",
    "encode_aclose",
    "encode_outer_cancel_scope",
]


@pytest.mark.parametrize("how", CLOSERS)
async def test_closing_cancels_a_run_that_ignores_it_after_the_grace(how: str) -> None:
    probe = Probe()
    before = running_tasks()
    started = anyio.current_time()
    with anyio.fail_after(2):
        received = await close_by(how, stubborn_run(probe))
    elapsed = anyio.current_time() - started

    assert received in ([TextDelta("ready")], [b'0:"ready"\n'])
    assert probe.cancelled_at_start is False
    assert probe.controller is not None
    assert probe.controller.is_cancelled
    assert probe.is_cancelled_in_finally is True
    assert probe.got_cancel_exception, "the run was not cancelled"
    assert probe.finally_ran
    assert probe.shielded_cleanup_done
    assert elapsed >= GRACE * 0.9, "the run was cancelled before its grace"
    assert elapsed < 1.0
    assert running_tasks() <= before, "a task outlived the closed stream"


@pytest.mark.parametrize("wait_style", ["poll", "event"])
@pytest.mark.parametrize("how", ["aclose", "async_with", "outer_cancel_scope", "encode_aclose"])
async def test_a_run_that_stops_within_the_grace_is_not_cancelled(
    how: str, wait_style: str
) -> None:
    probe = Probe()

    async def run(controller: sb.RunController) -> None:
        probe.controller = controller
        try:
            controller.append_text("ready")
            if wait_style == "poll":
                while not controller.is_cancelled:  # noqa: ASYNC110 (polling is the point)
                    await anyio.sleep(0.002)
            else:
                await controller.cancelled.wait()
            await anyio.lowlevel.checkpoint()  # a checkpoint: raises if the run was cancelled
            probe.stopped_on_its_own = True
        except anyio.get_cancelled_exc_class():
            probe.got_cancel_exception = True
            raise
        finally:
            probe.finally_ran = True

    before = running_tasks()
    started = anyio.current_time()
    with anyio.fail_after(2):
        await close_by(how, run, grace=0.5)
    # Closing waits for the run to stop on its own, not for the whole (long) grace.
    elapsed = anyio.current_time() - started
    assert probe.stopped_on_its_own
    assert not probe.got_cancel_exception
    assert probe.finally_ran
    assert probe.controller is not None
    assert probe.controller.is_cancelled
    assert elapsed < 0.4
    assert running_tasks() <= before


async def test_aclose_waits_the_configured_grace() -> None:
    probe = Probe()
    stream = sb.create_run(stubborn_run(probe), grace=0.3)
    assert await stream.__anext__() == TextDelta("ready")
    started = anyio.current_time()
    await stream.aclose()
    elapsed = anyio.current_time() - started
    assert probe.got_cancel_exception
    assert 0.25 <= elapsed < 1.5


async def test_a_cooperative_run_with_a_long_grace_ends_without_waiting_it() -> None:
    stopped = anyio.Event()

    async def run(controller: sb.RunController) -> None:
        controller.append_text("ready")
        await controller.cancelled.wait()
        stopped.set()

    stream = sb.create_run(run, grace=5)
    assert await stream.__anext__() == TextDelta("ready")
    started = anyio.current_time()
    await stream.aclose()
    assert stopped.is_set()
    assert anyio.current_time() - started < 1.0


async def test_a_run_looping_on_drain_is_cancelled_after_the_grace() -> None:
    """The common streaming loop: emit, then ``await controller.drain()``.  It ignores
    is_cancelled, so after the grace it must be cancelled, not left spinning."""
    probe = Probe()
    after_close = [0]
    overflow: list[BaseException] = []

    async def run(controller: sb.RunController) -> None:
        try:
            while True:
                controller.append_text("token")
                if controller.is_cancelled:
                    after_close[0] += 1
                await controller.drain()
        except anyio.get_cancelled_exc_class():
            probe.got_cancel_exception = True
            raise
        except sb.BufferOverflowError as exc:
            overflow.append(exc)
            raise

    stream = sb.create_run(run, high_water=4, max_buffered=5000)
    with anyio.fail_after(5):
        assert await stream.next_batch()
        started = anyio.current_time()
        await stream.aclose()
    elapsed = anyio.current_time() - started
    assert not overflow, f"the run spun {after_close[0]} times after the close, to the cap"
    assert probe.got_cancel_exception
    assert elapsed < 1.0


async def test_add_stream_readers_are_cancelled_too() -> None:
    source_probe = Probe()
    run_probe = Probe()

    async def source() -> AsyncIterator[Chunk]:
        try:
            yield TextDelta("from source")
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            source_probe.got_cancel_exception = True
            raise
        finally:
            source_probe.finally_ran = True

    async def run(controller: sb.RunController) -> None:
        run_probe.controller = controller
        controller.add_stream(source())
        controller.add_stream(source())
        # Returns at once: the run goes on while its sources do.

    before = running_tasks()
    stream = sb.create_run(run)
    with anyio.fail_after(2):
        first = await stream.__anext__()
        await stream.aclose()
    assert first == TextDelta("from source")
    assert source_probe.got_cancel_exception
    assert source_probe.finally_ran
    assert run_probe.controller is not None
    assert run_probe.controller.is_cancelled
    assert running_tasks() <= before


async def test_add_stream_source_is_closed_when_the_run_is_cancelled() -> None:
    closed: list[bool] = []

    class Source:
        """An async iterator (not a generator) with aclose(), like a memory object stream."""

        def __init__(self) -> None:
            self.sent = False

        def __aiter__(self) -> Source:
            return self

        async def __anext__(self) -> Chunk:
            if not self.sent:
                self.sent = True
                return TextDelta("x")
            await anyio.sleep_forever()
            raise AssertionError("unreachable")

        async def aclose(self) -> None:
            closed.append(True)

    async def run(controller: sb.RunController) -> None:
        controller.add_stream(Source())

    stream = sb.create_run(run)
    with anyio.fail_after(2):
        assert await stream.__anext__() == TextDelta("x")
        await stream.aclose()
    assert closed == [True]


async def test_closing_before_the_first_read_does_not_start_the_run() -> None:
    probe = Probe()
    before = running_tasks()
    stream = sb.create_run(stubborn_run(probe))
    await stream.aclose()
    assert [chunk async for chunk in stream] == []
    assert not probe.started
    assert running_tasks() <= before


async def test_leaving_async_with_before_the_first_read_does_not_start_the_run() -> None:
    probe = Probe()
    before = running_tasks()
    async with sb.create_run(stubborn_run(probe)):
        pass
    assert not probe.started
    assert running_tasks() <= before


async def test_closing_encode_before_the_first_read_does_not_start_the_run() -> None:
    probe = Probe()
    body = sb.encode(sb.create_run(stubborn_run(probe)))
    await body.aclose()
    assert [data async for data in body] == []
    assert not probe.started


async def test_aclose_after_the_run_ended_is_harmless() -> None:
    async def run(controller: sb.RunController) -> None:
        controller.append_text("a")

    stream = sb.create_run(run)
    assert [chunk async for chunk in stream] == [TextDelta("a")]
    await stream.aclose()
    await stream.aclose()
    assert [chunk async for chunk in stream] == []


async def test_closing_the_stream_is_not_cancelled_by_the_callers_own_cancellation() -> None:
    """aclose() runs shielded: the run's finally completes even when the closer is cancelled."""
    probe = Probe()
    stream = sb.create_run(stubborn_run(probe))
    assert await stream.__anext__() == TextDelta("ready")
    with anyio.CancelScope() as scope:
        scope.cancel()
        await stream.aclose()
    assert probe.got_cancel_exception
    assert probe.shielded_cleanup_done


async def test_an_abandoned_stream_cancels_its_run() -> None:
    """``break`` out of ``async for`` without aclose(): once the stream is dropped, its run is
    cancelled instead of running on with nobody reading."""
    stopped = anyio.Event()

    async def run(controller: sb.RunController) -> None:
        try:
            controller.append_text("first")
            await anyio.sleep_forever()
        finally:
            stopped.set()

    async for _chunk in sb.create_run(run):
        break
    with anyio.fail_after(1):
        await stopped.wait()


def test_create_run_needs_no_running_event_loop() -> None:
    async def run(controller: sb.RunController) -> None:
        controller.append_text("built outside the loop")

    for backend in ("asyncio", "trio"):
        stream = sb.create_run(run)

        async def read(stream: sb.RunStream = stream) -> list[Chunk]:
            return [chunk async for chunk in stream]

        assert anyio.run(read, backend=backend) == [TextDelta("built outside the loop")]
