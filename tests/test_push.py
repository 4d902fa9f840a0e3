"""``push`` on its own, with a stand-in client: how each way to stop ends the stream and its run.

The hosts' behaviour suite checks the same over real servers; here each case is exact (which bytes,
in which order, after which the run's ``finally``), on asyncio and trio, and each twice: with the
write task lingering for the next chunk as it does by default, and leaving at once, so every
stream goes through the run's callback (and its heartbeat timer) between two chunks.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import streambridge as sb
from streambridge.transport import Ending, OpenStreams, push
from streambridge.transport.shutdown import StopSignal

pytestmark = pytest.mark.anyio

GONE = "gone"


@pytest.fixture(autouse=True, params=["linger", "no-linger"])
def linger(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.param == "no-linger":
        # The module, not the function the package exports under the same name.
        monkeypatch.setattr(sys.modules["streambridge.transport.pump"], "LINGER", 0.0)


END = b'd:{"finishReason":"stop","usage":{"inputTokens":0,"outputTokens":0}}\n'


class Client:
    """A client that reads everything (or stops reading after ``reads`` sends) and can leave."""

    def __init__(self, reads: float = math.inf, fail_with: BaseException | None = None) -> None:
        self.sent: list[bytes] = []
        self.times: list[float] = []
        self.reads = reads
        self.fail_with = fail_with
        self.left = anyio.Event()
        self.send_seconds = 0.0
        self.stop_seconds = 0.0
        self.opening_seconds = 0.0
        self.sending = 0  # sends under way

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
            await anyio.sleep(self.send_seconds)
            self.sent.append(data)
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
) -> Ending:
    body = sb.encode(sb.create_run(run), "data-stream", heartbeat=heartbeat)
    with anyio.fail_after(5):  # a stream that stalls fails its test rather than hang it
        return await push(
            body,
            client.deliver,
            receive=client.receive,
            disconnected=lambda message: message == GONE,
            shutdown=stop or OpenStreams().track(),
            send_timeout=send_timeout,
            opening=client.opening,
        )


async def test_a_whole_run_goes_out_after_the_opening_one_send_per_ready_batch() -> None:
    async def run(controller: sb.RunController) -> None:
        controller.append_text("a")
        controller.append_text("b")
        await anyio.sleep(0.02)
        controller.append_text("c")

    client = Client()
    assert await serve(run, client) is Ending.COMPLETE
    assert client.sent == [b"<start>", b'0:"a"\n0:"b"\n', b'0:"c"\n', END]


async def test_a_burst_is_coalesced_into_few_sends() -> None:
    async def run(controller: sb.RunController) -> None:
        for _ in range(10_000):
            controller.append_text("x")

    client = Client()
    assert await serve(run, client) is Ending.COMPLETE
    assert b"".join(client.sent[1:]).count(b'0:"x"\n') == 10_000
    assert len(client.sent) <= 4  # the opening, the burst, the end (maybe split once)


async def test_a_client_that_leaves_ends_the_stream_and_the_run_before_push_returns() -> None:
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


async def test_a_shutdown_midway_through_the_opening_never_sends_it_twice() -> None:
    run = Recorder(lambda controller: _text_then_sleep(controller))
    client = Client()
    client.opening_seconds = 0.1
    with OpenStreams().track() as stop:
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(_set_after, stop, 0.02)
            assert await serve(run, client, stop=stop) is Ending.SEND_FAILED
    assert client.sent == [b"<start>"]  # the start was cut: nothing can follow it cleanly
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


async def test_any_other_send_error_is_raised_once_the_run_is_closed() -> None:
    run = Recorder(lambda controller: _text_every(controller, 0.01))
    client = Client(reads=2, fail_with=RuntimeError("the server refused the message"))
    with pytest.raises(RuntimeError, match="refused"):
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
    assert client.sending == 0  # push returned after the send under way had ended
    sent = len(client.sent)
    await anyio.sleep(0.05)
    assert len(client.sent) == sent  # no write task outlived push


async def _text_then_sleep(controller: sb.RunController) -> None:
    controller.append_text("a")
    await anyio.sleep_forever()


async def _text_every(controller: sb.RunController, seconds: float) -> None:
    while True:
        controller.append_text("t")
        await anyio.sleep(seconds)


async def _leave_after(client: Client, seconds: float) -> None:
    await anyio.sleep(seconds)
    client.left.set()


async def _set_after(stop: StopSignal, seconds: float) -> None:
    await anyio.sleep(seconds)
    stop.set()


class Writes:
    """Counts the write tasks ``push`` starts, and how many are alive."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started = 0
        self.alive = 0
        module = sys.modules["streambridge.transport.pump"]
        spawn = module.spawn_detached

        def counting(coroutine: Any, context: Any = None) -> Any:
            self.started += 1
            self.alive += 1
            return spawn(self._count(coroutine), context)

        monkeypatch.setattr(module, "spawn_detached", counting)

    async def _count(self, coroutine: Any) -> None:
        try:
            await coroutine
        finally:
            self.alive -= 1


async def test_a_streaming_run_keeps_its_write_task_and_a_quiet_one_holds_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lingering = sys.modules["streambridge.transport.pump"].LINGER > 0
    writes = Writes(monkeypatch)
    quiet_after_one = anyio.Event()

    async def run(controller: sb.RunController) -> None:
        controller.append_text("first")
        await anyio.sleep(0.05)
        quiet_after_one.set()  # one delta sent, then quiet: no write task may wait
        await anyio.sleep(0.05)
        for _ in range(20):
            controller.append_text("t")
            await anyio.sleep(0.01)

    async def check_quiet() -> None:
        await quiet_after_one.wait()
        assert writes.alive == 0

    client = Client()
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(check_quiet)
        assert await serve(run, client) is Ending.COMPLETE
    if lingering:
        assert writes.started <= 5  # the opening's, the first delta's, then one for the stream
    else:
        assert writes.started >= 20  # a task per token
