"""streambridge-starlette in the ways a Starlette or FastAPI app mounts it, and the plain ASGI
hosts mounted under Starlette.  (In-process: what is asserted here is routing, the request object
and the answers, never streaming, which tests/behaviour judges on real servers.)"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response, WebSocket
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

import streambridge as sb
from streambridge.asgi import Receive, Scope, Send, StreamApp, StreamMiddleware
from streambridge.client import accumulate, decode
from streambridge_starlette import StreamView, WebSocketView, stream_view, websocket_view

SEEN: list[str] = []


async def run(controller: sb.RunController) -> None:
    SEEN.append(type(controller.request).__name__)
    controller.append_text("hi")


@pytest.fixture
def seen() -> list[str]:
    SEEN.clear()
    return SEEN


def fastapi_app() -> FastAPI:
    view = stream_view(run, heartbeat=None)
    ws_view = websocket_view(run)
    api = FastAPI()
    api.add_route("/route", view)
    api.router.add_websocket_route("/ws", ws_view)

    @api.post("/endpoint")
    async def endpoint(request: Request) -> Response:
        await request.body()  # the endpoint has read the body already
        return view.response(request)

    @api.websocket("/ws-endpoint")
    async def ws_endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await ws_view.serve(websocket)

    return api


@pytest.mark.parametrize("path", ["/route", "/endpoint"])
def test_fastapi_route_and_endpoint_stream_the_run(path: str, seen: list[str]) -> None:
    with TestClient(fastapi_app()) as client:
        response = client.post(path, json={"messages": []})
    assert response.status_code == 200
    assert response.headers["x-vercel-ai-data-stream"] == "v1"
    assert response.headers["cache-control"] == "no-store"
    assert accumulate(decode(response.content, "data-stream")).text == "hi"
    assert seen == ["Request"]


def test_view_answers_bad_input_itself() -> None:
    with TestClient(fastapi_app()) as client:
        wrong_method = client.put("/route")
        not_json = client.post("/route", content=b"{")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST, HEAD"
    assert not_json.status_code == 400
    assert set(not_json.json()) == {"error"}


@pytest.mark.parametrize("path", ["/ws", "/ws-endpoint"])
def test_fastapi_websocket_route_and_endpoint_serve_the_envelope(
    path: str, seen: list[str]
) -> None:
    with TestClient(fastapi_app()) as client, client.websocket_connect(path) as ws:
        for request_id in ("a", "b"):
            ws.send_json({"type": "send", "requestId": request_id, "messages": []})
            frames = [ws.receive_json()]
            while frames[-1]["type"] != "end":
                frames.append(ws.receive_json())
            assert frames[0] == {"type": "start", "requestId": request_id}
            assert frames[1]["chunk"] == '0:"hi"'
            assert [f["sequence"] for f in frames[1:-1]] == list(range(len(frames) - 2))
    assert seen == ["WebSocket", "WebSocket"]


async def fallback(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b"fallback"})


def test_plain_asgi_hosts_mount_under_starlette(seen: list[str]) -> None:
    app = Starlette(
        routes=[
            Mount("/app", app=StreamApp(run, heartbeat=None)),
            Mount("/mw", app=StreamMiddleware(fallback, routes={"/chat": run})),
        ]
    )
    with TestClient(app) as client:
        mounted = client.post("/app/anything", json={"messages": []})
        routed = client.post("/mw/chat", json={"messages": []})  # below root_path "/mw"
        passed = client.post("/mw/other", json={"messages": []})
    assert accumulate(decode(mounted.content, "data-stream")).text == "hi"
    assert accumulate(decode(routed.content, "data-stream")).text == "hi"
    assert passed.text == "fallback"
    assert seen == ["dict", "dict"]


def test_adapter_is_registered_as_a_plugin() -> None:
    [entry] = [e for e in entry_points(group="streambridge.adapters") if e.name == "starlette"]
    module: Any = entry.load()
    assert module.stream_view is stream_view
    assert isinstance(stream_view(run), StreamView)
    assert isinstance(websocket_view(run), WebSocketView)


def test_options_are_checked_when_the_view_is_built() -> None:
    with pytest.raises(TypeError, match="unknown option"):
        stream_view(run, heartbaet=1)
    with pytest.raises(ValueError, match="unknown protocol"):
        websocket_view(run, protocol="nope")
