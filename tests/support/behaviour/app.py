"""What every behaviour-suite host serves: the same runs, mounted the host's way.

A server imports one attribute of this module (see ``hosts.py``).  The request body picks the
run: ``"scenario"`` names one of ``RUNS`` and ``"marker"`` a file where the run's ``finally``
records when it started and ended (``time.monotonic()``, one clock for every process on the
machine), how it ended, and what ``controller.request`` was.  Every host also has the
``on_finish`` hook, which adds a line per call to the marker's ``.finish`` file: the final
message's finish reason and text.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

import streambridge as sb
from streambridge.asgi import Receive, Scope, Send, StreamApp, StreamMiddleware
from streambridge_starlette import stream_view, websocket_view

from ..scenarios import SCENARIOS
from .resources import REPORT_PATH, asgi_report, async_report, with_asgi_report

PATH = "/api/chat"
_MARKERS: dict[str, str] = {}  # run id -> its marker file, for on_finish (in this process)


def report_finish(message: sb.Message) -> None:
    """The on_finish hook: one line per call, so a second call would show."""
    marker = _MARKERS.get(message.id or "")
    if marker is not None:
        line = json.dumps({"finish_reason": message.finish_reason, "text": message.text})
        with open(marker + ".finish", "a", encoding="utf-8") as file:
            file.write(line + "\n")


OPTIONS: dict[str, Any] = {
    "heartbeat": 0.1,
    "max_body_bytes": 65_536,
    "send_timeout": 5.0,
    "on_finish": report_finish,
}
"""A short heartbeat, so the idle test is quick, and a small body limit, so the oversize one is."""

BODY_TIMEOUT = 1.0
BODY_TIMEOUT_PATH = "/api/chat-body-timeout"
BODY_TIMEOUT_OPTIONS: dict[str, Any] = {**OPTIONS, "body_timeout": BODY_TIMEOUT}
"""The WSGI hosts of test_body_timeout.py: a short body timeout, so a trickled body is a quick
408 (on its own path where the app shares a router with the other hosts)."""

PACED_PIECES = 3
PACED_INTERVAL = 0.1
IDLE_SECONDS = 0.35


async def paced(controller: sb.RunController) -> None:
    """Text that trickles out: a streaming host delivers each piece as it is made."""
    for index in range(PACED_PIECES):
        controller.append_text(f"piece {index} ")
        await anyio.sleep(PACED_INTERVAL)


async def hang(controller: sb.RunController) -> None:
    """One piece, then waits forever without looking at cancellation: only a cancel stops it."""
    controller.append_text("waiting")
    await anyio.sleep_forever()


async def idle(controller: sb.RunController) -> None:
    """Silent for several heartbeats, then one piece."""
    await anyio.sleep(IDLE_SECONDS)
    controller.append_text("awake")


FLOOD_PIECES = 51_200
"""200 MB in 4 KB texts: what a run offers a client that stopped reading (test_slow_reader.py)."""


def flood_piece(index: int) -> str:
    """4 KB of text, a new string each time, as a model's are (one shared string would cost the
    buffer nothing, and the test would not see what it holds)."""
    return f"{index:08d}" * 512


async def flood(controller: sb.RunController) -> None:
    """200 MB, awaiting drain() after each piece, as a run that minds its client does."""
    for index in range(FLOOD_PIECES):
        controller.append_text(flood_piece(index))
        await controller.drain()


async def flood_undrained(controller: sb.RunController) -> None:
    """200 MB with no drain(): only yielding to the event loop between pieces."""
    for index in range(FLOOD_PIECES):
        controller.append_text(flood_piece(index))
        await anyio.lowlevel.checkpoint()


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def emits(value: Any, how: str = "data") -> sb.RunFunction:
    """A run that says "before", then emits what a protocol may not be able to write."""

    async def run(controller: sb.RunController) -> None:
        controller.append_text("before")
        await anyio.lowlevel.checkpoint()  # "before" goes out on its own
        if how == "text":
            controller.append_text(value)
        else:
            controller.add_data(value)
        controller.append_text("after")  # (not sent where the value could not be written)

    return run


HOSTILE_RUNS = {
    "deep_data": emits(_nested(5_000)),
    "nan_data": emits(float("nan")),
    "huge_integer": emits(10**5_000),
    "lone_surrogate": emits("a\ud800b", "text"),
    "none_text": emits(None, "text"),
}
"""What test_hostile_input.py has runs emit (see test_encoding_failures.py for the contract)."""


RUNS = {
    **{name: scenario.run for name, scenario in SCENARIOS.items()},
    "paced": paced,
    "hang": hang,
    "idle": idle,
    "flood": flood,
    "flood_undrained": flood_undrained,
    **HOSTILE_RUNS,
}


async def run(controller: sb.RunController) -> None:
    raw = controller.input.raw if isinstance(controller.input.raw, dict) else {}
    await run_scenario(controller, raw.get("scenario", "plain_text"), raw.get("marker"))


async def run_scenario(controller: sb.RunController, scenario: str, marker: object) -> None:
    """Run ``RUNS[scenario]``; its ``finally`` writes the record to the file ``marker`` names."""
    if isinstance(marker, str) and controller.input.run_id is not None:
        _MARKERS[controller.input.run_id] = marker
    record: dict[str, Any] = {
        "started": time.monotonic(),
        "request": type(controller.request).__name__,
        "outcome": "raised",
    }
    try:
        await RUNS[scenario](controller)
        record["outcome"] = "returned"
    except anyio.get_cancelled_exc_class():
        record["outcome"] = "cancelled"
        raise
    finally:
        record["ended"] = time.monotonic()
        if isinstance(marker, str):
            write_marker(Path(marker), record)


def write_marker(path: Path, record: dict[str, Any]) -> None:
    """Written whole, then renamed: the test never reads half a record."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(record))
    partial.replace(path)


# -- the hosts -----------------------------------------------------------------------------------

# Every host also answers GET /_resources (resources.py), for the leak check.
stream_app = with_asgi_report(StreamApp(run, **OPTIONS))


async def fallback(scope: Scope, receive: Receive, send: Send) -> None:
    """The app StreamMiddleware wraps: a lifespan and a 404 for every other path."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "http" and scope["path"] == REPORT_PATH:
        await asgi_report(scope, receive, send)
    elif scope["type"] == "http":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"fallback"})


middleware_app = StreamMiddleware(fallback, routes={PATH: run}, **OPTIONS)


async def starlette_report(request: Request) -> JSONResponse:
    return JSONResponse(await async_report())


starlette_app = Starlette(
    routes=[
        Route(PATH, stream_view(run, **OPTIONS)),
        WebSocketRoute(PATH, websocket_view(run, **OPTIONS)),
        Route(REPORT_PATH, starlette_report),
    ]
)
