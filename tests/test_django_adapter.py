"""streambridge-django in the ways a Django project mounts it, under WSGI (the sync handler) and
under ASGI, with CSRF and GZip middleware installed.  (In-process, with Django's test clients and
its handlers: routing, the request object, CSRF, the answers, and cancellation through each
handler; streaming over real servers is judged in tests/behaviour and test_examples.py.)"""

from __future__ import annotations

import io
import threading
import time
from importlib.metadata import entry_points
from typing import Any

import anyio
import pytest

import streambridge as sb
from streambridge.client import accumulate, decode
from support.django_settings import configure_django

configure_django()

# These need the settings.
from django.core.handlers.asgi import ASGIHandler  # noqa: E402  (after configure_django)
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402  (after configure_django)
from django.middleware.csrf import get_token  # noqa: E402  (after configure_django)
from django.test import (  # noqa: E402  (after configure_django)
    AsyncClient,
    AsyncRequestFactory,
    Client,
    RequestFactory,
)
from django.urls import path  # noqa: E402  (after configure_django)
from django.views.decorators.csrf import csrf_exempt  # noqa: E402  (after configure_django)

from streambridge_django import StreamView, stream_view  # noqa: E402  (after configure_django)

SEEN: list[Any] = []
ENDED: list[tuple[str, float]] = []
DONE = threading.Event()


async def chat(controller: sb.RunController) -> None:
    SEEN.append(type(controller.request).__name__)
    controller.append_text("hi")


async def hang(controller: sb.RunController) -> None:
    outcome = "raised"
    try:
        controller.append_text("waiting")
        await anyio.sleep_forever()
    except anyio.get_cancelled_exc_class():
        outcome = "cancelled"
        raise
    finally:
        ENDED.append((outcome, time.monotonic()))
        DONE.set()


@stream_view(heartbeat=None)
async def decorated(controller: sb.RunController) -> None:
    await chat(controller)


@stream_view
async def bare(controller: sb.RunController) -> None:
    await chat(controller)


urlpatterns = [
    path("api/chat", csrf_exempt(stream_view(chat, heartbeat=None, max_body_bytes=200))),
    path("api/guarded", stream_view(chat, heartbeat=None)),
    path("api/decorated", csrf_exempt(decorated)),
    path("api/bare", csrf_exempt(bare)),
    path("api/hang", csrf_exempt(stream_view(hang, heartbeat=None))),
]

JSON = "application/json"
BODY = {"messages": []}


@pytest.fixture(autouse=True)
def fresh() -> None:
    SEEN.clear()
    ENDED.clear()
    DONE.clear()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Django's async support (its ASGI handler, AsyncClient) is asyncio's


def sync_body(response: Any) -> bytes:
    try:
        return b"".join(response.streaming_content)
    finally:
        response.close()


async def async_body(response: Any) -> bytes:
    try:
        return b"".join([part async for part in response.streaming_content])
    finally:
        await anyio.to_thread.run_sync(response.close)


def assert_stream(response: Any, *, is_async: bool | None) -> None:
    assert response.status_code == 200
    assert response.streaming
    if is_async is not None:
        assert response.is_async is is_async
    assert response["Content-Type"] == sb.get_protocol("data-stream").media_type
    assert response["x-vercel-ai-data-stream"] == "v1"
    assert response["Cache-Control"] == "no-store"
    assert response["X-Accel-Buffering"] == "no"
    assert response["Content-Encoding"] == "identity"  # GZipMiddleware left it alone
    assert not response.has_header("Content-Length")


# -- under WSGI ----------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["chat", "decorated", "bare"])
def test_wsgi_streams_a_sync_iterator_and_the_request_is_djangos(route: str) -> None:
    client = Client(HTTP_ACCEPT_ENCODING="gzip")
    response = client.post(f"/api/{route}", BODY, content_type=JSON)
    assert_stream(response, is_async=False)
    assert accumulate(decode(sync_body(response), "data-stream")).text == "hi"
    assert SEEN == ["WSGIRequest"]


def test_wsgi_answers_bad_input_and_other_methods_with_json() -> None:
    client = Client()
    wrong = client.get("/api/chat")
    assert wrong.status_code == 405
    assert wrong["Allow"] == "POST, HEAD"
    assert set(wrong.json()) == {"error"}
    assert client.post("/api/chat", "{", content_type=JSON).status_code == 400
    assert client.post("/api/chat", {"messages": "no"}, content_type=JSON).status_code == 422
    big = client.post("/api/chat", {"messages": [], "pad": "x" * 300}, content_type=JSON)
    assert big.status_code == 413
    assert big["Content-Type"] == JSON
    head = client.head("/api/chat")
    assert_stream(head, is_async=False)
    assert sync_body(head) == b""
    assert not SEEN


def test_wsgi_reads_a_chunked_body_django_would_not() -> None:
    # gunicorn and werkzeug frame a chunked body and say so; Django's WSGIRequest reads only
    # CONTENT_LENGTH bytes, so it would see an empty body.
    environ = RequestFactory().post("/api/chat").environ
    del environ["CONTENT_LENGTH"]
    environ.update({"wsgi.input": io.BytesIO(b'{"messages": []}'), "wsgi.input_terminated": True})
    started: list[str] = []
    response = WSGIHandler()(environ, lambda status, headers: started.append(status))
    assert started == ["200 OK"]
    assert b"hi" in sync_body(response)


def test_wsgi_close_cancels_the_run_and_returns_after_its_finally() -> None:
    environ = RequestFactory().post("/api/hang", BODY, content_type=JSON).environ
    response = WSGIHandler()(environ, lambda status, headers: None)
    assert b"waiting" in next(iter(response))
    closing = time.monotonic()
    closer = threading.Thread(target=response.close, daemon=True)  # as a server does when a
    closer.start()  # write fails; it must return, and only once the run has ended
    closer.join(2)
    assert not closer.is_alive()
    assert DONE.is_set()
    outcome, ended = ENDED[0]
    assert outcome == "cancelled"
    assert ended - closing < 0.3


# -- under ASGI ----------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("route", ["chat", "decorated", "bare"])
async def test_asgi_streams_an_async_iterator_and_the_request_is_djangos(route: str) -> None:
    client = AsyncClient(headers={"Accept-Encoding": "gzip"})
    response = await client.post(f"/api/{route}", BODY, content_type=JSON)
    assert_stream(response, is_async=True)
    assert accumulate(decode(await async_body(response), "data-stream")).text == "hi"
    assert SEEN == ["ASGIRequest"]


@pytest.mark.anyio
async def test_asgi_answers_bad_input_and_other_methods_with_json() -> None:
    client = AsyncClient()
    wrong = await client.put("/api/chat")
    assert wrong.status_code == 405
    assert wrong["Allow"] == "POST, HEAD"
    assert (await client.post("/api/chat", "{", content_type=JSON)).status_code == 400
    head = await client.head("/api/chat")
    assert_stream(head, is_async=None)  # (the test client swaps a HEAD's content for [])
    assert sync_body(head) == b""
    assert not SEEN


@pytest.mark.anyio
async def test_asgi_refuses_new_runs_once_the_view_is_shut_down() -> None:
    view = stream_view(chat, heartbeat=None)
    await view.endpoint.shutdown()
    request = AsyncRequestFactory().post("/api/chat", BODY, content_type=JSON)
    refused = await view(request)
    assert refused.status_code == 503
    assert refused["Content-Type"] == JSON
    assert not SEEN  # the run never started


@pytest.mark.anyio
async def test_asgi_disconnect_cancels_the_run_within_100ms() -> None:
    disconnect = anyio.Event()
    left: list[float] = []
    sent: list[dict[str, Any]] = []
    incoming = [{"type": "http.request", "body": b'{"messages": []}', "more_body": False}]

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop()
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if b"waiting" in message.get("body", b""):
            left.append(time.monotonic())  # the client leaves as the first piece arrives
            disconnect.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/hang",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    with anyio.fail_after(5):
        await ASGIHandler()(scope, receive, send)
    assert DONE.is_set()  # before the handler returned
    outcome, ended = ENDED[0]
    assert outcome == "cancelled"
    assert sent[0]["status"] == 200
    assert ended - left[0] < 0.1


# -- CSRF ----------------------------------------------------------------------------------------


def test_csrf_refuses_a_post_without_a_token_unless_the_view_is_exempt() -> None:
    client = Client(enforce_csrf_checks=True)
    refused = client.post("/api/guarded", BODY, content_type=JSON)
    assert refused.status_code == 403
    assert not SEEN  # the run never started
    exempt = client.post("/api/chat", BODY, content_type=JSON)
    assert exempt.status_code == 200
    sync_body(exempt)
    assert SEEN == ["WSGIRequest"]


def test_csrf_passes_a_post_that_sends_the_token() -> None:
    client = Client(enforce_csrf_checks=True)
    token = get_token(RequestFactory().get("/"))
    client.cookies["csrftoken"] = token
    response = client.post("/api/guarded", BODY, content_type=JSON, headers={"X-CSRFToken": token})
    assert response.status_code == 200
    assert b"hi" in sync_body(response)


@pytest.mark.anyio
async def test_csrf_refuses_under_asgi_too() -> None:
    client = AsyncClient(enforce_csrf_checks=True)
    assert (await client.post("/api/guarded", BODY, content_type=JSON)).status_code == 403
    assert not SEEN


# -- the view ------------------------------------------------------------------------------------


def test_the_view_is_an_async_view_named_after_the_run() -> None:
    from asgiref.sync import iscoroutinefunction

    view = stream_view(chat)
    assert isinstance(view, StreamView)
    assert iscoroutinefunction(view)
    assert iscoroutinefunction(csrf_exempt(view))
    assert view.__name__ == "chat"
    assert decorated.__name__ == "decorated"


def test_options_are_checked_when_the_view_is_built() -> None:
    with pytest.raises(TypeError, match="heartbeet"):
        stream_view(heartbeet=1)
    with pytest.raises(ValueError, match="protocol"):
        stream_view(chat, protocol="nope")


def test_adapter_is_registered_as_a_plugin() -> None:
    found = {ep.name: ep.value for ep in entry_points(group="streambridge.adapters")}
    assert found["django"] == "streambridge_django"
