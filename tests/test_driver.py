"""The ``Driver`` on its own, with a stand-in client: how each way to stop ends the stream and its
run.

The hosts' behaviour suite checks the same over real servers; here each case is exact (which bytes,
in which order, after which the run's ``finally``), on asyncio and trio.  The client's leaving
reaches the driver as a host's would: a task waiting on the client calls ``client_gone()``.
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import math
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import streambridge as sb
from streambridge.transport import Driver, Ending
from streambridge.transport.shutdown import OpenStreams, StopSignal

pytestmark = pytest.mark.anyio

GONE = "gone"

# Every case twice: with sends begun in the run's own task (as the ASGI host's driver does),
# and only in the driver's (as the other hosts').  Trio always has the latter (the driver
# ignores ``inline=True`` there), so there both ways must pass as one.
INLINE = contextvars.ContextVar("INLINE", default=False)


@pytest.fixture(autouse=True, params=[False, True], ids=["driver-sends", "run-sends"])
def inline(request: pytest.FixtureRequest, anyio_backend: str) -> Iterator[bool]:
    token = INLINE.set(request.param)
    yield request.param and anyio_backend == "asyncio"
    INLINE.reset(token)


END = b'd:{"finishReason":"stop","usage":{"inputTokens":0,"outputTokens":0}}\n'


class Client:
    """A client that reads everything (or stops reading after ``reads`` sends) and can leave."""

    def __init__(self, reads: float = math.inf, fail_with: BaseException | None = None) -> None:
        self.sent: list[bytes] = []
        self.times: list[float] = []
        self.reads = reads
        self.fail_with = fail_with
        self.left = anyio.Event()
        self.left_at = math.inf
        self.send_seconds = 0.0
        self.stop_seconds = 0.0
        self.opening_seconds = 0.0
        self.sending = 0  # sends under way
        self.senders: list[object] = []  # the task of each send

    async def receive(self) -> str:
        await self.left.wait()
        return GONE

    async def deliver(self, data: bytes) -> None:
        self.sending += 1
        try:
            if len(self.sent) >= self.reads:
                if self.fail_with is not None:
                    raise self.fail_with
                await anyio.sleep_forever()  # a client that stopped reading
            if self.send_seconds:
                await anyio.sleep(self.send_seconds)
            self.sent.append(data)
            self.senders.append(_current_task())
            self.times.append(anyio.current_time())
        finally:
            if self.stop_seconds:
                with anyio.CancelScope(shield=True):
                    await anyio.sleep(self.stop_seconds)  # a send that is slow to stop too
            self.sending -= 1

    async def opening(self) -> None:
        if b"<start>" in self.sent:
            raise RuntimeError("the response has already started")  # as ASGI servers do
        self.sent.append(b"<start>")
        self.senders.append(_current_task())
        await anyio.sleep(self.opening_seconds)  # e.g. a server waiting for its socket to drain


class Recorder:
    """A run that records when its ``finally`` ran."""

    def __init__(self, body: Callable[[sb.RunController], Awaitable[None]]) -> None:
        self.body = body
        self.finished_at: float | None = None

    async def __call__(self, controller: sb.RunController) -> None:
        try:
            await self.body(controller)
        finally:
            self.finished_at = anyio.current_time()


async def serve(
    run: Any,
    client: Client,
    *,
    heartbeat: float | None = None,
    send_timeout: float | None = 5.0,
    stop: StopSignal | None = None,
    protocol: str = "data-stream",
    listen: bool = False,
) -> Ending:
    """Serve ``run`` to ``client``; ``listen``: the driver listens for the client itself (as the
    ASGI host's does), else a task of the test's tells it."""
    body = sb.encode(sb.create_run(run), protocol, heartbeat=heartbeat)
    driver = Driver(
        body,
        client.deliver,
        send_timeout=send_timeout,
        opening=client.opening,
        client=client.receive if listen else None,
        inline=INLINE.get(),
    )
    if listen:
        with anyio.fail_after(5):
            return await driver.run(stop or OpenStreams().track())

    async def watch_client() -> None:
        try:
            while await client.receive() != GONE:
                pass
        except Exception:
            pass  # not hearing from the client: nobody listens any more
        driver.client_gone()

    with anyio.fail_after(5):  # a stream that stalls fails its test rather than hang it
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(watch_client)
            try:
                return await driver.run(stop or OpenStreams().track())
            finally:
                task_group.cancel_scope.cancel()


async def test_a_whole_run_goes_out_after_the_opening_one_send_per_ready_batch() -> None:
    async def run(controller: sb.RunController) -> None:
        controller.append_text("a")
        controller.append_text("b")
        await anyio.sleep(0.02)
        controller.append_text("c")

    client = Client()
    assert await serve(run, client) is Ending.COMPLETE
    assert client.sent == [b"<start>", b'0:"a"\n0:"b"\n', b'0:"c"\n', END]


async def test_a_protocols_empty_end_still_ends_the_stream() -> None:
    # AG-UI ends a failed run with its RUN_ERROR: the end that follows it is no bytes at all.
    async def run(controller: sb.RunController) -> None:
        controller.append_text("a")
        raise RuntimeError("secret")

    client = Client()
    assert await serve(run, client, protocol="ag-ui") is Ending.COMPLETE
    assert b"RUN_ERROR" in client.sent[-1]
    assert b"secret" not in b"".join(client.sent)


async def test_a_burst_is_coalesced_into_few_sends() -> None:
    async def run(controller: sb.RunController) -> None:
        for _ in range(10_000):
            controller.append_text("x")

    client = Client()
    assert await serve(run, client) is Ending.COMPLETE
    assert b"".join(client.sent[1:]).count(b'0:"x"\n') == 10_000
    assert len(client.sent) <= 4  # the opening, the burst, the end (maybe split once)


async def test_a_client_that_leaves_ends_the_stream_and_the_run_before_run_returns() -> None:
    run = Recorder(lambda controller: anyio.sleep_forever())
    client = Client()
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(_leave_after, client, 0.05)
        assert await serve(run, client) is Ending.CLIENT_GONE
        assert run.finished_at is not None  # the run was cancelled and waited for
    assert client.sent == [b"<start>"]


async def test_an_idle_stream_carries_heartbeats_spaced_by_the_option() -> None:
    async def run(controller: sb.RunController) -> None:
        controller.append_text("a")
        await anyio.sleep(0.35)
        controller.append_text("b")

    client = Client()
    start = anyio.current_time()
    assert await serve(run, client, heartbeat=0.1) is Ending.COMPLETE
    beats = [t for data, t in zip(client.sent[1:], client.times, strict=True) if data == b"\n"]
    assert 2 <= len(beats) <= 4
    assert beats[0] - start >= 0.09
    assert all(later - earlier >= 0.09 for earlier, later in itertools.pairwise(beats))
    assert client.sent[-2:] == [b'0:"b"\n', END]


async def test_shutdown_sends_the_protocols_error_and_end() -> None:
    run = Recorder(lambda controller: _text_then_sleep(controller))
    client = Client()
    with OpenStreams().track() as stop:
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(_set_after, stop, 0.05)
            assert await serve(run, client, stop=stop) is Ending.SHUTDOWN
    assert run.finished_at is not None
    assert client.sent[:2] == [b"<start>", b'0:"a"\n']
    assert client.sent[2].startswith(b'3:"The server is shutting down')
    assert client.sent[2].endswith(
        b'd:{"finishReason":"error","usage":{"inputTokens":0,"outputTokens":0}}\n'
    )


async def test_a_shutdown_before_the_first_write_still_sends_the_opening_first() -> None:
    run = Recorder(lambda controller: _text_then_sleep(controller))
    client = Client()
    with OpenStreams().track() as stop:
        stop.set()
        assert await serve(run, client, stop=stop) is Ending.SHUTDOWN
    assert client.sent[0] == b"<start>"
    assert client.sent[1].startswith(b'3:"The server is shutting down')
    assert len(client.sent) == 2


async def test_a_shutdown_midway_through_the_opening_lets_it_finish_then_closes() -> None:
    run = Recorder(lambda controller: _text_then_sleep(controller))
    client = Client()
    client.opening_seconds = 0.1
    with OpenStreams().track() as stop:
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(_set_after, stop, 0.02)
            assert await serve(run, client, stop=stop) is Ending.SHUTDOWN
    assert client.sent[0] == b"<start>"  # once: a shutdown does not cut a send midway
    assert client.sent[1].startswith(b'3:"The server is shutting down')
    assert len(client.sent) == 2
    assert run.finished_at is None  # nor did the run start: it starts after the opening


async def test_a_client_that_stops_reading_is_given_up_within_the_send_timeout() -> None:
    run = Recorder(lambda controller: _text_every(controller, 0.01))
    client = Client(reads=3)
    start = anyio.current_time()
    with anyio.fail_after(2):
        assert await serve(run, client, send_timeout=0.2) is Ending.SEND_FAILED
    assert 0.15 <= anyio.current_time() - start <= 0.5
    assert run.finished_at is not None


async def test_a_send_that_fails_ends_the_stream() -> None:
    run = Recorder(lambda controller: _text_every(controller, 0.01))
    client = Client(reads=2, fail_with=ConnectionResetError())
    assert await serve(run, client) is Ending.SEND_FAILED
    assert run.finished_at is not None
    assert len(client.sent) == 2


async def test_a_send_that_fails_when_called_ends_the_stream_too() -> None:
    """A host's send need not be a coroutine: one that raises as it is called (before
    anything is awaited) is a failed send as well, from the run's task or the driver's."""
    run = Recorder(lambda controller: _text_every(controller, 0.01))
    client = Client()
    deliver = client.deliver

    def send(data: bytes) -> Awaitable[None]:
        if len(client.sent) >= 2:
            raise ConnectionResetError
        return deliver(data)

    client.deliver = send  # type: ignore[method-assign]
    assert await serve(run, client) is Ending.SEND_FAILED
    assert run.finished_at is not None
    assert len(client.sent) == 2  # the opening, then one batch


async def test_any_other_send_error_is_raised_once_the_run_is_closed() -> None:
    run = Recorder(lambda controller: _text_every(controller, 0.01))
    client = Client(reads=2, fail_with=RuntimeError("the server refused the message"))
    # (In the test's task group, as it would be in a host's.)
    with pytest.RaisesGroup(pytest.RaisesExc(RuntimeError, match="refused")):
        await serve(run, client)
    assert run.finished_at is not None


async def test_a_receive_that_raises_counts_as_the_client_gone() -> None:
    run = Recorder(lambda controller: anyio.sleep_forever())
    client = Client()

    async def broken() -> str:
        await anyio.sleep(0.02)
        raise OSError("the connection is gone")

    client.receive = broken  # type: ignore[method-assign]
    assert await serve(run, client) is Ending.CLIENT_GONE
    assert run.finished_at is not None


async def test_a_cancellation_from_outside_closes_the_run_and_stops_every_write() -> None:
    run = Recorder(lambda controller: _text_every(controller, 0.01))
    client = Client()
    client.send_seconds = 0.03  # so the cancellation comes mid-send
    client.stop_seconds = 0.2  # longer than the run's grace
    with anyio.move_on_after(0.1) as outer:
        await serve(run, client)
    assert outer.cancelled_caught
    assert run.finished_at is not None
    assert client.sending == 0  # run() returned after the send under way had ended
    sent = len(client.sent)
    await anyio.sleep(0.05)
    assert len(client.sent) == sent  # nothing is written after run() returned


async def _text_then_sleep(controller: sb.RunController) -> None:
    controller.append_text("a")
    await anyio.sleep_forever()


async def _text_every(controller: sb.RunController, seconds: float) -> None:
    while True:
        controller.append_text("t")
        await anyio.sleep(seconds)


async def _leave_after(client: Client, seconds: float) -> None:
    await anyio.sleep(seconds)
    client.left_at = anyio.current_time()
    client.left.set()


async def _set_after(stop: StopSignal, seconds: float) -> None:
    await anyio.sleep(seconds)
    stop.set()


async def test_a_quiet_stream_listens_for_its_client_without_a_task_of_its_own(
    inline: bool,
) -> None:
    counts: dict[str, int] = {}

    async def run(controller: sb.RunController) -> None:
        counts["start"] = len(anyio.get_running_tasks())
        controller.append_text("a")
        await anyio.sleep(0.3)  # the clock ticks every 0.1 s: the stream is quiet
        counts["quiet"] = len(anyio.get_running_tasks())
        # Data flows: a task listens for the client meanwhile, unless the run's own task sends
        # it (the driver's task then goes on listening).
        for piece in "bcd":
            controller.append_text(piece)
            await anyio.sleep(0.01)
        counts["flowing"] = len(anyio.get_running_tasks())
        await anyio.sleep(0.3)
        counts["quiet again"] = len(anyio.get_running_tasks())
        await anyio.sleep_forever()

    client = Client()
    recorder = Recorder(run)
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(_leave_after, client, 0.75)
        assert await serve(recorder, client, heartbeat=0.8, listen=True) is Ending.CLIENT_GONE
    assert client.sent == [b"<start>", b'0:"a"\n', b'0:"b"\n', b'0:"c"\n', b'0:"d"\n']
    assert counts["quiet"] == counts["start"]
    assert counts["flowing"] == counts["start"] + (0 if inline else 1)
    assert counts["quiet again"] == counts["start"]
    # Heard in the driver's own task, since the stream was quiet then.
    assert recorder.finished_at is not None
    assert recorder.finished_at - client.left_at < 0.1


async def test_a_quiet_stream_still_sends_its_heartbeats_and_hears_its_client() -> None:
    async def run(controller: sb.RunController) -> None:
        controller.append_text("a")
        await anyio.sleep_forever()

    client = Client()
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(_leave_after, client, 0.5)
        assert await serve(run, client, heartbeat=0.15, listen=True) is Ending.CLIENT_GONE
    assert client.sent[:2] == [b"<start>", b'0:"a"\n']
    assert 2 <= len(client.sent[2:]) <= 3  # keepalives, about every 0.15 s
    assert all(keepalive == client.sent[2] for keepalive in client.sent[2:])


async def test_a_streaming_run_costs_one_send_per_ready_batch_and_no_task() -> None:
    async def run(controller: sb.RunController) -> None:
        for _ in range(20):
            controller.append_text("t")
            await anyio.sleep(0.01)

    client = Client()
    tasks_before = len(_tasks())
    async with anyio.create_task_group() as task_group:

        async def count_tasks() -> None:
            await anyio.sleep(0.1)
            # The test's own two (this one and the client watcher), the run's, the clock's.
            assert len(_tasks()) - tasks_before <= 4

        task_group.start_soon(count_tasks)
        assert await serve(run, client, send_timeout=5.0) is Ending.COMPLETE
    assert client.sent.count(b'0:"t"\n') == 20  # each token alone, as it came


def _tasks() -> set[object]:
    import asyncio

    import sniffio

    if sniffio.current_async_library() == "trio":
        import trio

        return set(trio.lowlevel.current_root_task().child_nurseries[0].child_tasks)
    return set(asyncio.all_tasks())


def _current_task() -> object:
    import sniffio

    if sniffio.current_async_library() == "trio":
        import trio

        return trio.lowlevel.current_task()
    import asyncio

    return asyncio.current_task()


async def test_a_token_is_sent_from_the_runs_own_task_when_sends_begin_there(
    inline: bool,
) -> None:
    run_tasks: list[object] = []

    async def run(controller: sb.RunController) -> None:
        run_tasks.append(_current_task())
        for _ in range(5):
            controller.append_text("t")
            await anyio.sleep(0.01)

    client = Client()
    assert await serve(run, client) is Ending.COMPLETE
    assert client.sent[1:] == [b'0:"t"\n'] * 5 + [END]
    from_run = [sender is run_tasks[0] for sender in client.senders[1:]]
    # The end comes after the run's last step: the driver's task sends it.  Every token
    # before it is the run task's own send.
    assert from_run == [*([inline] * 5), False]


async def test_a_send_that_waits_is_finished_by_the_driver_in_order() -> None:
    async def run(controller: sb.RunController) -> None:
        for index in range(30):
            controller.append_text(str(index))
            await anyio.sleep(0.001 * (index % 3))

    client = Client()
    client.send_seconds = 0.002  # every send waits: each one begun in the run's task is handed over
    assert await serve(run, client) is Ending.COMPLETE
    body = b"".join(client.sent[1:])
    assert body == b"".join(b'0:"%d"\n' % index for index in range(30)) + END


@pytest.mark.parametrize("send_seconds", [0.0, 0.002], ids=["at-once", "waits"])
async def test_a_send_that_returns_an_awaitable_other_than_a_coroutine(
    send_seconds: float,
) -> None:
    """A host's send may return any awaitable: the driver steps a coroutine as it is and
    anything else through its ``__await__``, whether it completes at once or waits (and is then
    finished by the driver's task)."""

    async def run(controller: sb.RunController) -> None:
        for index in range(10):
            controller.append_text(str(index))
            await anyio.sleep(0.001 * (index % 2))

    client = Client()
    client.send_seconds = send_seconds
    deliver = client.deliver

    def send(data: bytes) -> Awaitable[None]:
        return _Awaitable(deliver(data))

    client.deliver = send  # type: ignore[method-assign]
    assert await serve(run, client) is Ending.COMPLETE
    body = b"".join(client.sent[1:])
    assert body == b"".join(b'0:"%d"\n' % index for index in range(10)) + END


async def test_chunks_from_another_task_of_the_run_still_wake_the_driver() -> None:
    async def run(controller: sb.RunController) -> None:
        async def other() -> None:
            for _ in range(3):
                controller.append_text("o")
                await anyio.sleep(0.01)

        async with anyio.create_task_group() as task_group:
            task_group.start_soon(other)
            await anyio.sleep(0.1)

    client = Client()
    assert await serve(run, client) is Ending.COMPLETE
    assert b"".join(client.sent[1:]) == b'0:"o"\n' * 3 + END


async def test_a_run_s_own_timeouts_and_cancel_scopes_work_between_its_sends() -> None:
    async def run(controller: sb.RunController) -> None:
        for index in range(3):
            controller.append_text(f"before {index}")
            with anyio.move_on_after(0.01):  # the run's own cancellation, thrown into its step
                await anyio.sleep(1)
            try:
                with anyio.fail_after(0.01):
                    await anyio.sleep(1)
            except TimeoutError:
                controller.append_text(f"timed out {index}")

    client = Client()
    assert await serve(run, client) is Ending.COMPLETE
    expected = "".join(f'0:"before {i}"\n0:"timed out {i}"\n' for i in range(3))
    assert b"".join(client.sent[1:]) == expected.encode() + END


async def test_a_run_that_returns_another_awaitable_is_awaited_as_it_is() -> None:
    async def body(controller: sb.RunController) -> None:
        controller.append_text("a")
        await anyio.sleep(0.01)
        controller.append_text("b")

    # A decorator's plain wrapper around an async def (accepted as a run, since it unwraps to
    # one) that returns an awaitable that is not a coroutine.
    @functools.wraps(body)
    def run(controller: sb.RunController) -> Awaitable[None]:
        return _Awaitable(body(controller))

    client = Client()
    assert await serve(run, client) is Ending.COMPLETE
    assert b"".join(client.sent[1:]) == b'0:"a"\n0:"b"\n' + END


class _Awaitable:
    def __init__(self, coroutine: Awaitable[None]) -> None:
        self._coroutine = coroutine

    def __await__(self) -> Any:
        return self._coroutine.__await__()
