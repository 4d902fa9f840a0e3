"""HTTP behaviour every host shares (DESIGN §5), on real servers with a real client (httpx)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import streambridge as sb
from streambridge.client import accumulate, decode
from streambridge.run import GENERIC_ERROR_MESSAGE
from streambridge.transport import StreamOptions
from support.behaviour import app
from support.behaviour.client import post_then_leave, wait_for_marker
from support.behaviour.figures import record
from support.behaviour.hosts import LiveHost
from support.behaviour.protocol_table import PROTOCOLS, request_body
from support.scenarios import SCENARIOS, expected, produce, summary

DEFAULT = StreamOptions().protocol
WIRE = sb.get_protocol(DEFAULT)

Arrivals = list[tuple[float, bytes]]


async def timed_post(url: str, body: Any) -> tuple[httpx.Response, Arrivals, float]:
    """POST and read the streamed answer, noting when each piece of it arrived."""
    async with httpx.AsyncClient(timeout=10) as client:
        start = time.monotonic()
        async with client.stream("POST", url, json=body) as response:
            arrivals = [(time.monotonic(), chunk) async for chunk in response.aiter_raw()]
    return response, arrivals, start


def assert_stream_headers(headers: httpx.Headers, host: LiveHost) -> None:
    assert headers["content-type"] == WIRE.media_type
    for name, value in WIRE.headers.items():
        assert headers[name] == value
    assert headers["cache-control"] == "no-store"
    assert headers["x-accel-buffering"] == "no"
    if host.host.server.sends_connection:  # the server's own; the app sends none (test_wsgi)
        assert headers.get("connection", "close") in ("close", "keep-alive")
    else:
        assert "connection" not in headers


# -- streaming -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_bytes_arrive_as_the_run_makes_them(host: LiveHost) -> None:
    response, arrivals, start = await timed_post(host.url, request_body(DEFAULT, scenario="paced"))
    assert response.status_code == 200
    seen: dict[int, float] = {}
    data = b""
    for at, chunk in arrivals:
        data += chunk
        for index in range(app.PACED_PIECES):
            if f"piece {index} ".encode() in data:
                seen.setdefault(index, at)
    assert sorted(seen) == list(range(app.PACED_PIECES))
    first, last, end = seen[0], seen[app.PACED_PIECES - 1], arrivals[-1][0]
    record("http: request -> first piece", first - start)
    spread = (app.PACED_PIECES - 1) * app.PACED_INTERVAL
    # Each piece left when it was made: the first well before the run ended, the rest spread
    # out as the run paced them (a buffering host delivers them all at the end).
    assert last - first >= spread * 0.5
    assert end - first >= spread * 0.5


@pytest.mark.anyio
async def test_disconnect_cancels_the_run_within_100ms(host: LiveHost, tmp_path: Path) -> None:
    marker = tmp_path / "run.json"
    body = request_body(DEFAULT, scenario="hang", marker=str(marker))
    left = await post_then_leave(host, body, until=b"waiting")
    run = await wait_for_marker(marker)
    delay = run["ended"] - left
    record("http: disconnect -> run finally", delay)
    assert run["outcome"] == "cancelled"
    assert run["request"] == host.host.request_type
    assert delay < host.host.cancel_within
    # on_finish, once, with what the run had made before the client went.
    assert await wait_for_finish(marker) == [{"finish_reason": "cancelled", "text": "waiting"}]


@pytest.mark.anyio
async def test_on_finish_gets_the_final_message_once(host: LiveHost, tmp_path: Path) -> None:
    # (A failed run's finish reason is checked in process, test_on_finish.py.)
    marker = tmp_path / "run.json"
    body = request_body(DEFAULT, scenario="paced", marker=str(marker))
    response, arrivals, _ = await timed_post(host.url, body)
    assert response.status_code == 200
    text = accumulate(decode(b"".join(chunk for _, chunk in arrivals), DEFAULT)).text
    assert await wait_for_finish(marker) == [{"finish_reason": "stop", "text": text}]


async def wait_for_finish(marker: Path) -> list[dict[str, Any]]:
    """The on_finish hook's lines (see app.py); a moment more, so a second call would show."""
    path = marker.with_name(marker.name + ".finish")
    for _ in range(400):
        if path.exists():
            break
        await anyio.sleep(0.005)
    await anyio.sleep(0.05)
    if not path.exists():
        raise AssertionError("on_finish was not called within 2 s")
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.anyio
async def test_run_error_is_a_protocol_error_then_a_clean_end(host: LiveHost) -> None:
    scenario = SCENARIOS["error_mid_stream"]
    async with httpx.AsyncClient(timeout=10) as client:
        # A cut chunked body raises here: reading it whole is the check of a clean end.
        response = await client.post(host.url, json=request_body(DEFAULT, scenario=scenario.name))
    assert response.status_code == 200
    data = response.content
    assert b"secret" not in data
    want = expected(scenario, await produce(scenario))
    got = accumulate(decode(data, DEFAULT))
    assert got.errors == [GENERIC_ERROR_MESSAGE]
    assert summary(got) == summary(want)
    await anyio.to_thread.run_sync(PROTOCOLS[DEFAULT].oracle, [(data, want)])
    for _ in range(500):  # the server logged what the client did not see
        if "secret internal detail" in host.log():
            break
        await anyio.sleep(0.01)
    else:
        raise AssertionError("the run's exception is not in the server log")


@pytest.mark.anyio
async def test_idle_stream_carries_heartbeats(host: LiveHost) -> None:
    response, arrivals, start = await timed_post(host.url, request_body(DEFAULT, scenario="idle"))
    assert response.status_code == 200
    beats: list[float] = []
    for at, chunk in arrivals:
        if chunk.replace(WIRE.keepalive, b""):
            break
        beats += [at] * chunk.count(WIRE.keepalive)
    heartbeat = app.OPTIONS["heartbeat"]
    assert len(beats) >= int(app.IDLE_SECONDS / heartbeat) - 1
    assert beats[0] - start >= heartbeat * 0.8  # sent when idle, not at once
    assert b"awake" in b"".join(chunk for _, chunk in arrivals)


# -- answers that are not streams ----------------------------------------------------------------


def test_head_answers_the_stream_headers_only(host: LiveHost) -> None:
    response = httpx.head(host.url, timeout=10)
    assert response.status_code == 200
    assert_stream_headers(response.headers, host)
    assert response.content == b""


def test_stream_has_the_protocol_and_policy_headers(host: LiveHost) -> None:
    response = httpx.post(host.url, json=request_body(DEFAULT, scenario="plain_text"), timeout=10)
    assert response.status_code == 200
    assert_stream_headers(response.headers, host)
    assert accumulate(decode(response.content, DEFAULT)).text.startswith("Hello, wörld")


def _oversize_body() -> bytes:
    padding = "x" * (app.OPTIONS["max_body_bytes"] + 1000)
    return json.dumps(request_body(DEFAULT, padding=padding)).encode()


def _chunks(data: bytes) -> Iterator[bytes]:
    for at in range(0, len(data), 8192):
        yield data[at : at + 8192]


BAD_REQUESTS: dict[str, tuple[int, Callable[[str], httpx.Response]]] = {
    "malformed-json": (400, lambda url: httpx.post(url, content=b'{"messages": [')),
    "empty-body": (400, lambda url: httpx.post(url, content=b"")),
    "wrong-shape": (422, lambda url: httpx.post(url, json={"messages": "not a list"})),
    "not-an-object": (422, lambda url: httpx.post(url, json=[1, 2, 3])),
    "oversize-declared": (413, lambda url: httpx.post(url, content=_oversize_body())),
    "oversize-chunked": (413, lambda url: httpx.post(url, content=_chunks(_oversize_body()))),
    "unknown-protocol": (
        400,
        lambda url: httpx.post(url, params={"protocol": "nope"}, json=request_body(DEFAULT)),
    ),
    "get": (405, lambda url: httpx.get(url)),
    "put": (405, lambda url: httpx.put(url, json=request_body(DEFAULT))),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_request_is_a_4xx_json_error(host: LiveHost, case: str) -> None:
    status, send = BAD_REQUESTS[case]
    response = send(host.url)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(response.json()) == {"error"}
    assert isinstance(error["message"], str)
    assert error["message"]
    assert "Traceback" not in response.text
    if status == 405:
        assert response.headers["allow"] == "POST, HEAD"
