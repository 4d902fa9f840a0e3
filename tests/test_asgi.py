"""The ASGI hosts driven in-process, for what a real server cannot be made to do on cue: a
shutdown mid-stream, a cancellation from outside, a send that fails or hangs, lifespan order,
routing below a ``root_path``.  (Streaming itself is judged on real servers: tests/behaviour.)"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

import streambridge as sb
from streambridge.asgi import Message, Scope, StreamApp, StreamMiddleware, route_path
from streambridge.client import accumulate, decode
from streambridge.transport import SHUTDOWN_MESSAGE
from support.fake_protocols import register_test_sse
from support.recorded_runs import Runs

pytestmark = pytest.mark.anyio


class Client:
    """One ASGI connection: what the client sends (``incoming``), what the app sent
    (``messages``), and ``leave()`` for a disconnect."""

    def __init__(self, incoming: list[Message], *, gone_message: str = "http.disconnect") -> None:
        self.incoming = list(incoming)
        self.messages: list[Message] = []
        self.gone = anyio.Event()
        self.sent_data = anyio.Event()
        self._gone_message = gone_message
        self.fail_send: Callable[[Message], Awaitable[None]] | None = None
        self._changed = anyio.Event()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Wait (at most 2 s) until what the app sent meets ``condition``."""
        with anyio.fail_after(2):
            while not condition():
                self._changed = anyio.Event()
                await self._changed.wait()

    async def receive(self) -> Message:
        if self.incoming:
            return self.incoming.pop(0)
        await self.gone.wait()
        return {"type": self._gone_message}

    async def send(self, message: Message) -> None:
        if self.fail_send is not None and (message.get("body") or "websocket." in message["type"]):
            await self.fail_send(message)
        self.messages.append(message)
        self._changed.set()
        if message.get("body") or message["type"] == "websocket.send":
            self.sent_data.set()

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])

    @property
    def headers(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.messages[0]["headers"]}

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages[1:])

    @property
    def frames(self) -> list[dict[str, Any]]:
        return [json.loads(m["text"]) for m in self.messages if m["type"] == "websocket.send"]


def http_scope(
    method: str = "POST", path: str = "/api/chat", query: bytes = b"", root_path: str = ""
) -> Scope:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": root_path,
        "query_string": query,
        "headers": [(b"content-type", b"application/json")],
    }


def post(body: Any = None) -> Client:
    data = json.dumps({"messages": []} if body is None else body).encode()
    return Client([{"type": "http.request", "body": data, "more_body": False}])


def live_tasks(backend: str) -> int:
    """How many tasks the event loop has (a leak shows as one more after the test)."""
    if backend == "asyncio":
        return len(asyncio.all_tasks())
    import trio

    def count(task: trio.lowlevel.Task) -> int:
        return 1 + sum(count(t) for n in task.child_nurseries for t in n.child_tasks)

    return count(trio.lowlevel.current_root_task())


# -- http ----------------------------------------------------------------------------------------


async def test_post_streams_the_run_and_its_request_is_the_scope() -> None:
    runs = Runs()
    app = StreamApp(runs.hello)
    scope, client = http_scope(), post()
    await app(scope, client.receive, client.send)
    assert client.status == 200
    assert client.headers["x-vercel-ai-data-stream"] == "v1"
    assert accumulate(decode(client.body, "data-stream")).text == "hello"
    assert client.messages[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert runs.ended[0][0] == "returned"
    assert runs.ended[0][2] is scope


async def test_a_middleware_that_adds_headers_in_place_adds_them_to_its_response_only() -> None:
    # As Starlette's MutableHeaders(scope=message) does: the list the app sent, extended.
    app = StreamApp(Runs().hello)

    async def adds_a_header(scope: Scope, receive: Any, send: Any) -> None:
        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"].append((b"x-added", b"1"))
            await send(message)

        await app(scope, receive, send_with_header)

    for _ in range(2):
        client = post()
        await adds_a_header(http_scope(), client.receive, client.send)
        names = [name for name, _ in client.messages[0]["headers"]]
        assert names.count(b"x-added") == 1


async def test_head_error_has_the_headers_of_the_json_but_no_body() -> None:
    client = Client([])
    await StreamApp(Runs().hello)(
        http_scope("HEAD", query=b"protocol=nope"), client.receive, client.send
    )
    assert client.status == 400
    assert client.headers["content-type"] == "application/json"
    assert int(client.headers["content-length"]) > 0
    assert client.body == b""


async def test_protocol_outside_protocols_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    register_test_sse(monkeypatch)
    app = StreamApp(Runs().hello, protocols=["data-stream"])
    client = post()
    await app(http_scope(query=b"protocol=test-sse"), client.receive, client.send)
    assert client.status == 400
    assert json.loads(client.body)["error"]["message"].startswith("protocol 'test-sse' is not")


async def test_sse_protocol_streams_with_its_own_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    register_test_sse(monkeypatch)
    client = post()
    await StreamApp(Runs().hello)(
        http_scope(query=b"protocol=test-sse"), client.receive, client.send
    )
    assert client.headers["content-type"] == "text/event-stream"
    assert "connection" not in client.headers
    assert (
        client.body
        == b'data: {"type":"text","text":"hello"}\n\ndata: {"type":"finish"}\n\ndata: [DONE]\n\n'
    )


async def test_body_split_over_messages_is_read_whole() -> None:
    client = Client(
        [
            {"type": "http.request", "body": b'{"messa', "more_body": True},
            {"type": "http.request", "body": b'ges": []}', "more_body": False},
        ]
    )
    await StreamApp(Runs().hello)(http_scope(), client.receive, client.send)
    assert client.status == 200


async def test_client_gone_during_the_body_gets_no_answer() -> None:
    runs = Runs()
    client = Client([{"type": "http.request", "body": b"{", "more_body": True}])
    client.gone.set()
    await StreamApp(runs.hello)(http_scope(), client.receive, client.send)
    assert client.messages == []
    assert runs.ended == []


async def test_shutdown_ends_open_streams_the_protocols_way() -> None:
    runs = Runs()
    app = StreamApp(runs.hang)
    client = post()
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(app, http_scope(), client.receive, client.send)
        await client.sent_data.wait()
        with anyio.fail_after(2):
            await app.shutdown()  # returns once the stream has ended
        assert runs.ended[0][0] == "cancelled"
    message = accumulate(decode(client.body, "data-stream"))
    assert message.text == "waiting"
    assert message.errors == [SHUTDOWN_MESSAGE]
    assert message.finish_reason is not None  # the protocol's end, not a cut
    assert client.messages[-1]["more_body"] is False

    refused = post()
    await app(http_scope(), refused.receive, refused.send)
    assert refused.status == 503
    assert refused.headers["retry-after"] == "1"
    assert "shutting down" in json.loads(refused.body)["error"]["message"]


async def test_lifespan_shutdown_ends_streams_before_it_completes() -> None:
    runs = Runs()
    app = StreamApp(runs.hang)
    lifespan = Client([{"type": "lifespan.startup"}], gone_message="lifespan.shutdown")
    client = post()
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(app, {"type": "lifespan"}, lifespan.receive, lifespan.send)
        task_group.start_soon(app, http_scope(), client.receive, client.send)
        await client.sent_data.wait()
        lifespan.gone.set()  # the server says: shutdown
    assert lifespan.messages == [
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.complete"},
    ]
    assert accumulate(decode(client.body, "data-stream")).errors == [SHUTDOWN_MESSAGE]

    assert app.endpoint.streams.closing  # new requests get a 503 now

    # A new startup (a server serving the app again) accepts streams again.
    restart = Client([{"type": "lifespan.startup"}], gone_message="lifespan.shutdown")
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(app, {"type": "lifespan"}, restart.receive, restart.send)
        await restart.wait_until(lambda: bool(restart.messages))
        assert not app.endpoint.streams.closing
        restart.gone.set()


@pytest.mark.parametrize("where", ["waiting for the run", "blocked in send"])
async def test_cancelled_from_outside_the_run_stops_and_no_task_is_left(
    anyio_backend: str, where: str
) -> None:
    runs = Runs()
    app = StreamApp(runs.hang, heartbeat=0.01)
    before = live_tasks(anyio_backend)
    client = post()
    blocked = anyio.Event()

    async def stuck(message: Message) -> None:
        if client.sent_data.is_set() and where == "blocked in send":
            blocked.set()
            await anyio.sleep_forever()

    client.fail_send = stuck
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(app, http_scope(), client.receive, client.send)
        await client.sent_data.wait()
        if where == "blocked in send":
            await blocked.wait()
        task_group.cancel_scope.cancel()  # a server cancelling the request task
    assert [outcome for outcome, _, _ in runs.ended] == ["cancelled"]  # before the group exited
    await anyio.lowlevel.checkpoint()
    assert live_tasks(anyio_backend) == before


async def test_a_send_that_fails_cancels_the_run() -> None:
    runs = Runs()
    client = post()

    async def reset(message: Message) -> None:
        if client.sent_data.is_set():
            raise ConnectionResetError

    client.fail_send = reset
    await StreamApp(runs.hang, heartbeat=0.01)(http_scope(), client.receive, client.send)
    assert runs.ended[0][0] == "cancelled"


async def test_a_client_that_stops_reading_is_given_up_after_the_send_timeout() -> None:
    runs = Runs()
    client = post()

    async def stuck(message: Message) -> None:
        if client.sent_data.is_set():
            await anyio.sleep_forever()

    client.fail_send = stuck
    app = StreamApp(runs.hang, heartbeat=0.01, send_timeout=0.1)
    started = time.monotonic()
    with anyio.fail_after(2):
        await app(http_scope(), client.receive, client.send)
    assert runs.ended[0][0] == "cancelled"
    assert 0.1 <= runs.ended[0][1] - started < 1


async def test_a_run_slower_than_the_send_timeout_to_start_is_not_given_up() -> None:
    # The send timeout times sends, not the run: the response start went out at once, and a run
    # that thinks longer than the timeout before its first chunk still streams it.
    async def thinks_first(controller: sb.RunController) -> None:
        await anyio.sleep(0.3)
        controller.append_text("hello")

    client = post()
    app = StreamApp(thinks_first, heartbeat=None, send_timeout=0.05)
    with anyio.fail_after(2):
        await app(http_scope(), client.receive, client.send)
    assert client.body.startswith(b'0:"hello"\n')


# -- websocket -----------------------------------------------------------------------------------


def ws_client(*frames: dict[str, Any]) -> Client:
    incoming = [{"type": "websocket.connect"}]
    incoming += [{"type": "websocket.receive", "text": json.dumps(frame)} for frame in frames]
    return Client(incoming, gone_message="websocket.disconnect")


def ws_scope(query: bytes = b"") -> Scope:
    return {"type": "websocket", "path": "/api/chat", "query_string": query, "headers": []}


async def test_websocket_shutdown_ends_the_run_then_closes_going_away() -> None:
    runs = Runs()
    app = StreamApp(runs.hang)
    client = ws_client({"type": "send", "requestId": "r", "messages": []})
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(app, ws_scope(), client.receive, client.send)
        await client.wait_until(lambda: len(client.frames) >= 2)  # start, the first chunk
        with anyio.fail_after(2):
            await app.shutdown()
    assert client.messages[0] == {"type": "websocket.accept"}
    assert client.messages[-1] == {"type": "websocket.close", "code": 1001}
    frames = client.frames
    assert frames[0] == {"type": "start", "requestId": "r"}
    assert frames[-1] == {"type": "end", "requestId": "r"}
    lines = [f["chunk"] for f in frames[1:-1]]
    assert lines[0] == '0:"waiting"'
    assert lines[1] == "3:" + json.dumps(SHUTDOWN_MESSAGE)
    assert lines[-1].startswith("d:")
    assert runs.ended[0][0] == "cancelled"

    refused = ws_client()
    await app(ws_scope(), refused.receive, refused.send)
    assert refused.messages == [{"type": "websocket.close", "code": 1013}]


async def test_websocket_client_that_stops_reading_loses_its_run_and_socket() -> None:
    runs = Runs()
    client = ws_client({"type": "send", "requestId": "r", "messages": []})
    attempted: list[Message] = []

    async def stuck(message: Message) -> None:
        attempted.append(message)
        if message["type"] == "websocket.send" and client.frames:  # after `start`
            await anyio.sleep_forever()

    client.fail_send = stuck
    with anyio.fail_after(2):
        await StreamApp(runs.hang, send_timeout=0.1)(ws_scope(), client.receive, client.send)
    assert runs.ended[0][0] == "cancelled"
    assert attempted[-1] == {"type": "websocket.close", "code": 1011}


async def test_websocket_sse_protocol_sends_json_chunks_without_done(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    register_test_sse(monkeypatch)
    client = ws_client({"type": "send", "requestId": "r", "messages": []})
    app = StreamApp(Runs().hello)
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(app, ws_scope(b"protocol=test-sse"), client.receive, client.send)
        await client.wait_until(lambda: bool(client.frames) and client.frames[-1]["type"] == "end")
        client.gone.set()
    assert client.frames == [
        {"type": "start", "requestId": "r"},
        {
            "type": "chunk",
            "requestId": "r",
            "sequence": 0,
            "chunk": {"type": "text", "text": "hello"},
        },
        {"type": "chunk", "requestId": "r", "sequence": 1, "chunk": {"type": "finish"}},
        {"type": "end", "requestId": "r"},
    ]


# -- middleware ----------------------------------------------------------------------------------


def test_route_path_is_below_the_root_path() -> None:
    assert route_path({"path": "/api/chat"}) == "/api/chat"
    assert route_path({"path": "/mount/api/chat", "root_path": "/mount"}) == "/api/chat"
    assert route_path({"path": "/api/chat", "root_path": "/mount"}) == "/api/chat"  # old style
    assert route_path({"path": "/mountain/x", "root_path": "/mount"}) == "/mountain/x"


async def test_middleware_serves_its_routes_and_passes_the_rest() -> None:
    inner: list[str] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        inner.append(scope["type"] + " " + scope.get("path", ""))
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b"inner"})

    runs = Runs()
    middleware = StreamMiddleware(app, routes={"/api/chat": runs.hello}, heartbeat=None)
    served = post()
    await middleware(http_scope(path="/m/api/chat", root_path="/m"), served.receive, served.send)
    assert served.status == 200
    passed = post()
    await middleware(http_scope(path="/other"), passed.receive, passed.send)
    assert passed.body == b"inner"
    assert inner == ["http /other"]
    with pytest.raises(ValueError, match="start with '/'"):
        StreamMiddleware(app, routes={"api": runs.hello})
    with pytest.raises(TypeError, match="unknown option"):
        StreamMiddleware(app, routes={}, heartbaet=1)


async def test_middleware_ends_streams_before_the_app_hears_of_shutdown() -> None:
    heard: list[str] = []
    client = post()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        while True:
            message = await receive()
            heard.append(message["type"])
            if message["type"] == "lifespan.shutdown":
                heard.append(f"stream ended: {client.messages[-1].get('more_body') is False}")
                return

    middleware = StreamMiddleware(app, routes={"/api/chat": Runs().hang})
    lifespan = Client([{"type": "lifespan.startup"}], gone_message="lifespan.shutdown")
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(middleware, {"type": "lifespan"}, lifespan.receive, lifespan.send)
        task_group.start_soon(middleware, http_scope(), client.receive, client.send)
        await client.sent_data.wait()
        lifespan.gone.set()
    assert heard == ["lifespan.startup", "lifespan.shutdown", "stream ended: True"]
    assert accumulate(decode(client.body, "data-stream")).errors == [SHUTDOWN_MESSAGE]
