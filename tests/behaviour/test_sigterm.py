"""A plain SIGTERM, with no shutdown hook wired, on every host's real server (issue 12).

Each host gets a server of its own here (the session's are shared, and this test stops them):
they all boot side by side when the module starts.  A client holds a stream open on a run that
waits forever; the server's process gets SIGTERM (gunicorn: its master, which passes it to its
worker), and then:

- the client gets the protocol's clean end: the shutdown's error event and the finish, in a
  complete body (a cut one would make httpx raise);
- the run's ``finally`` blocks have run (its marker is written, and says it was cancelled);
- the server's process exits, soon.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import anyio
import httpx
import pytest
from httpx_ws import aconnect_ws

import streambridge as sb
from streambridge.client import accumulate, decode
from streambridge.messages import MessageAccumulator
from streambridge.transport import SHUTDOWN_MESSAGE, chunk_event
from support.behaviour.client import read_marker
from support.behaviour.figures import record
from support.behaviour.hosts import (
    GUNICORN_GTHREAD,
    HOSTS,
    HYPERCORN_ASYNCIO,
    Host,
    LiveHost,
    Server,
    ServerPool,
)
from support.behaviour.protocol_table import request_body

PROTOCOL = "data-stream"  # the shutdown's path is the same for every protocol

CLEAN_END_WITHIN = 2.0
"""From SIGTERM to the stream's clean end.  Most hosts take milliseconds; a server whose main
thread sleeps in ``select`` until its next timeout (werkzeug: 0.5 s, gunicorn: 1 s) runs the
signal's handler only then."""

EXIT_WITHIN = 5.0
"""From SIGTERM to the server's process gone (gunicorn: its master, after its worker)."""


def _gunicorn_preload(app: str, port: int) -> list[str]:
    # With the documented hook: the import in the master cannot install the relay for the
    # worker, which installs its own handlers after the fork.
    return [*GUNICORN_GTHREAD.argv(app, port), "--preload",
            "--config", "python:support.behaviour.gunicorn_watch"]  # fmt: skip


def _hypercorn_workers(app: str, port: int) -> list[str]:
    # hypercorn's default: a parent process and a worker process; the graceful timeout shortened
    # from 3 s, to keep the test quick.
    return [*HYPERCORN_ASYNCIO.argv(app, port)[:-4], "--workers", "1",
            "--graceful-timeout", "1", "--log-level", "warning"]  # fmt: skip


WSGI_APP = "support.behaviour.wsgi_apps:wsgi_app"
STREAM_APP = "support.behaviour.app:stream_app"
CLEAN_HOSTS = [
    *HOSTS,
    Host("wsgi-app-gunicorn-preload-hook", WSGI_APP, Server("gunicorn-preload", _gunicorn_preload)),
]
HYPERCORN_WORKERS = Host(
    "stream-app-hypercorn-workers-1", STREAM_APP, Server("hypercorn-workers", _hypercorn_workers)
)
"""Where the app cannot end its streams: the signal goes to hypercorn's parent process, which
tells its workers through a multiprocessing event the app cannot see, and they cut their open
connections after ``--graceful-timeout``.  The run's ``finally`` still runs."""


WS_HOSTS = [replace(host, name=f"{host.name}-ws") for host in HOSTS if host.websocket]
"""The WebSocket hosts again, each on a server of its own."""


@pytest.fixture(scope="module")
def own_servers() -> Iterator[ServerPool]:
    pool = ServerPool()
    pool.start([*CLEAN_HOSTS, HYPERCORN_WORKERS, *WS_HOSTS])
    yield pool
    problems = pool.close()
    assert not problems, "server-side errors:\n" + "\n".join(problems)


@pytest.fixture(params=CLEAN_HOSTS, ids=[host.name for host in CLEAN_HOSTS])
def own_host(request: pytest.FixtureRequest, own_servers: ServerPool) -> LiveHost:
    host: Host = request.param
    return own_servers.get(host)


def test_sigterm_ends_open_streams_cleanly_and_runs_finally(
    own_host: LiveHost, tmp_path: Path
) -> None:
    marker = tmp_path / "run.json"
    body = request_body(PROTOCOL, scenario="hang", marker=str(marker))
    received = b""
    with (
        httpx.Client(timeout=10) as client,
        client.stream("POST", own_host.url, json=body) as response,
    ):
        assert response.status_code == 200
        chunks = response.iter_bytes()
        while b"waiting" not in received:
            received += next(chunks)
        own_host.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        try:
            for chunk in chunks:  # heartbeats keep coming while the stream stays open
                received += chunk
                if time.monotonic() - signalled > CLEAN_END_WITHIN:
                    own_host.process.kill()
                    raise AssertionError(
                        f"the stream was still open {CLEAN_END_WITHIN} s after SIGTERM"
                    )
        except httpx.TransportError as exc:  # the connection closed before the response's end
            raise AssertionError(f"the stream was cut ({exc!r}): {received[-300:]!r}") from None
        ended = time.monotonic()
    try:
        own_host.process.wait(timeout=EXIT_WITHIN)
    except subprocess.TimeoutExpired:
        own_host.process.kill()
        raise AssertionError(
            f"{own_host.host.name} still runs {EXIT_WITHIN} s after SIGTERM:\n{own_host.log()}"
        ) from None
    exited = time.monotonic()

    message = accumulate(decode(received, PROTOCOL))
    assert message.text == "waiting"
    assert message.errors == [SHUTDOWN_MESSAGE], received
    assert message.finish_reason == "error"
    found = read_marker(marker)
    assert found is not None, f"the run's finally did not run:\n{own_host.log()}"
    assert found["outcome"] == "cancelled"
    assert found["ended"] - signalled < CLEAN_END_WITHIN
    assert ended - signalled < CLEAN_END_WITHIN
    record(f"sigterm-to-clean-end {own_host.host.name}", ended - signalled)
    record(f"sigterm-to-exit {own_host.host.name}", exited - signalled)


def test_sigterm_to_hypercorns_parent_still_runs_the_runs_finally(
    own_servers: ServerPool, tmp_path: Path
) -> None:
    live = own_servers.get(HYPERCORN_WORKERS)
    marker = tmp_path / "run.json"
    body = request_body(PROTOCOL, scenario="hang", marker=str(marker))
    received = b""
    with (
        httpx.Client(timeout=10) as client,
        client.stream("POST", live.url, json=body) as response,
    ):
        chunks = response.iter_bytes()
        while b"waiting" not in received:
            received += next(chunks)
        live.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        with pytest.raises(httpx.RemoteProtocolError):  # cut: see HYPERCORN_WORKERS
            received += b"".join(chunks)
    live.process.wait(timeout=EXIT_WITHIN)
    found = read_marker(marker)
    assert found is not None, f"the run's finally did not run:\n{live.log()}"
    assert found["outcome"] == "cancelled"
    record(f"sigterm-to-finally {live.host.name}", found["ended"] - signalled)
    record(f"sigterm-to-exit {live.host.name}", time.monotonic() - signalled)


@pytest.fixture(params=WS_HOSTS, ids=[host.name for host in WS_HOSTS])
def own_ws_host(request: pytest.FixtureRequest, own_servers: ServerPool) -> LiveHost:
    host: Host = request.param
    return own_servers.get(host)


@pytest.mark.parametrize("anyio_backend", ["asyncio"], indirect=True)  # the server is one
async def test_sigterm_ends_websocket_runs_with_their_end_frame(
    own_ws_host: LiveHost, tmp_path: Path, anyio_backend: str
) -> None:
    marker = tmp_path / "run.json"
    frames: list[dict[str, object]] = []
    with anyio.fail_after(10):
        async with (
            httpx.AsyncClient() as client,
            aconnect_ws(own_ws_host.ws_url, client, keepalive_ping_interval_seconds=None) as ws,
        ):
            body = request_body(PROTOCOL, scenario="hang", marker=str(marker))
            await ws.send_json({"type": "send", "requestId": "r1", **body})
            while not frames or frames[-1]["type"] != "chunk":
                frames.append(await ws.receive_json())
            own_ws_host.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            while frames[-1]["type"] not in ("end", "error"):
                frames.append(await ws.receive_json())
            ended = time.monotonic()
    assert frames[-1]["type"] == "end"
    wire = sb.get_protocol(PROTOCOL)
    decoder, accumulator = wire.new_decoder(), MessageAccumulator()
    for frame in frames:
        if frame["type"] == "chunk":
            event = chunk_event(frame, wire.framing)
            for item in decoder.decode(event.name, event.data):
                accumulator.add(item)
    assert accumulator.message.errors == [SHUTDOWN_MESSAGE]
    found = read_marker(marker)
    assert found is not None
    assert found["outcome"] == "cancelled"
    assert ended - signalled < CLEAN_END_WITHIN
    own_ws_host.process.wait(timeout=EXIT_WITHIN)
    record(f"sigterm-to-clean-end {own_ws_host.host.name}", ended - signalled)
