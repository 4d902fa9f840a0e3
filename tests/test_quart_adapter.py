"""streambridge-quart as a Quart app mounts it, in-process through Quart's test client (which
drives the app's ASGI layer, response timeout included).  Streaming, disconnects and the oracles
are judged on a real server in tests/behaviour; here: routing, the request objects and context,
the answers, and Quart's RESPONSE_TIMEOUT."""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from typing import Any

import anyio
import pytest
import quart
import sniffio
from quart import Quart
from quart_trio import QuartTrio

import streambridge as sb
from streambridge.client import accumulate, decode
from streambridge.transport import SHUTDOWN_MESSAGE
from streambridge_quart import METHODS, stream_view, websocket_view

pytestmark = pytest.mark.anyio

SEEN: list[Any] = []


@pytest.fixture
def seen() -> list[Any]:
    SEEN.clear()
    return SEEN


async def run(controller: sb.RunController) -> None:
    raw = controller.input.raw if isinstance(controller.input.raw, dict) else {}
    # The context is Quart's own while the run streams: its globals are the run's request.
    is_websocket = isinstance(controller.request, quart.Websocket)
    proxy = quart.websocket if is_websocket else quart.request
    SEEN.append((type(controller.request).__name__, proxy.path, quart.current_app.name))
    for piece in raw.get("pieces", ["hi"]):
        controller.append_text(piece)
        await anyio.sleep(raw.get("pause", 0))


def new_app() -> Quart:
    """Quart on asyncio; on trio, QuartTrio (quart-trio): Quart's own ASGI layer is asyncio's."""
    return QuartTrio("chat") if sniffio.current_async_library() == "trio" else Quart("chat")


def make_app(**options: Any) -> Quart:
    app = new_app()
    app.add_url_rule("/api/chat", view_func=stream_view(run, heartbeat=None, **options))
    app.add_websocket("/api/chat", view_func=websocket_view(run, **options))
    return app


async def post(
    app: Quart, body: Any, *, method: str = "POST", query: dict[str, str] | None = None
) -> Any:
    """One request through the app's ASGI layer; the test connection's response."""
    client = app.test_client()
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with client.request("/api/chat", method=method, query_string=query) as request:
        await request.send(data)
        await request.send_complete()
    return await request.as_response()


async def test_view_streams_the_run_with_quarts_request_and_context(seen: list[Any]) -> None:
    app = make_app()
    response = await post(app, {"messages": []})
    assert response.status_code == 200
    assert response.headers["x-vercel-ai-data-stream"] == "v1"
    assert response.headers["cache-control"] == "no-store"
    assert accumulate(decode(await response.get_data(), "data-stream")).text == "hi"
    assert seen == [(app.request_class.__name__, "/api/chat", "chat")]


async def test_the_run_sees_what_a_before_request_hook_put_in_g() -> None:
    # Quart pops the view's contexts before it sends the body; pushed again alone, the request
    # context would bring a fresh app context, and g would have lost the hook's user.
    async def greet(controller: sb.RunController) -> None:
        controller.append_text(f"Hello, {quart.g.user}")

    app = new_app()
    app.add_url_rule("/api/chat", view_func=stream_view(greet, heartbeat=None))

    @app.before_request
    async def who_is_calling() -> None:
        quart.g.user = "ada"

    response = await post(app, {"messages": []})
    message = accumulate(decode(await response.get_data(), "data-stream"))
    assert (message.text, message.errors) == ("Hello, ada", [])


async def test_stream_outlasts_a_short_response_timeout() -> None:
    app = make_app()
    app.config["RESPONSE_TIMEOUT"] = 0.1  # Quart would cut a response after this, silently
    body = {"messages": [], "pieces": ["one ", "two ", "three"], "pause": 0.1}
    response = await post(app, body)
    assert accumulate(decode(await response.get_data(), "data-stream")).text == "one two three"


async def test_other_methods_get_the_json_405_and_head_the_headers() -> None:
    app = make_app()
    for method in ("GET", "PUT", "DELETE"):
        response = await post(app, b"", method=method)
        assert response.status_code == 405, method
        assert response.headers["allow"] == "POST, HEAD"
        assert set(json.loads(await response.get_data())) == {"error"}
    head = await post(app, b"", method="HEAD")
    assert head.status_code == 200
    assert head.headers["content-type"] == sb.get_protocol("data-stream").media_type
    assert await head.get_data() == b""


async def test_bad_input_is_a_4xx_json_error() -> None:
    app = make_app(max_body_bytes=100)
    cases = [
        (b"{", None, 400),
        (json.dumps({"messages": [], "pad": "x" * 200}).encode(), None, 413),
        (b'{"messages": []}', {"protocol": "nope"}, 400),
        (b'{"messages": 1}', None, 422),
    ]
    for body, query, status in cases:
        response = await post(app, body, query=query)
        assert response.status_code == status, body
        assert response.headers["content-type"] == "application/json"
        assert "message" in json.loads(await response.get_data())["error"]


async def test_quarts_lower_body_limit_is_a_json_413_too() -> None:
    app = make_app()
    app.config["MAX_CONTENT_LENGTH"] = 50
    response = await post(app, {"messages": [], "pad": "x" * 200})
    assert response.status_code == 413
    assert json.loads(await response.get_data()) == {
        "error": {"message": "the request body is larger than the 50 bytes accepted here"}
    }


async def test_any_protocol_through_the_query() -> None:
    response = await post(make_app(), {"messages": []}, query={"protocol": "ui-message-stream"})
    assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
    data = await response.get_data()
    assert accumulate(decode(data, "ui-message-stream")).text == "hi"


async def test_websocket_serves_runs_one_after_another(seen: list[Any]) -> None:
    app = make_app()
    async with app.test_client().websocket("/api/chat") as ws:
        for request_id in ("a", "b"):
            await ws.send(json.dumps({"type": "send", "requestId": request_id, "messages": []}))
            frames = [json.loads(await ws.receive())]
            while frames[-1]["type"] != "end":
                frames.append(json.loads(await ws.receive()))
            assert frames[0] == {"type": "start", "requestId": request_id}
            assert frames[1]["chunk"] == '0:"hi"'
    assert seen == [(app.websocket_class.__name__, "/api/chat", "chat")] * 2


async def test_shutdown_ends_open_streams_and_refuses_new_ones() -> None:
    app = new_app()
    view = stream_view(run, heartbeat=None)
    app.add_url_rule("/api/chat", view_func=view)
    client = app.test_client()
    body = {"messages": [], "pieces": ["one ", "two"], "pause": 10}
    async with client.request("/api/chat", method="POST") as request:
        await request.send(json.dumps(body).encode())
        await request.send_complete()
        assert b"one" in await request.receive()
        await view.shutdown()
    data = bytes(request.response_data)
    assert accumulate(decode(data, "data-stream")).errors == [SHUTDOWN_MESSAGE]
    refused = await post(app, {"messages": []})
    assert refused.status_code == 503


def test_views_are_quart_views_and_the_adapter_a_plugin() -> None:
    [entry] = [e for e in entry_points(group="streambridge.adapters") if e.name == "quart"]
    module: Any = entry.load()
    assert module.stream_view is stream_view
    view = stream_view(run)
    assert view.methods == METHODS
    assert (view.__name__, websocket_view(run).__name__) == ("run_stream", "run_websocket")
    with pytest.raises(TypeError, match="unknown option"):
        stream_view(run, heartbaet=1)
    with pytest.raises(ValueError, match="unknown protocol"):
        websocket_view(run, protocol="nope")
