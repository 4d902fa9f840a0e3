"""streambridge-channels as a Channels project routes it, in-process through Channels' own test
communicators.  Streaming, disconnect timing and the oracles are judged on daphne in
tests/behaviour; here: routing, the scope the run sees, the answers, and shutdown."""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from typing import Any

import anyio
import pytest
from channels.routing import URLRouter
from channels.testing import ApplicationCommunicator, HttpCommunicator, WebsocketCommunicator
from django.urls import path

import streambridge as sb
from streambridge.client import accumulate, decode
from streambridge.transport import SHUTDOWN_MESSAGE
from streambridge_channels import StreamConsumer, StreamWebsocketConsumer
from support.django_settings import configure_django

configure_django()

pytestmark = pytest.mark.anyio

SEEN: list[Any] = []


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Channels runs on asgiref's asyncio bridge to Django: it cannot run on trio


@pytest.fixture
def seen() -> list[Any]:
    SEEN.clear()
    return SEEN


async def run(controller: sb.RunController) -> None:
    raw = controller.input.raw if isinstance(controller.input.raw, dict) else {}
    SEEN.append(controller.request)
    controller.append_text("hi")
    if raw.get("hang"):
        await anyio.sleep_forever()


def http_app(**options: Any) -> Any:
    return URLRouter([path("api/<slug:thread>/chat", StreamConsumer.as_asgi(run=run, **options))])


def post(body: bytes, method: str = "POST", query: str = "") -> HttpCommunicator:
    url = "/api/t1/chat" + (f"?{query}" if query else "")
    return HttpCommunicator(http_app(heartbeat=None), method, url, body=body)


async def test_consumer_streams_the_run_and_the_run_sees_the_scope(seen: list[Any]) -> None:
    response = await post(b'{"messages": []}').get_response()
    assert response["status"] == 200
    headers = dict(response["headers"])
    assert headers[b"x-vercel-ai-data-stream"] == b"v1"
    assert headers[b"cache-control"] == b"no-store"
    assert accumulate(decode(response["body"], "data-stream")).text == "hi"
    [scope] = seen
    assert scope["type"] == "http"
    assert scope["url_route"]["kwargs"] == {"thread": "t1"}  # Channels' routing, kept


@pytest.mark.parametrize(
    ("method", "body", "query", "status"),
    [
        ("GET", b"", "", 405),
        ("PUT", b"{}", "", 405),
        ("POST", b"{", "", 400),
        ("POST", b'{"messages": []}', "protocol=nope", 400),
        ("POST", b'{"messages": 1}', "", 422),
        ("POST", b'{"messages": [], "pad": "' + b"x" * 2000 + b'"}', "", 413),
    ],
)
async def test_bad_input_is_a_4xx_json_error(
    method: str, body: bytes, query: str, status: int
) -> None:
    app = http_app(max_body_bytes=1000)
    url = "/api/t1/chat" + (f"?{query}" if query else "")
    response = await HttpCommunicator(app, method, url, body=body).get_response()
    assert response["status"] == status
    assert dict(response["headers"])[b"content-type"] == b"application/json"
    assert set(json.loads(response["body"])) == {"error"}
    if status == 405:
        assert dict(response["headers"])[b"allow"] == b"POST, HEAD"


async def test_head_answers_the_headers_only() -> None:
    response = await post(b"", method="HEAD").get_response()
    assert response["status"] == 200
    assert dict(response["headers"])[b"x-vercel-ai-data-stream"] == b"v1"
    assert response["body"] == b""


def http_scope(app_path: str = "/api/t1/chat") -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": app_path,
        "query_string": b"",
        "headers": [],
        "http_version": "1.1",
    }


async def start_hanging_stream(app: Any) -> ApplicationCommunicator:
    communicator = ApplicationCommunicator(app, http_scope())
    body = b'{"messages": [], "hang": true}'
    await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
    assert (await communicator.receive_output(2))["status"] == 200
    assert b"hi" in (await communicator.receive_output(2))["body"]
    return communicator


async def test_disconnect_while_streaming_cancels_the_run() -> None:
    outcome: list[str] = []

    async def hang(controller: sb.RunController) -> None:
        controller.append_text("hi")
        try:
            await anyio.sleep_forever()
        finally:
            outcome.append("finally")

    app = URLRouter([path("api/<slug:thread>/chat", StreamConsumer.as_asgi(run=hang))])
    communicator = await start_hanging_stream(app)
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(2)  # the consumer has returned
    assert outcome == ["finally"]


async def test_shutdown_ends_open_streams_and_refuses_new_ones() -> None:
    consumer = StreamConsumer.as_asgi(run=run, heartbeat=None)
    app = URLRouter([path("api/<slug:thread>/chat", consumer)])
    communicator = await start_hanging_stream(app)
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(consumer.shutdown)
        rest = b""
        while True:
            message = await communicator.receive_output(2)
            rest += message["body"]
            if not message.get("more_body"):
                break
    assert accumulate(decode(rest, "data-stream")).errors == [SHUTDOWN_MESSAGE]
    refused = await HttpCommunicator(app, "POST", "/api/t1/chat", b"{}").get_response()
    assert refused["status"] == 503


async def test_websocket_consumer_serves_runs_one_after_another(seen: list[Any]) -> None:
    app = URLRouter([path("api/<slug:thread>/chat", StreamWebsocketConsumer.as_asgi(run=run))])
    communicator = WebsocketCommunicator(app, "/api/t2/chat")
    connected, _ = await communicator.connect()
    assert connected
    for request_id in ("a", "b"):
        await communicator.send_json_to({"type": "send", "requestId": request_id, "messages": []})
        frames = [await communicator.receive_json_from()]
        while frames[-1]["type"] != "end":
            frames.append(await communicator.receive_json_from())
        assert frames[0] == {"type": "start", "requestId": request_id}
        assert frames[1]["chunk"] == '0:"hi"'
    await communicator.disconnect()
    assert [scope["type"] for scope in seen] == ["websocket", "websocket"]
    assert seen[0]["url_route"]["kwargs"] == {"thread": "t2"}


def test_as_asgi_checks_the_options_and_the_adapter_is_a_plugin() -> None:
    [entry] = [e for e in entry_points(group="streambridge.adapters") if e.name == "channels"]
    module: Any = entry.load()
    assert module.StreamConsumer is StreamConsumer
    app = StreamConsumer.as_asgi(run=run, heartbeat=5)
    assert app.consumer_class is StreamConsumer
    assert app.endpoint.options.heartbeat == 5
    with pytest.raises(TypeError, match="unknown option"):
        StreamConsumer.as_asgi(run=run, heartbaet=1)
    with pytest.raises(ValueError, match="unknown protocol"):
        StreamWebsocketConsumer.as_asgi(run=run, protocol="nope")
