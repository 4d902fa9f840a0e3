"""streambridge-flask in the ways a Flask app mounts it.  (In-process, with Flask's test client:
what is asserted here is routing, the request object, Flask's contexts in the run and the answers;
streaming over real servers is judged in tests/behaviour.)"""

from __future__ import annotations

import threading
from importlib.metadata import entry_points
from typing import Any

import flask
import pytest
from flask import Flask
from werkzeug.test import TestResponse

import streambridge as sb
from streambridge.client import accumulate, decode
from streambridge.transport import SHUTDOWN_MESSAGE
from streambridge_flask import StreamView, stream_view
from support.recorded_runs import Runs

EVENTS: list[Any] = []


async def chat(controller: sb.RunController) -> None:
    EVENTS.append(("request", type(controller.request).__name__, controller.request.path))
    # The view's contexts reach the run, though it runs in streambridge's loop thread.
    EVENTS.append(("contexts", flask.current_app.name, flask.request.path, flask.g.user))
    try:
        controller.append_text("hi")
    finally:
        EVENTS.append("run finally")


def make_app(**options: Any) -> Flask:
    app = Flask("chat_app")
    app.add_url_rule("/api/chat", view_func=stream_view(chat, heartbeat=None, **options))
    app.add_url_rule(
        "/api/strict", endpoint="strict", view_func=stream_view(chat), methods=["POST", "HEAD"]
    )

    @app.before_request
    def who() -> None:
        flask.g.user = "ada"

    @app.teardown_request
    def teardown(error: BaseException | None) -> None:
        EVENTS.append("teardown")

    return app


@pytest.fixture
def events() -> list[Any]:
    EVENTS.clear()
    return EVENTS


def read(response: TestResponse) -> TestResponse:
    """``response`` read whole, then closed.  A streamed response left open keeps its stream on
    the shared event loop (and that loop's send watchdog) until its send times out."""
    with response:
        response.get_data()
    return response


def test_post_streams_the_run_with_flasks_request_and_contexts(events: list[Any]) -> None:
    response = read(make_app().test_client().post("/api/chat", json={"messages": []}))
    assert response.status_code == 200
    assert response.headers["x-vercel-ai-data-stream"] == "v1"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-accel-buffering"] == "no"
    assert "content-length" not in response.headers
    assert accumulate(decode(response.get_data(), "data-stream")).text == "hi"
    # Flask tears the request context down when the view returns, before the stream; the run
    # still has the view's request, app and g.
    assert events == [
        "teardown",
        ("request", "Request", "/api/chat"),
        ("contexts", "chat_app", "/api/chat", "ada"),
        "run finally",
    ]


def test_view_answers_bad_input_and_other_methods_with_json(events: list[Any]) -> None:
    client = make_app(max_body_bytes=100).test_client()
    wrong = read(client.put("/api/chat"))
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST, HEAD"
    assert set(wrong.get_json()) == {"error"}
    assert read(client.post("/api/chat", data=b"{")).status_code == 400
    assert read(client.post("/api/chat", json={"messages": "no"})).status_code == 422
    too_big = read(client.post("/api/chat", json={"messages": [], "pad": "x" * 200}))
    assert too_big.status_code == 413
    assert too_big.headers["content-type"] == "application/json"
    assert read(client.post("/api/chat?protocol=nope", json={})).status_code == 400
    head = read(client.head("/api/chat"))
    assert head.status_code == 200
    assert head.headers["content-type"] == sb.get_protocol("data-stream").media_type
    assert head.get_data() == b""
    assert set(events) == {"teardown"}  # no run started


def test_with_methods_flask_answers_the_other_methods() -> None:
    client = make_app().test_client()
    assert read(client.get("/api/strict")).status_code == 405  # Flask's own (HTML) 405
    streamed = read(client.post("/api/strict", json={"messages": []}))
    assert streamed.status_code == 200
    assert accumulate(decode(streamed.get_data(), "data-stream")).text == "hi"


def test_endpoint_is_named_after_the_run() -> None:
    app = make_app()
    assert app.view_functions["chat"].endpoint.run is chat  # type: ignore[attr-defined]
    assert isinstance(app.view_functions["strict"], StreamView)


def test_shutdown_ends_open_streams_cleanly_then_refuses() -> None:
    runs = Runs()
    view = stream_view(runs.hang, heartbeat=None)
    app = Flask("chat_app")
    app.add_url_rule("/api/chat", view_func=view)
    client = app.test_client()
    with client.post("/api/chat", json={"messages": []}) as response:
        assert response.status_code == 200
        body = response.iter_encoded()
        items = [next(body)]
        assert b"waiting" in items[0]  # the stream is open, its run waiting
        stopper = threading.Thread(target=view.shutdown)
        stopper.start()
        items += list(body)  # the error event and the end, then the iteration stops
        stopper.join(2)
        assert not stopper.is_alive()
    message = accumulate(decode(b"".join(items), "data-stream"))
    assert message.text == "waiting"
    assert message.errors == [SHUTDOWN_MESSAGE]
    assert message.finish_reason == "error"
    assert runs.wait()[0] == "cancelled"
    refused = read(client.post("/api/chat", json={"messages": []}))
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.get_json()["error"]["message"]


def test_adapter_is_registered_as_a_plugin() -> None:
    found = {ep.name: ep.value for ep in entry_points(group="streambridge.adapters")}
    assert found["flask"] == "streambridge_flask"


def test_options_are_checked_when_the_view_is_built() -> None:
    with pytest.raises(TypeError, match="heartbeet"):
        stream_view(chat, heartbeet=1)
    with pytest.raises(ValueError, match="protocol"):
        stream_view(chat, protocol="nope")
