"""The relay in front of the process's SIGTERM handler (streambridge.transport.signals): where
it installs, that it never installs twice or from a thread, and what it does on a signal, on
asyncio and trio.  Every server, for real: behaviour/test_sigterm.py."""

from __future__ import annotations

import signal
import threading
import weakref
from collections.abc import Iterator
from types import FrameType
from typing import Any

import anyio
import pytest

import streambridge as sb
from streambridge.transport import signals
from streambridge.transport.shutdown import OpenStreams


@pytest.fixture(autouse=True)
def handlers() -> Iterator[None]:
    """Each test starts with the process's own handlers and puts them back after."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    automatic, grace = signals._automatic, signals._grace
    # The hosts other test modules built stay out of reach: a signal here would end their
    # streams and leave them refusing requests (503) for the rest of the session.
    live, signals._LIVE = signals._LIVE, weakref.WeakSet()
    for signum, handler in saved.items():
        if isinstance(handler, signals._Relay):
            signal.signal(signum, handler.previous)
    signals._RELAYS.clear()
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)  # type: ignore[arg-type]
    signals._RELAYS.clear()
    signals._automatic, signals._grace = automatic, grace
    signals._LIVE = live


class Recorder:
    def __init__(self) -> None:
        self.calls: list[int] = []
        self.called = threading.Event()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.calls.append(signum)
        self.called.set()


def test_a_host_built_in_the_main_thread_installs_the_relay_once() -> None:
    server = Recorder()
    signal.signal(signal.SIGTERM, server)
    OpenStreams()
    relay = signal.getsignal(signal.SIGTERM)
    assert isinstance(relay, signals._Relay)
    assert relay.previous is server
    OpenStreams()
    assert sb.watch_signals() is True
    assert signal.getsignal(signal.SIGTERM) is relay  # never in front of itself


def test_a_server_that_replaces_the_relay_gets_one_in_front_at_the_next_stream() -> None:
    streams = OpenStreams()
    server = Recorder()
    signal.signal(signal.SIGTERM, server)  # a server installing its handler after the import
    with streams.track():
        relay = signal.getsignal(signal.SIGTERM)
    assert isinstance(relay, signals._Relay)
    assert relay.previous is server


def test_never_from_another_thread() -> None:
    server = Recorder()
    signal.signal(signal.SIGTERM, server)
    found: list[object] = []

    def build() -> None:
        OpenStreams()
        found.append(sb.watch_signals())

    thread = threading.Thread(target=build)
    thread.start()
    thread.join()
    assert found == [False]
    assert signal.getsignal(signal.SIGTERM) is server


def test_sigint_only_where_someone_else_handles_it() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sb.watch_signals()
    # Python's KeyboardInterrupt: asyncio's and trio's runners take it over, safely, themselves.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    server = Recorder()
    signal.signal(signal.SIGINT, server)
    sb.watch_signals()
    relay = signal.getsignal(signal.SIGINT)
    assert isinstance(relay, signals._Relay)
    assert relay.previous is server


def test_an_ignored_signal_stays_ignored() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    assert sb.watch_signals() is False
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN


def test_unwatch_puts_the_handlers_back_and_stops_installing() -> None:
    server = Recorder()
    signal.signal(signal.SIGTERM, server)
    sb.watch_signals()
    sb.unwatch_signals()
    assert signal.getsignal(signal.SIGTERM) is server
    OpenStreams()
    with OpenStreams().track():
        pass
    assert signal.getsignal(signal.SIGTERM) is server
    with pytest.raises(ValueError, match="grace"):
        sb.watch_signals(grace=-1)


def test_with_no_stream_open_the_signal_goes_straight_through() -> None:
    server = Recorder()
    signal.signal(signal.SIGTERM, server)
    sb.watch_signals()
    signal.raise_signal(signal.SIGTERM)
    assert server.calls == [signal.SIGTERM]


@pytest.mark.anyio
async def test_a_signal_ends_open_streams_first_then_reaches_the_server() -> None:
    server = Recorder()
    signal.signal(signal.SIGTERM, server)
    streams = OpenStreams()
    sb.watch_signals(grace=5)
    order: list[str] = []
    with anyio.fail_after(5):
        with streams.track() as stop:
            stop.on_set(lambda: order.append("stream asked to end"))
            signal.raise_signal(signal.SIGTERM)
            assert streams.closing  # new requests get a 503 from now on
            await stop.wait()
            await anyio.sleep(0.05)
            assert server.calls == []  # the stream is still open: the server waits
            order.append("stream ended")
        # The server's handler runs in this thread, between two steps of this loop: poll.
        while not server.called.is_set():  # noqa: ASYNC110
            await anyio.sleep(0.005)
    assert order == ["stream asked to end", "stream ended"]
    assert server.calls == [signal.SIGTERM]


@pytest.mark.anyio
async def test_a_second_signal_while_streams_end_goes_straight_through() -> None:
    server = Recorder()
    signal.signal(signal.SIGTERM, server)
    streams = OpenStreams()
    sb.watch_signals(grace=5)
    with anyio.fail_after(5), streams.track() as stop:
        signal.raise_signal(signal.SIGTERM)
        await stop.wait()
        signal.raise_signal(signal.SIGTERM)  # impatient
        assert server.calls == [signal.SIGTERM]
    await anyio.sleep(0.1)
    assert server.calls == [signal.SIGTERM]  # the waiter of the first one passes nothing on


@pytest.mark.anyio
async def test_a_stream_that_does_not_end_holds_the_signal_only_for_the_grace() -> None:
    server = Recorder()
    signal.signal(signal.SIGTERM, server)
    streams = OpenStreams()
    sb.watch_signals(grace=0.2)
    with anyio.fail_after(5), streams.track():
        signal.raise_signal(signal.SIGTERM)
        started = anyio.current_time()
        # The server's handler runs in this thread, between two steps of this loop: poll.
        while not server.called.is_set():  # noqa: ASYNC110
            await anyio.sleep(0.005)
        assert 0.2 <= anyio.current_time() - started < 1


def test_end_all_streams_from_a_thread_ends_streams_on_their_own_loop(
    anyio_backend: str,
) -> None:
    streams = OpenStreams()
    ended: list[bool] = []

    async def serve(task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        with streams.track() as stop:
            task_status.started()
            await stop.wait()
            ended.append(True)

    async def main() -> None:
        async with anyio.create_task_group() as group:
            await group.start(serve)
            assert await anyio.to_thread.run_sync(signals.end_all_streams, 5.0) is True

    anyio.run(main, backend=anyio_backend)
    assert ended == [True]
