"""The two ASGI apps ``serving.py`` starts on uvicorn: the same runs, each library its own way.

- ``streambridge_app``: ``StreamApp(run)`` with every option at its default (data-stream
  protocol, 15 s heartbeat, 50 ms grace);
- ``assistant_stream_app``: a Starlette app whose POST route returns
  ``DataStreamResponse(create_run(run))`` (assistant-stream 0.0.36, its defaults: no heartbeat
  for the data stream, 50 ms grace).

The request body (JSON) picks the run and its size, so one server serves every figure:

- ``{"scenario": "burst", "calls": N}``: ``N`` ``append_text("x")`` calls, yielding every 1,000
  (streambridge: ``await controller.drain()``; assistant-stream: ``await asyncio.sleep(0)``);
- ``{"scenario": "hang", "marker": PATH}``: one delta, then waits forever without looking at
  cancellation; its ``finally`` writes ``time.monotonic()`` (one clock for every process on
  Linux) to ``PATH`` when ``marker`` is given;
- ``{"scenario": "paced", "tokens": N}``: ``N`` deltas at 20 per second (each sleeps until 50 ms
  after the previous one was due), each ``"t<send time> "`` with the ``time.monotonic()`` taken
  just before ``append_text``.

The run bodies are the same code for both libraries: only the yield of the burst differs.  They
sleep with the event loop's own sleep, picked once per run (``asyncio.sleep``, or ``trio.sleep``
on hypercorn's trio workers), so the same runs serve on either with no anyio frame per token.

Two apps without any library, the floors the libraries are measured against:

- ``bare_app`` (the memory figure): answers every POST with the response start and one
  data-stream delta, then waits for the client to leave;
- ``bare_paced_app`` (the concurrency figure): reads the POST body ``{"scenario": "paced",
  "tokens": N}``, sends the response start with the data-stream headers, then runs ``paced``'s
  loop itself (the same pacing, the same ``"t<send time> "`` texts) and sends each token as one
  data-stream frame, ``0:"t<time> "\\n`` (the text JSON-encoded as data-stream encodes it), with
  one ``await send(...)`` from the request's own task, then the end of the body.  No task, queue
  or encoder between the run and the server: what serving a token costs at least.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from assistant_stream import create_run as as_create_run
from assistant_stream.serialization import DataStreamResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from streambridge.asgi import StreamApp

PATH = "/api/chat"
YIELD_EVERY = 1_000
TOKEN_INTERVAL = 0.05  # 20 tokens/s


async def burst(controller: Any, calls: int, pause: Callable[[], Awaitable[None]]) -> None:
    for i in range(calls):
        controller.append_text("x")
        if i % YIELD_EVERY == YIELD_EVERY - 1:
            await pause()


def native_sleep() -> Callable[[float], Awaitable[None]]:
    """The running event loop's own sleep: ``asyncio.sleep``, or ``trio.sleep`` under trio.

    Picked once per run rather than going through ``anyio.sleep`` at every token: on asyncio the
    runs then sleep exactly as they did before they could run on trio (the same frames, the same
    idle memory), and no row pays an extra layer per token that would flatter the ratios.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # not asyncio: hypercorn's trio worker
        import trio

        return trio.sleep
    return asyncio.sleep


async def hang(controller: Any, marker: str | None) -> None:
    sleep = native_sleep()
    try:
        controller.append_text("x")
        # A slow call that never looks at is_cancelled.  The event loop holds its timer, as it
        # holds the socket of a real model call; an unreferenced asyncio.Event().wait() would
        # let the garbage collector destroy an abandoned run's task (and run its finally).
        await sleep(3600)
    finally:
        if marker:
            # A blocking write of a few bytes: fine in a finally, and it works while cancelled.
            Path(marker).write_text(repr(time.monotonic()))  # noqa: ASYNC240


async def paced(controller: Any, tokens: int) -> None:
    sleep = native_sleep()
    due = time.monotonic()
    for _ in range(tokens):
        controller.append_text(f"t{time.monotonic():.6f} ")
        # 50 ms after the previous token was due, not after it was sent: a loaded loop that
        # wakes the run late does not lower the load it is offered.
        due += TOKEN_INTERVAL
        await sleep(max(0.0, due - time.monotonic()))


async def dispatch(controller: Any, body: Any, pause: Callable[[], Awaitable[None]]) -> None:
    body = body if isinstance(body, dict) else {}
    scenario = body.get("scenario")
    if scenario == "burst":
        await burst(controller, int(body["calls"]), pause)
    elif scenario == "hang":
        await hang(controller, body.get("marker"))
    elif scenario == "paced":
        await paced(controller, int(body["tokens"]))
    else:
        raise ValueError(f"unknown scenario {scenario!r}")


# -- streambridge: StreamApp(run) ----------------------------------------------------------------


async def streambridge_run(controller: Any) -> None:
    await dispatch(controller, controller.input.raw, controller.drain)


streambridge_app = StreamApp(streambridge_run)


# -- assistant-stream: DataStreamResponse(create_run(run)) on Starlette -------------------------


async def _sleep0() -> None:
    await asyncio.sleep(0)


async def assistant_stream_endpoint(request: Request) -> Response:
    body = await request.json()

    async def run(controller: Any) -> None:
        await dispatch(controller, body, _sleep0)

    return DataStreamResponse(as_create_run(run))


assistant_stream_app = Starlette(routes=[Route(PATH, assistant_stream_endpoint, methods=["POST"])])


# -- no library: what uvicorn itself keeps per open streaming response ---------------------------


async def lifespan(receive: Any, send: Any) -> None:
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})


async def bare_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b'0:"x"\n', "more_body": True})
    while (await receive())["type"] != "http.disconnect":
        pass


# -- no library: what serving a paced token costs at least ---------------------------------------

# What StreamApp sends with a data-stream response: the protocol's content type and header, and
# the stream policy every streambridge response carries (written out: no streambridge here).
DATA_STREAM_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"x-vercel-ai-data-stream", b"v1"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),
]
encode_text = json.encoder.encode_basestring  # what data-stream encodes a text with


async def bare_paced_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    await send_paced(send, await paced_tokens(receive))


async def bare_listening_app(scope: Any, receive: Any, send: Any) -> None:
    """``bare_paced_app`` with the least a disconnect's cancellation costs: a second task that
    waits for the client's ``http.disconnect`` and cancels the run (asyncio only).  Against the
    bare app, it tells how much of the gap the guarantee itself takes."""
    if scope["type"] != "http":
        await bare_paced_app(scope, receive, send)
        return
    tokens = await paced_tokens(receive)
    running = asyncio.current_task()
    assert running is not None

    async def listen() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        running.cancel()

    listening = asyncio.create_task(listen())
    try:
        await send_paced(send, tokens)
    finally:
        listening.cancel()


async def paced_tokens(receive: Any) -> int:
    """The number of tokens a paced scenario's request asks for, its body read whole."""
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = json.loads(b"".join(parts))
    if body.get("scenario") != "paced":
        raise ValueError(f"the bare apps serve only the paced scenario, not {body!r}")
    return int(body["tokens"])


async def send_paced(send: Any, tokens: int) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": DATA_STREAM_HEADERS})
    # paced(), line for line, with the frame sent where paced() calls append_text.
    sleep = native_sleep()
    due = time.monotonic()
    for _ in range(tokens):
        frame = "0:" + encode_text(f"t{time.monotonic():.6f} ") + "\n"
        await send({"type": "http.response.body", "body": frame.encode(), "more_body": True})
        due += TOKEN_INTERVAL
        await sleep(max(0.0, due - time.monotonic()))
    await send({"type": "http.response.body", "body": b"", "more_body": False})
