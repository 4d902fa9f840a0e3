"""BodyDeadline, the core of ``body_timeout``: a request body read on a thread, over a real
socket pair, within a deadline that a trickling client cannot push back."""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import pytest

from streambridge.transport import ClientDisconnected, HTTPError
from streambridge.transport.deadline import (
    SOCKET_TIMEOUT_MARGIN,
    BodyDeadline,
    DeadlineWatcher,
    stop_body_watcher,
)
from streambridge.transport.request import read_limited_blocking
from streambridge.wsgi import wsgi_input

TIMEOUT = 0.3
LATE = 0.15
"""How late a 408 may come: well before the socket's own timeout would have fired."""
WATCHER = "streambridge-body-deadline"


@pytest.fixture(autouse=True)
def no_watcher_left() -> Iterator[None]:
    yield
    stop_body_watcher()
    assert WATCHER not in [thread.name for thread in threading.enumerate()]


@contextmanager
def connection(previous: float | None = None) -> Iterator[tuple[socket.socket, socket.socket]]:
    """The server's end (with the timeout ``previous``, as its server left it) and the
    client's."""
    server, client = socket.socketpair()
    with server, client:
        server.settimeout(previous)
        yield server, client


@contextmanager
def sending(client: socket.socket, data: bytes, every: float) -> Iterator[None]:
    """``client`` sends ``data`` a byte every ``every`` seconds meanwhile (until cut off)."""
    stop = threading.Event()

    def drip() -> None:
        for byte in data:
            if stop.wait(every):
                return
            try:
                client.send(bytes([byte]))
            except OSError:  # the server's end has been cut
                return

    thread = threading.Thread(target=drip)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def reader(server: socket.socket, length: int) -> tuple[Callable[[int], bytes], BinaryIO]:
    """``read(size)`` as a WSGI host gets it: the server's buffered file, whose ``read(n)``
    loops over as many ``recv()`` calls as it takes, framed by ``Content-Length``."""
    stream = server.makefile("rb")
    return wsgi_input({"wsgi.input": stream, "CONTENT_LENGTH": str(length)}), stream


def timed_read(read: Callable[[int], bytes], server: socket.socket | None) -> float:
    """Seconds until the read raised its 408."""
    start = time.monotonic()
    with pytest.raises(HTTPError) as raised:
        read_limited_blocking(read, 10_000, timeout=TIMEOUT, connection=server)
    assert raised.value.status == 408
    assert (
        raised.value.message
        == f"the request body did not arrive within {TIMEOUT:g} s; send it whole"
    )
    return time.monotonic() - start


@pytest.mark.parametrize("previous", [None, 5.0])
def test_a_body_in_time_is_read_and_the_socket_left_as_it_was(previous: float | None) -> None:
    with connection(previous) as (server, client):
        client.sendall(b'{"messages"')
        read, stream = reader(server, 20)
        with stream, sending(client, b": []}    ", every=0.01):
            assert read_limited_blocking(read, 1000, timeout=TIMEOUT, connection=server) == (
                b'{"messages": []}    '
            )
        assert server.gettimeout() == previous
        time.sleep(TIMEOUT + 0.05)  # past the deadline: the watcher has forgotten this body
        client.sendall(b"next request")
        assert server.recv(100) == b"next request"


def test_a_trickled_body_is_a_408_at_the_deadline() -> None:
    with connection() as (server, client):
        read, stream = reader(server, 1000)
        with stream, sending(client, b"x" * 1000, every=0.05):
            took = timed_read(read, server)
        # Every byte came well within any per-read timeout: only the deadline ended it.
        assert TIMEOUT <= took < TIMEOUT + LATE
        assert server.gettimeout() is None
        # Cut: what the server reads next is the end of the input, not the rest of the body.
        assert server.recv(100) == b""


def test_a_silent_client_is_a_408_at_the_deadline() -> None:
    with connection() as (server, _client):
        read, stream = reader(server, 1000)
        with stream:
            took = timed_read(read, server)
        assert TIMEOUT <= took < TIMEOUT + LATE < TIMEOUT + SOCKET_TIMEOUT_MARGIN


def test_a_read_that_ends_after_the_deadline_is_a_408_whatever_it_returned() -> None:
    with connection() as (server, _client):

        def late(size: int) -> bytes:
            time.sleep(TIMEOUT + 0.1)
            return b"{}"

        timed_read(late, server)
        assert server.recv(100) == b""


def test_the_socket_timeout_answers_where_a_cut_does_not_end_the_read() -> None:
    """Where shutting the reading side does not end a read, the socket's own timeout does."""
    with connection() as (server, _client):
        read, stream = reader(server, 1000)
        watcher = Unarmed()
        with stream:
            deadline = BodyDeadline(TIMEOUT, server, watcher=watcher)
            start = time.monotonic()
            try:
                with pytest.raises(HTTPError, match="within"), deadline:
                    deadline.read(read, 1000)
            finally:
                watcher.stop()
            took = time.monotonic() - start
        assert TIMEOUT + SOCKET_TIMEOUT_MARGIN <= took < TIMEOUT + SOCKET_TIMEOUT_MARGIN + LATE
        assert server.gettimeout() is None
        assert server.recv(100) == b""  # cut all the same


class Unarmed(DeadlineWatcher):
    """A watcher whose cuts never happen."""

    def arm(self, connection: socket.socket, deadline: float) -> Any:
        return super().arm(connection, float("inf"))


def test_without_a_socket_the_deadline_holds_between_reads() -> None:
    def slow(size: int) -> bytes:
        time.sleep(TIMEOUT / 2)
        return b" "

    took = timed_read(slow, None)
    assert TIMEOUT <= took < TIMEOUT + TIMEOUT / 2 + LATE


def test_a_timeout_of_the_servers_own_is_a_408() -> None:
    def timing_out(size: int) -> bytes:
        raise TimeoutError("timed out")

    timed_read(timing_out, None)


def test_a_client_gone_before_the_deadline_is_still_a_client_gone() -> None:
    with connection() as (server, client):
        read, stream = reader(server, 1000)
        client.close()
        with stream, pytest.raises(ClientDisconnected):
            read_limited_blocking(read, 1000, timeout=TIMEOUT, connection=server)


def test_one_watcher_cuts_each_socket_at_its_own_deadline() -> None:
    watcher = DeadlineWatcher()
    pairs = [socket.socketpair() for _ in range(3)]
    try:
        start = time.monotonic()
        delays = [0.3, 0.1, 0.2]
        watches = [
            watcher.arm(server, start + delay)
            for (server, _), delay in zip(pairs, delays, strict=True)
        ]
        kept = watcher.arm(pairs[0][1], start + 0.15)
        assert watcher.disarm(kept)  # read whole in time: never cut
        cut_at: dict[int, float] = {}
        with selectors.DefaultSelector() as selector:
            for index, (server, _) in enumerate(pairs):
                selector.register(server, selectors.EVENT_READ, index)
            while len(cut_at) < len(pairs) and time.monotonic() < start + 1:
                for key, _ in selector.select(timeout=1):
                    assert pairs[key.data][0].recv(1) == b""  # the end of the input
                    cut_at[key.data] = time.monotonic() - start
                    selector.unregister(key.fileobj)
        for index, delay in enumerate(delays):
            assert delay <= cut_at[index] < delay + LATE
        assert not any(watcher.disarm(watch) for watch in watches)  # each was cut
        # The one read in time reads on: its socket was never cut.
        pairs[0][0].send(b"x")
        assert pairs[0][1].recv(1) == b"x"
    finally:
        watcher.stop()
        for server, client in pairs:
            server.close()
            client.close()
    assert not watcher.running
