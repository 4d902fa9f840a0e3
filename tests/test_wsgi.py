"""The WSGI host and its bridge driven in-process, for what a real server cannot be made to do on
cue: a client that stops reading, a socket closed between two writes, a shutdown mid-stream, the
event loop stopped under a waiting thread, interpreter exit.  (Streaming over real servers is
judged in tests/behaviour.)"""

from __future__ import annotations

import contextvars
import io
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import anyio
import pytest

import streambridge as sb
from streambridge.asgi import StreamApp
from streambridge.client import accumulate, decode
from streambridge.transport import (
    SHUTDOWN_MESSAGE,
    BlockingStream,
    EventLoopThread,
    StreamEndpoint,
    StreamOptions,
    stream_headers,
)
from streambridge.transport.request import read_limited_blocking
from streambridge.wsgi import StreamWSGIApp, shutdown
from support.behaviour.protocol_table import request_body
from support.recorded_runs import Runs

BODY = b'{"messages": []}'


@pytest.fixture
def runs() -> Runs:
    return Runs()


@dataclass
class Answer:
    status: str
    headers: list[tuple[str, str]]
    body: Iterable[bytes]

    @property
    def header(self) -> dict[str, str]:
        return dict(self.headers)

    def read(self) -> bytes:
        try:
            return b"".join(self.body)
        finally:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()


def environ(
    method: str = "POST",
    body: bytes = BODY,
    query: str = "",
    *,
    length: int | None = -1,
    **extra: Any,
) -> dict[str, Any]:
    """A WSGI environ; ``length=None`` sends no ``CONTENT_LENGTH`` (``-1``: the body's)."""
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "QUERY_STRING": query,
        "PATH_INFO": "/api/chat",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": "application/json",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if length is not None:
        env["CONTENT_LENGTH"] = str(len(body) if length == -1 else length)
    env.update(extra)
    return env


def call(app: StreamWSGIApp, env: dict[str, Any]) -> Answer:
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, headers))
        return lambda data: None

    body = app(env, start_response)
    [(status, headers)] = started
    return Answer(status, headers, body)


def close_within(body: Any, seconds: float = 2.0) -> None:
    """``body.close()``, which must return (a close that never does fails here, not hangs)."""
    closer = threading.Thread(target=body.close, daemon=True)
    closer.start()
    closer.join(seconds)
    assert not closer.is_alive(), f"close() did not return within {seconds} s"


def stream(app: StreamWSGIApp, **kwargs: Any) -> tuple[Answer, Iterator[bytes]]:
    answer = call(app, environ(**kwargs))
    assert answer.status == "200 OK"
    return answer, iter(answer.body)


# -- answers -------------------------------------------------------------------------------------


def test_post_streams_the_run_and_its_request_is_the_environ(runs: Runs) -> None:
    env = environ()
    answer = call(StreamWSGIApp(runs.hello, heartbeat=None), env)
    assert answer.status == "200 OK"
    assert accumulate(decode(answer.read(), "data-stream")).text == "hello"
    outcome, _, request = runs.wait()
    assert outcome == "returned"
    assert request is env


MINIMAL_BODIES = {
    "assistant-transport": b'{"commands": []}',
    "openai-assistants": b'{"assistant_id": "a", "additional_messages": []}',
}
"""A body each protocol accepts, where ``{"messages": []}`` is not one."""


def _asgi_headers(protocol: str) -> list[tuple[str, str]]:
    """The headers the ASGI host answers the same request with."""

    async def hello(controller: sb.RunController) -> None:
        controller.append_text("hello")

    async def main() -> list[tuple[str, str]]:
        sent: list[Any] = []
        body = MINIMAL_BODIES.get(protocol, BODY)
        incoming = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> Any:
            if incoming:
                return incoming.pop()
            await anyio.sleep_forever()

        async def send(message: Any) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/",
            "query_string": f"protocol={protocol}".encode(),
            "headers": [],
        }
        await StreamApp(hello, heartbeat=None)(scope, receive, send)
        return [(k.decode(), v.decode()) for k, v in sent[0]["headers"]]

    return anyio.run(main)


@pytest.mark.parametrize("protocol", sb.protocol_names())
def test_headers_are_exactly_the_asgi_hosts(runs: Runs, protocol: str) -> None:
    body = MINIMAL_BODIES.get(protocol, BODY)
    app = StreamWSGIApp(runs.hello, heartbeat=None)
    answer = call(app, environ(body=body, query=f"protocol={protocol}"))
    assert answer.status == "200 OK"
    answer.read()
    assert answer.headers == _asgi_headers(protocol)
    assert answer.headers == stream_headers(sb.get_protocol(protocol))
    head = call(StreamWSGIApp(runs.hello), environ("HEAD", query=f"protocol={protocol}"))
    assert head.headers == answer.headers
    assert head.read() == b""
    assert len(runs.ended) == 1  # the POST's run; HEAD runs nothing


CHUNKED = {"length": None, "wsgi.input_terminated": True}
BIG = json.dumps({"messages": [], "padding": "x" * 2000}).encode()
REFUSALS: dict[str, tuple[int, dict[str, Any]]] = {
    "get": (405, {"method": "GET"}),
    "put": (405, {"method": "PUT"}),
    "malformed-json": (400, {"body": b'{"messages": ['}),
    "empty-body": (400, {"body": b""}),
    "no-length-no-framing": (400, {"length": None}),
    "wrong-shape": (422, {"body": b'{"messages": "no"}'}),
    "oversize-declared": (413, {"body": BIG}),
    "oversize-chunked": (413, {"body": BIG, **CHUNKED}),
    "unknown-protocol": (400, {"query": "protocol=nope"}),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_bad_requests_get_a_json_error(runs: Runs, case: str) -> None:
    status, request = REFUSALS[case]
    answer = call(StreamWSGIApp(runs.hello, max_body_bytes=1000), environ(**request))
    assert answer.status == f"{status} {HTTPStatus(status).phrase}"
    body = answer.read()
    assert answer.header["content-type"] == "application/json"
    assert answer.header["content-length"] == str(len(body))
    assert set(json.loads(body)) == {"error"}
    if status == 405:
        assert answer.header["allow"] == "POST, HEAD"
    assert not runs.ended


def test_a_chunked_body_is_read_whole(runs: Runs) -> None:
    answer = call(StreamWSGIApp(runs.hello), environ(**CHUNKED))
    assert accumulate(decode(answer.read(), "data-stream")).text == "hello"


def test_head_error_has_the_headers_of_the_json_but_no_body(runs: Runs) -> None:
    answer = call(StreamWSGIApp(runs.hello), environ("HEAD", query="protocol=nope"))
    assert answer.status == "400 Bad Request"
    assert int(answer.header["content-length"]) > 0
    assert answer.read() == b""


def test_a_body_cut_short_drops_the_connection_quietly(runs: Runs) -> None:
    with pytest.raises(BrokenPipeError):
        call(StreamWSGIApp(runs.hello), environ(length=len(BODY) + 10))
    assert not runs.ended


def test_read_limited_blocking_stops_as_soon_as_it_is_over() -> None:
    source = io.BytesIO(b"x" * 10_000)

    def read(size: int) -> bytes:
        return source.read(min(size, 100))  # a stream that gives at most 100 bytes a read

    assert read_limited_blocking(io.BytesIO(b"abc").read, 3) == b"abc"
    with pytest.raises(Exception, match="larger than the 500 bytes") as caught:
        read_limited_blocking(read, 500)
    assert getattr(caught.value, "status", None) == 413
    assert source.tell() == 501  # it never asks for more than one byte past the limit


# -- ending a stream -----------------------------------------------------------------------------


def test_close_before_the_first_read_never_starts_the_run(runs: Runs) -> None:
    answer = call(StreamWSGIApp(runs.hang), environ())
    answer.body.close()  # type: ignore[attr-defined]
    assert not runs.done.wait(0.2)


def test_close_cancels_the_run_and_returns_after_its_finally(runs: Runs) -> None:
    answer, body = stream(StreamWSGIApp(runs.hang, heartbeat=None))
    assert b"waiting" in next(body)
    closing = time.monotonic()
    close_within(answer.body)
    returned = time.monotonic()
    assert runs.done.is_set()  # already: close() waited for it
    outcome, ended, _ = runs.ended[-1]
    assert outcome == "cancelled"
    assert closing <= ended <= returned
    assert returned - closing < 0.5
    assert next(body, None) is None


def test_items_come_as_the_run_makes_them_with_heartbeats_between(runs: Runs) -> None:
    async def paced(controller: sb.RunController) -> None:
        controller.append_text("one")
        await anyio.sleep(0.25)
        controller.append_text("two")

    answer, body = stream(StreamWSGIApp(runs.recorded(paced), heartbeat=0.05))
    first = time.monotonic()
    items = [next(body)]
    assert b"one" in items[0]
    while b"two" not in items[-1]:
        items.append(next(body))
    assert time.monotonic() - first >= 0.2
    keepalive = sb.get_protocol("data-stream").keepalive
    assert items[1:-1]
    assert set(items[1:-1]) == {keepalive}
    answer.read()


@pytest.mark.parametrize("watched", [True, False])
def test_keepalives_come_every_half_heartbeat_where_the_socket_is_not_watched(
    runs: Runs, watched: bool
) -> None:
    server, client = socket.socketpair()
    with server, client:
        extra = {"gunicorn.socket": server} if watched else {}
        answer, body = stream(StreamWSGIApp(runs.hang, heartbeat=0.2), **extra)
        assert b"waiting" in next(body)
        idle = time.monotonic()
        assert next(body) == b"\n"
        first = time.monotonic() - idle
        close_within(answer.body)
    # The second write after a client left is the one that fails (TCP takes the first): at
    # half the interval it still comes within one heartbeat.
    if watched:
        assert 0.16 <= first < 0.3
    else:
        assert 0.08 <= first < 0.16


def test_a_thread_that_stops_taking_items_loses_the_run_after_send_timeout(runs: Runs) -> None:
    answer, body = stream(StreamWSGIApp(runs.hang, heartbeat=0.05, send_timeout=0.2))
    stalled = time.monotonic()
    assert b"waiting" in next(body)  # the server writes this... and its write never returns
    outcome, ended, _ = runs.wait()
    assert outcome == "cancelled"
    assert 0.2 <= ended - stalled < 0.6
    with pytest.raises(BrokenPipeError):
        next(body)  # the write returned at last: the stream is gone, the connection dropped
    answer.body.close()  # type: ignore[attr-defined]


def test_a_socket_closed_by_the_client_cancels_the_run_without_a_write(runs: Runs) -> None:
    server, client = socket.socketpair()
    with server, client:
        answer, body = stream(
            StreamWSGIApp(runs.hang, heartbeat=None), **{"gunicorn.socket": server}
        )
        assert b"waiting" in next(body)
        left = time.monotonic()
        client.close()
        outcome, ended, _ = runs.wait()
        assert outcome == "cancelled"
        assert ended - left < 0.3  # the 50 ms grace, and no heartbeat to wait for
        with pytest.raises(BrokenPipeError):
            next(body)
        answer.body.close()  # type: ignore[attr-defined]


def test_bytes_from_the_client_are_not_taken_for_its_leaving(runs: Runs) -> None:
    server, client = socket.socketpair()
    with server, client:
        answer, body = stream(
            StreamWSGIApp(runs.hang, heartbeat=0.05), **{"werkzeug.socket": server}
        )
        assert b"waiting" in next(body)
        client.sendall(b"GET /next HTTP/1.1\r\n\r\n")  # pipelined: not an end of file
        for _ in range(4):
            assert next(body) == b"\n"  # heartbeats: the stream goes on
        assert not runs.done.is_set()
        close_within(answer.body)
        assert runs.ended[-1][0] == "cancelled"
        assert server.recv(100).startswith(b"GET /next")  # peeked, never taken


class Wrapped(socket.socket):
    """A socket of another kind, as ``ssl.SSLSocket`` is: its bytes are not the client's."""


def test_a_tls_socket_is_not_watched(runs: Runs) -> None:
    server, client = socket.socketpair()
    with server, client, Wrapped(fileno=os.dup(server.fileno())) as wrapped:
        answer, body = stream(
            StreamWSGIApp(runs.hang, heartbeat=None), **{"gunicorn.socket": wrapped}
        )
        assert b"waiting" in next(body)
        client.close()
        assert not runs.done.wait(0.2)  # nothing watched it: the next write will tell
        close_within(answer.body)
        assert runs.ended[-1][0] == "cancelled"


def test_shutdown_ends_open_streams_the_protocols_way_then_refuses(runs: Runs) -> None:
    app = StreamWSGIApp(runs.hang, heartbeat=None)
    _, body = stream(app)
    items = [next(body)]
    stopper = threading.Thread(target=app.shutdown)
    stopper.start()
    items += list(body)  # the error event and the end, then the iteration stops
    stopper.join(2)
    assert not stopper.is_alive()
    message = accumulate(decode(b"".join(items), "data-stream"))
    assert message.errors == [SHUTDOWN_MESSAGE]
    assert message.finish_reason == "error"
    assert runs.wait()[0] == "cancelled"
    refused = call(app, environ())
    assert refused.status == "503 Service Unavailable"
    assert refused.header["retry-after"] == "1"


def test_stopping_the_loop_cuts_streams_and_the_next_request_starts_it_again(runs: Runs) -> None:
    answer, body = stream(StreamWSGIApp(runs.hang, heartbeat=None))
    assert b"waiting" in next(body)
    caught: list[BaseException] = []

    def reader() -> None:  # a request thread, waiting in next() for the run's next batch
        try:
            next(body)
        except BaseException as exc:
            caught.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.05)
    shutdown()
    thread.join(2)
    assert runs.ended[-1][0] == "cancelled"
    assert [type(exc) for exc in caught] == [BrokenPipeError]
    answer.body.close()  # type: ignore[attr-defined]
    again = call(StreamWSGIApp(runs.hello), environ())
    assert b"hello" in again.read()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_stream_runs_on_either_backend(runs: Runs, backend: str) -> None:
    loop = EventLoopThread(backend)
    try:
        endpoint = StreamEndpoint(runs.hang, StreamOptions(heartbeat=None))
        protocol = sb.get_protocol("data-stream")
        body = BlockingStream(endpoint, protocol, sb.RunInput(), "req", portal=loop.portal())
        assert b"waiting" in next(body)
        close_within(body)
        outcome, _, request = runs.ended[-1]
        assert (outcome, request) == ("cancelled", "req")
    finally:
        loop.stop()
    assert not loop.running


def test_the_run_sees_the_context_of_the_code_that_built_the_stream(runs: Runs) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    seen: list[str] = []

    async def look(controller: sb.RunController) -> None:
        seen.append(var.get())

    app = StreamWSGIApp(runs.recorded(look))
    token = var.set("the view's")
    try:
        answer = call(app, environ())
    finally:
        var.reset(token)
    # Iterated later, from a thread that never saw the value (a server's writer thread).
    reader = threading.Thread(target=answer.read)
    reader.start()
    reader.join(2)
    assert seen == ["the view's"]


EXIT_SCRIPT = textwrap.dedent(
    """
    import io, sys, threading, time
    import anyio
    from streambridge.wsgi import StreamWSGIApp

    async def run(controller):
        controller.append_text("waiting")
        try:
            await anyio.sleep_forever()
        finally:
            print("finally ran", flush=True)

    app = StreamWSGIApp(run, heartbeat=None)
    env = {"REQUEST_METHOD": "POST", "QUERY_STRING": "", "CONTENT_LENGTH": "16",
           "wsgi.input": io.BytesIO(b'{"messages": []}')}
    body = app(env, lambda status, headers: None)
    print(next(body), flush=True)
    def serve_rest():  # a server's request thread (not a daemon), blocked in next()
        try:
            for item in body:
                print("sent", item, flush=True)
        except BrokenPipeError:
            print("thread let go", flush=True)
        finally:
            body.close()
            print("thread done", flush=True)
    threading.Thread(target=serve_rest).start()
    time.sleep(0.1)
    print("main thread exits", flush=True)
    """
)


def test_interpreter_exit_ends_streams_cleanly_before_waiting_for_request_threads() -> None:
    """A server that exits with streams open (werkzeug on Ctrl+C): they get the protocol's end,
    as on a shutdown, their runs' finally blocks run, and the server's threads are let go."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1] == "main thread exits"
    assert lines[-1] == "thread done"
    assert "finally ran" in lines
    assert "thread let go" not in lines  # not cut: ended
    sent = "".join(line for line in lines if line.startswith("sent "))
    assert SHUTDOWN_MESSAGE in sent
    assert time.monotonic() - started < 10


FORK_SCRIPT = textwrap.dedent(
    """
    import io, os
    from streambridge.wsgi import StreamWSGIApp

    async def run(controller):
        controller.append_text(f"from {os.getpid()}")

    app = StreamWSGIApp(run, heartbeat=None)

    def serve():
        env = {"REQUEST_METHOD": "POST", "QUERY_STRING": "", "CONTENT_LENGTH": "16",
               "wsgi.input": io.BytesIO(b'{"messages": []}')}
        return b"".join(app(env, lambda status, headers: None)).decode()

    assert str(os.getpid()) in serve()  # the parent starts the loop
    child = os.fork()
    if child == 0:  # a pre-forking server's worker: the loop thread did not come along
        os._exit(0 if str(os.getpid()) in serve() else 1)
    _, status = os.waitpid(child, 0)
    print("child", os.waitstatus_to_exitcode(status))
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_worker_starts_its_own_loop() -> None:
    result = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["child", "0"]


# -- a store: runs opened in the loop before the answer ------------------------------------------


def test_a_kept_run_sees_the_context_of_the_view_that_started_it(runs: Runs) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    seen: list[str] = []

    async def look(controller: sb.RunController) -> None:
        seen.append(var.get())

    app = StreamWSGIApp(runs.recorded(look), store=sb.MemoryStore())
    token = var.set("the view's")
    try:
        answer = call(app, environ())
    finally:
        var.reset(token)
    assert answer.header["x-resumable-stream-id"].startswith("run_")
    reader = threading.Thread(target=answer.read)
    reader.start()
    reader.join(2)
    assert seen == ["the view's"]


def test_an_answer_closed_unread_ends_its_kept_run(runs: Runs) -> None:
    """With ``on_disconnect="cancel"`` a server that closes the body before any ``next()`` (its
    client left before the first write) stops the run: the stream opened for it is closed."""
    app = StreamWSGIApp(runs.hang, store=sb.MemoryStore(), on_disconnect="cancel", heartbeat=None)
    answer = call(app, environ())
    assert answer.status == "200 OK"
    close_within(answer.body)
    outcome, _, _ = runs.wait()
    assert outcome == "cancelled"


def test_run_routes_answer_through_the_loop(runs: Runs) -> None:
    app = StreamWSGIApp(runs.hello, store=sb.MemoryStore(), heartbeat=None)
    first = call(app, environ())
    run_id = first.header["x-resumable-stream-id"]
    whole = first.read()
    path = f"/api/chat/runs/{run_id}"
    status = call(app, environ("GET", b"", PATH_INFO=path))
    assert (status.status, json.loads(status.read())["status"]) == ("200 OK", "done")
    head = call(app, environ("HEAD", b"", PATH_INFO=f"{path}/stream"))
    assert head.status == "200 OK"
    assert head.header["x-resumable-stream-id"] == run_id
    assert head.read() == b""
    again = call(app, environ("GET", b"", PATH_INFO=f"{path}/stream"))
    assert again.read() == whole
    resumed = call(app, environ("GET", b"", PATH_INFO=f"{path}/stream", HTTP_LAST_EVENT_ID="0"))
    assert resumed.read() == b"\n".join(whole.split(b"\n")[1:])
    unknown = call(app, environ("GET", b"", PATH_INFO="/api/chat/runs/run_x/stream"))
    assert unknown.status == "404 Not Found"


def test_a_finished_run_id_gets_a_409_before_any_byte(runs: Runs) -> None:
    app = StreamWSGIApp(runs.hello, store=sb.MemoryStore(), heartbeat=None)
    body = json.dumps(request_body("ag-ui", runId="run-once")).encode()
    first = call(app, environ(body=body, query="protocol=ag-ui"))
    assert first.header["x-resumable-stream-id"] == "run-once"
    first.read()
    late = call(app, environ(body=body, query="protocol=ag-ui"))
    assert late.status == "409 Conflict"
    assert "has ended" in json.loads(late.read())["error"]["message"]


def test_an_attached_reader_without_a_watched_socket_gets_keepalives_every_half_heartbeat(
    runs: Runs,
) -> None:
    """As a run's own reader: where the server does not expose the socket, the second write
    after the client left is the one that fails, so keepalives come twice per heartbeat."""
    app = StreamWSGIApp(runs.hang, store=sb.MemoryStore(), heartbeat=0.4)
    first = call(app, environ())
    run_id = first.header["x-resumable-stream-id"]
    attached = call(app, environ("GET", b"", PATH_INFO=f"/api/chat/runs/{run_id}/stream"))
    items = iter(attached.body)
    next(items)  # the run's first piece
    started = time.monotonic()
    beats = [next(items) for _ in range(3)]
    elapsed = time.monotonic() - started
    close_within(attached.body)
    close_within(first.body)
    assert beats == [b"\n"] * 3  # data-stream's keepalive
    assert elapsed < 0.4 * 3 * 0.75  # three in 0.6 s, not 1.2 s
