from __future__ import annotations

import contextlib
import os
import statistics
from collections.abc import Iterator

import pytest

from support.behaviour.figures import FIGURES
from support.behaviour.hosts import HOSTS, Host, LiveHost, ServerPool
from support.redis_server import redis_url


@pytest.fixture(scope="session")
def servers(request: pytest.FixtureRequest) -> Iterator[ServerPool]:
    pool = ServerPool()
    # Boot every server the selected tests use at once: they start side by side.
    wanted = {
        params[name].name: params[name]
        for item in request.session.items
        if (params := getattr(getattr(item, "callspec", None), "params", None))
        for name in ("host", "ws_host", "stored_host", "body_host", "pooled_host")
        if name in params
    }
    if any(is_redis_host(host) for host in wanted.values()):
        # Hosts with a RedisStore use this session's Redis (a private one if need be); without
        # one, only their tests skip (redis_host_or_skip).
        with contextlib.suppress(pytest.skip.Exception):
            os.environ["REDIS_URL"] = redis_url()
    pool.start(list(wanted.values()))
    yield pool
    problems = pool.close()
    assert not problems, "server-side errors:\n" + "\n".join(problems)


def is_redis_host(host: Host) -> bool:
    return "redis_app" in host.app


def live_host(servers: ServerPool, host: Host) -> LiveHost:
    """The host's server; a host with a RedisStore skips without a Redis (fails under CI)."""
    if is_redis_host(host):
        redis_url()
    return servers.get(host)


@pytest.fixture(params=HOSTS, ids=[host.name for host in HOSTS])
def host(request: pytest.FixtureRequest, servers: ServerPool) -> LiveHost:
    return servers.get(request.param)


WS_HOSTS = [host for host in HOSTS if host.websocket]


@pytest.fixture(params=WS_HOSTS, ids=[host.name for host in WS_HOSTS])
def ws_host(request: pytest.FixtureRequest, servers: ServerPool) -> LiveHost:
    return servers.get(request.param)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("behaviour suite timings (ms)")
    for name, values in sorted(FIGURES.items()):
        ms = sorted(v * 1000 for v in values)
        terminalreporter.write_line(
            f"{name}: n={len(ms)} min={ms[0]:.1f} median={statistics.median(ms):.1f} "
            f"max={ms[-1]:.1f}"
        )
