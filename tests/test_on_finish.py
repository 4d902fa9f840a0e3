"""``on_finish`` (issue 14): once a run has ended, done, failed or cancelled, the hook gets the
assembled final message; it runs once, its failure is logged and never reaches the client.
And runs that cannot be runs are refused when they are handed over."""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

import streambridge as sb
from streambridge.asgi import StreamApp
from streambridge.messages import accumulate
from streambridge.run import GENERIC_ERROR_MESSAGE
from streambridge.transport import StreamOptions
from streambridge.wsgi import StreamWSGIApp

pytestmark = pytest.mark.anyio


async def answer(controller: sb.RunController) -> None:
    controller.append_reasoning("Look it up.")
    tool = controller.add_tool_call("get_weather", "call_1")
    tool.append_args_text('{"city": "Paris"}')
    tool.set_response({"temp": 21})
    controller.append_text("21 °C ")
    controller.state["status"] = "done"
    controller.add_step_finish("stop", 3, 4)
    controller.append_text("in Paris.")


class Finished:
    """The messages on_finish was given, and the end of the stream as the consumer saw it."""

    def __init__(self) -> None:
        self.messages: list[sb.Message] = []

    async def __call__(self, message: sb.Message) -> None:
        await anyio.sleep(0.01)  # a database write: the end of the stream waits for it
        self.messages.append(message)


async def test_done_gives_the_whole_message_with_usage_and_state() -> None:
    finished = Finished()
    stream = sb.create_run(answer, state={"status": "new"}, on_finish=finished)
    chunks = [chunk async for chunk in stream]
    [message] = finished.messages  # already there when the stream's end is read
    assert message.role == "assistant"
    assert message.id == stream.input.run_id
    assert message.text == "21 °C in Paris."
    assert message.reasoning == "Look it up."
    [call] = message.tool_calls
    assert (call.tool_name, call.args, call.result) == (
        "get_weather",
        {"city": "Paris"},
        {"temp": 21},
    )
    assert message.state == {"status": "done"}
    assert message.finish_reason == "stop"
    assert message.usage == sb.Usage(3, 4)
    # The same message the Python client builds from the same chunks.
    assert message.parts == accumulate(chunks, complete=True).parts


async def test_a_plain_function_hook_works_too() -> None:
    seen: list[str] = []
    async for _ in sb.create_run(answer, on_finish=lambda message: seen.append(message.text)):
        pass
    assert seen == ["21 °C in Paris."]


async def test_an_error_ends_with_finish_reason_error(caplog: pytest.LogCaptureFixture) -> None:
    async def failing(controller: sb.RunController) -> None:
        controller.append_text("partial")
        raise ValueError("secret detail")

    finished = Finished()
    with caplog.at_level(logging.ERROR, "streambridge"):
        async for _ in sb.create_run(failing, on_finish=finished):
            pass
    [message] = finished.messages
    assert (message.text, message.finish_reason) == ("partial", "error")
    assert message.errors == [GENERIC_ERROR_MESSAGE]


async def test_a_cancelled_run_reports_once_with_what_it_had_made() -> None:
    stopped = anyio.Event()

    async def slow(controller: sb.RunController) -> None:
        controller.append_text("first ")
        try:
            await anyio.sleep_forever()
        finally:
            stopped.set()

    finished = Finished()
    stream = sb.create_run(slow, on_finish=finished)
    async with stream:
        assert await stream.__anext__() == sb.chunks.TextDelta("first ")
    assert stopped.is_set()
    [message] = finished.messages  # the close waited for the hook
    assert (message.text, message.finish_reason) == ("first ", "cancelled")


async def test_a_failing_hook_is_logged_and_the_stream_is_untouched(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(message: sb.Message) -> None:
        raise RuntimeError("the database is down")

    want = [chunk async for chunk in sb.create_run(answer)]
    with caplog.at_level(logging.ERROR, "streambridge"):
        got = [chunk async for chunk in sb.create_run(answer, on_finish=broken)]
    assert [type(c) for c in got] == [type(c) for c in want]
    assert "on_finish failed" in caplog.text
    assert "the database is down" in caplog.text


async def test_take_batch_readers_see_the_end_only_after_the_hook() -> None:
    finished = Finished()
    stream = sb.create_run(answer, on_finish=finished)
    while True:
        batch = stream.take_batch()
        if batch is None:
            break
        if not batch:
            ready = anyio.Event()
            stream.when_ready(ready.set)
            with anyio.fail_after(2):
                await ready.wait()
    assert len(finished.messages) == 1


# -- every host takes on_finish ----------------------------------------------------------------


async def test_the_asgi_host_calls_on_finish_with_the_run_it_served() -> None:
    finished = Finished()
    app = StreamApp(answer, on_finish=finished, heartbeat=None)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/?protocol=openai-chat", json={"messages": []})
    assert response.status_code == 200
    [message] = finished.messages
    assert message.text == "21 °C in Paris."


def test_the_wsgi_host_calls_on_finish_with_the_run_it_served() -> None:
    seen: list[sb.Message] = []
    app = StreamWSGIApp(answer, on_finish=seen.append, heartbeat=None)
    body = b'{"messages": []}'
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "SERVER_NAME": "test",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
    }
    statuses: list[str] = []
    result = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    try:
        b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    assert statuses == ["200 OK"]
    [message] = seen
    assert message.text == "21 °C in Paris."


def test_every_host_option_set_takes_on_finish_and_checks_it() -> None:
    def hook(message: sb.Message) -> None:
        pass

    assert StreamOptions.from_kwargs(on_finish=hook).on_finish is hook
    with pytest.raises(TypeError, match="on_finish must be a function"):
        StreamOptions.from_kwargs(on_finish="save")
    with pytest.raises(TypeError, match="on_finish must be a function"):
        sb.create_run(answer, on_finish=42)  # type: ignore[arg-type]


# -- bad runs are refused up front ---------------------------------------------------------------


def plain(controller: sb.RunController) -> None:
    controller.append_text("never")


async def generator(controller: sb.RunController) -> AsyncIterator[str]:
    yield "never"


class AsyncCallable:
    async def __call__(self, controller: sb.RunController) -> None:
        controller.append_text("ok")


async def with_greeting(controller: sb.RunController, greeting: str) -> None:
    controller.append_text(greeting)


@pytest.mark.parametrize(
    ("run", "message"),
    [
        (plain, "is not an async function"),
        (lambda controller: anyio.lowlevel.checkpoint(), "is not an async function"),
        (generator, "is an async generator function"),
        ("run", "must be an async function"),
        (None, "must be an async function"),
        (AsyncCallable, "is not an async function"),  # the class, not an instance
    ],
)
def test_what_cannot_be_a_run_is_refused_when_built(run: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        sb.create_run(run)
    with pytest.raises(TypeError, match=message):
        StreamApp(run)
    with pytest.raises(TypeError, match=message):
        StreamWSGIApp(run)


async def test_async_callables_partials_and_methods_are_runs() -> None:
    class Assistant:
        async def run(self, controller: sb.RunController) -> None:
            controller.append_text("ok")

    class Unhashable(AsyncCallable):
        __hash__ = None  # type: ignore[assignment]

    class NoWeakReferences:
        __slots__ = ()

        async def __call__(self, controller: sb.RunController) -> None:
            controller.append_text("ok")

    runs: list[Any] = [
        AsyncCallable(),
        functools.partial(with_greeting, greeting="ok"),
        Assistant().run,
        Unhashable(),  # (the check remembers good runs: these cannot be remembered)
        NoWeakReferences(),
    ]
    for run in runs:
        StreamApp(run)
        for _ in range(2):  # checked, then known
            texts = [
                chunk.text_delta
                async for chunk in sb.create_run(run)
                if isinstance(chunk, sb.chunks.TextDelta)
            ]
            assert texts == ["ok"]
