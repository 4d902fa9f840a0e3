"""WSGI servers that do not expose their sockets (Django's runserver; gunicorn with the socket
hidden, standing for uWSGI, mod_wsgi, waitress): the stream still comes incrementally with its
heartbeats, and a client that left is seen at a failed write, which the heartbeat brings."""

from __future__ import annotations

from pathlib import Path

import pytest

from . import test_http as http
from .hosts import WRITE_PATH_HOSTS, LiveHost, ServerPool


@pytest.fixture(params=WRITE_PATH_HOSTS, ids=[host.name for host in WRITE_PATH_HOSTS])
def write_host(request: pytest.FixtureRequest, servers: ServerPool) -> LiveHost:
    return servers.get(request.param)


@pytest.mark.anyio
async def test_bytes_arrive_as_the_run_makes_them(write_host: LiveHost) -> None:
    await http.test_bytes_arrive_as_the_run_makes_them(write_host)


@pytest.mark.anyio
async def test_idle_stream_carries_heartbeats(write_host: LiveHost) -> None:
    await http.test_idle_stream_carries_heartbeats(write_host)


@pytest.mark.anyio
async def test_disconnect_cancels_the_run_by_the_second_heartbeat(
    write_host: LiveHost, tmp_path: Path
) -> None:
    await http.test_disconnect_cancels_the_run_within_100ms(write_host, tmp_path)


def test_stream_has_the_protocol_and_policy_headers(write_host: LiveHost) -> None:
    http.test_stream_has_the_protocol_and_policy_headers(write_host)
