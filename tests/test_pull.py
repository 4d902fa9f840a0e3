"""The serving helpers for hosts that are not plain ASGI: ``StreamEndpoint.read_request`` (one
request's checks, in the order every host answers them), ``pull`` (the pump for a framework that
pulls the response body) and ``close_session`` (how a WebSocket is closed after a session)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

import streambridge as sb
from streambridge.client import accumulate, decode
from streambridge.transport import (
    SHUTDOWN_MESSAGE,
    HTTPError,
    SessionEnd,
    StreamEndpoint,
    StreamOptions,
    close_session,
    pull,
)

pytestmark = pytest.mark.anyio

PROTOCOL = sb.get_protocol("data-stream")


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def endpoint(run: Any, **options: Any) -> StreamEndpoint:
    return StreamEndpoint(run, StreamOptions.from_kwargs(**options))


async def hello(controller: sb.RunController) -> None:
    controller.append_text("hello")


# -- read_request --------------------------------------------------------------------------------


async def test_read_request_gives_the_protocol_and_input() -> None:
    protocol, run_input = await endpoint(hello).read_request(
        "POST", b"protocol=ui-message-stream", "2", chunks(b'{"messages": []}')
    )
    assert protocol.name == "ui-message-stream"
    assert run_input is not None
    assert run_input.messages == []


async def test_read_request_for_head_reads_no_body() -> None:
    async def body() -> AsyncIterator[bytes]:
        raise AssertionError("HEAD must not read the body")
        yield b""  # pragma: no cover

    protocol, run_input = await endpoint(hello).read_request("HEAD", "", None, body())
    assert (protocol.name, run_input) == ("data-stream", None)


@pytest.mark.parametrize(
    ("method", "query", "length", "body", "status"),
    [
        ("GET", b"", None, b"", 405),
        ("PUT", b"protocol=nope", None, b"{}", 405),  # the method is judged first
        ("POST", b"protocol=nope", None, b"{}", 400),
        ("POST", b"", "99999", b"{}", 413),  # declared: refused before reading
        ("POST", b"", None, b"x" * 100, 413),
        ("POST", b"", None, b"{", 400),
        ("POST", b"", None, b'{"messages": 1}', 422),
    ],
)
async def test_read_request_refuses_with_the_status_a_client_should_see(
    method: str, query: bytes, length: str | None, body: bytes, status: int
) -> None:
    with pytest.raises(HTTPError) as caught:
        await endpoint(hello, max_body_bytes=50).read_request(method, query, length, chunks(body))
    assert caught.value.status == status


async def test_a_body_given_up_half_read_is_closed_at_once() -> None:
    closed: list[bool] = []

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b"x" * 60
            yield b"never read"
        finally:
            closed.append(True)

    with pytest.raises(HTTPError):
        await endpoint(hello, max_body_bytes=50).read_request("POST", b"", None, body())
    assert closed == [True]


async def test_read_request_while_shutting_down_is_a_503() -> None:
    host = endpoint(hello)
    await host.shutdown()
    with pytest.raises(HTTPError) as caught:
        await host.read_request("POST", b"", None, chunks(b'{"messages": []}'))
    assert caught.value.status == 503
    assert caught.value.headers == {"Retry-After": "1"}
    # HEAD still answers: it starts nothing.
    assert (await host.read_request("HEAD", b"", None, chunks()))[1] is None


# -- pull ----------------------------------------------------------------------------------------


async def read_all(host: StreamEndpoint, request: Any = None) -> bytes:
    protocol, run_input = await host.read_request("POST", b"", None, chunks(b'{"messages": []}'))
    assert run_input is not None
    async with pull(host, protocol, run_input, request) as body:
        return b"".join([data async for data in body])


async def test_pull_hands_over_the_whole_stream() -> None:
    seen: list[Any] = []

    async def run(controller: sb.RunController) -> None:
        seen.append(controller.request)
        controller.append_text("one ")
        await anyio.sleep(0.01)
        controller.append_text("two")

    data = await read_all(endpoint(run), request="the request")
    assert accumulate(decode(data, "data-stream")).text == "one two"
    assert seen == ["the request"]


class Finally:
    """Records how a run ended and when its ``finally`` ran."""

    def __init__(self) -> None:
        self.outcome = ""
        self.ended = 0.0
        self.done = anyio.Event()

    async def run(self, controller: sb.RunController) -> None:
        self.outcome = "raised"
        try:
            controller.append_text("waiting")
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            self.outcome = "cancelled"
            raise
        finally:
            self.ended = time.monotonic()
            self.done.set()


async def open_pull(host: StreamEndpoint) -> Any:
    protocol, run_input = await host.read_request("POST", b"", None, chunks(b'{"messages": []}'))
    assert run_input is not None
    return pull(host, protocol, run_input, None)


async def test_pull_left_early_cancels_the_run_before_the_block_exits() -> None:
    record = Finally()
    host = endpoint(record.run, heartbeat=None)

    async def write_fails() -> None:
        async with await open_pull(host) as body:
            assert b"waiting" in await body.__anext__()
            raise ConnectionResetError  # the framework's write failed

    with pytest.raises(ConnectionResetError):
        await write_fails()
    assert record.outcome == "cancelled"
    assert len(host.streams) == 0


async def test_pull_cancelled_from_outside_cancels_the_run_within_its_grace() -> None:
    record = Finally()
    host = endpoint(record.run, heartbeat=None, grace=0.02)
    with anyio.CancelScope() as scope:
        async with await open_pull(host) as body:
            assert b"waiting" in await body.__anext__()
            cancelled = time.monotonic()
            scope.cancel()  # a server cancelling the response when its client leaves
            await body.__anext__()
    assert record.outcome == "cancelled"
    assert record.ended - cancelled < 0.1


async def test_pull_ends_cleanly_on_shutdown() -> None:
    record = Finally()
    host = endpoint(record.run, heartbeat=None)
    async with anyio.create_task_group() as task_group, await open_pull(host) as body:
        assert b"waiting" in await body.__anext__()
        task_group.start_soon(host.shutdown)  # it returns once the stream has ended
        rest = b"".join([data async for data in body])
    assert accumulate(decode(rest, "data-stream")).errors == [SHUTDOWN_MESSAGE]
    assert record.outcome == "cancelled"


async def test_pull_gives_up_on_a_framework_that_stops_asking() -> None:
    record = Finally()
    host = endpoint(record.run, heartbeat=0.01, send_timeout=0.05)
    async with await open_pull(host) as body:
        assert b"waiting" in await body.__anext__()
        with anyio.fail_after(2):
            await record.done.wait()  # the framework's write "hangs": nobody asks for more
        assert [data async for data in body] == []  # and then the body is over
    assert record.outcome == "cancelled"


# -- close_session -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ending", "code"),
    [(SessionEnd.CLIENT_GONE, None), (SessionEnd.SHUTDOWN, 1001), (SessionEnd.SEND_FAILED, 1011)],
)
async def test_close_session_closes_as_the_ending_asks(
    ending: SessionEnd, code: int | None
) -> None:
    closed: list[int] = []

    async def close(value: int) -> None:
        closed.append(value)

    await close_session(ending, close, 1.0)
    assert closed == ([] if code is None else [code])


@pytest.mark.parametrize("ending", [SessionEnd.SHUTDOWN, SessionEnd.SEND_FAILED])
async def test_close_session_closes_with_1000_where_the_server_refuses_other_codes(
    ending: SessionEnd,
) -> None:
    """daphne (autobahn) lets an application close with 1000 or 3000-4999 only, and raises a
    plain Exception for 1001: the socket is closed with 1000, and nothing escapes."""
    closed: list[int] = []

    async def close(code: int) -> None:
        if code != 1000 and not 3000 <= code <= 4999:
            raise Exception(f"invalid close code {code} (must be 1000 or from [3000, 4999])")
        closed.append(code)

    await close_session(ending, close, 1.0)
    assert closed == [1000]


async def test_close_session_does_not_wait_long_for_a_client_that_does_not_read() -> None:
    async def close(code: int) -> None:
        if code == 1011:
            await anyio.sleep_forever()
        raise ConnectionResetError

    started = time.monotonic()
    await close_session(SessionEnd.SEND_FAILED, close, 0.05)
    await close_session(SessionEnd.SHUTDOWN, close, 30.0)  # a client gone meanwhile: no error
    assert time.monotonic() - started < 0.5
