"""WSGI servers that do not expose their sockets (Django's runserver; gunicorn with the socket
hidden, standing for uWSGI, mod_wsgi, waitress): the stream still comes incrementally, and a
client that left is seen at a failed write, which keepalives every half heartbeat bring within
one heartbeat (TCP takes the first write after the client left; the second fails)."""

from __future__ import annotations

from pathlib import Path

import pytest

import streambridge as sb
from support.behaviour import app
from support.behaviour.hosts import WRITE_PATH_HOSTS, LiveHost, ServerPool
from support.behaviour.protocol_table import request_body

from . import test_http as http

DEFAULT = http.DEFAULT


@pytest.fixture(params=WRITE_PATH_HOSTS, ids=[host.name for host in WRITE_PATH_HOSTS])
def write_host(request: pytest.FixtureRequest, servers: ServerPool) -> LiveHost:
    return servers.get(request.param)


@pytest.mark.anyio
async def test_bytes_arrive_as_the_run_makes_them(write_host: LiveHost) -> None:
    await http.test_bytes_arrive_as_the_run_makes_them(write_host)


@pytest.mark.anyio
async def test_idle_stream_carries_heartbeats_every_half_interval(write_host: LiveHost) -> None:
    response, arrivals, start = await http.timed_post(
        write_host.url, request_body(DEFAULT, scenario="idle")
    )
    assert response.status_code == 200
    keepalive = sb.get_protocol(DEFAULT).keepalive
    beats: list[float] = []
    for at, chunk in arrivals:
        if chunk.replace(keepalive, b""):
            break
        beats += [at] * chunk.count(keepalive)
    half = app.OPTIONS["heartbeat"] / 2
    assert len(beats) >= int(app.IDLE_SECONDS / half) - 1
    assert beats[0] - start >= half * 0.8  # sent when idle, not at once


@pytest.mark.anyio
async def test_disconnect_cancels_the_run_within_a_heartbeat(
    write_host: LiveHost, tmp_path: Path
) -> None:
    await http.test_disconnect_cancels_the_run_within_100ms(write_host, tmp_path)


def test_stream_has_the_protocol_and_policy_headers(write_host: LiveHost) -> None:
    http.test_stream_has_the_protocol_and_policy_headers(write_host)
