"""No host leaks: after many clients that leave mid-stream, the server process is back to the
threads, file descriptors and event-loop tasks it had before (resources.py reports them).

The clients leave in the three ways a browser tab can: after the stream has started, in the
middle of sending the request body, and right after sending the request without reading a byte.
Nothing is allowed for: no count may end above where it began.  (It may end below: the servers are
shared with the rest of the session, and an idle keep-alive connection another test left open is in
the baseline until the server times it out, which hypercorn does after 5 s: three tasks and one
descriptor fewer, seen once in CI.)  The baseline is taken after a warm-up
of the same traffic, once the counts hold still, so what a server creates once and keeps (a thread
pool's workers, Django's sync_to_async thread, streambridge's event-loop thread) is in it, and
every report is asked over a connection the server closes after answering, so no report counts
the one before it.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import anyio
import httpx
import pytest

from support.behaviour.app import PATH
from support.behaviour.hosts import HOSTS, WRITE_PATH_HOSTS, Host, LiveHost, ServerPool
from support.behaviour.protocol_table import request_body
from support.behaviour.resources import REPORT_PATH

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the counts are read from /proc/self"
)

CYCLES = 200
AT_ONCE = 10
WARM_UP_AT_ONCE = 40
"""More clients at once than any server's thread pool has threads (gunicorn's here: 16), so the
pool has grown to its size before the baseline: a pool that grows is not a leak."""
SETTLE_SECONDS = 10.0


EVERY_HOST = HOSTS + WRITE_PATH_HOSTS


@pytest.fixture(params=EVERY_HOST, ids=[host.name for host in EVERY_HOST])
def any_host(request: pytest.FixtureRequest, servers: ServerPool) -> LiveHost:
    spec: Host = request.param
    return servers.get(spec)


def resources(host: LiveHost) -> dict[str, Any]:
    url = f"http://127.0.0.1:{host.port}{REPORT_PATH}"
    response = httpx.get(url, headers={"Connection": "close"}, timeout=10)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    for memory in ("rss", "rss_trimmed", "live_runs"):  # (the slow-reader test's)
        del found[memory]
    return found


async def leave(host: LiveHost, how: int) -> None:
    """One client: POST a run that never ends by itself, then go away (``how``: after the stream
    started, halfway through the body, or without reading anything)."""
    data = json.dumps(request_body("data-stream", scenario="hang")).encode()
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{host.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode()
    with anyio.fail_after(10):
        async with await anyio.connect_tcp("127.0.0.1", host.port) as stream:
            if how == 1:
                await stream.send(head + data[: len(data) // 2])
                await anyio.sleep(0.005)
                return
            await stream.send(head + data)
            if how == 2:
                return
            received = b""
            while b"waiting" not in received:
                received += await stream.receive()


async def traffic(host: LiveHost, cycles: int, at_once: int = AT_ONCE) -> None:
    for start in range(0, cycles, at_once):
        async with anyio.create_task_group() as task_group:
            for index in range(start, min(start + at_once, cycles)):
                task_group.start_soon(leave, host, index % 3)


def steady(host: LiveHost) -> dict[str, Any]:
    """The report once it stays the same three times in a row, 0.2 s apart: what the warm-up's
    clients left behind has drained (on a busy machine that takes a moment)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    reports = [resources(host)]
    while len(reports) < 3 or any(report != reports[-1] for report in reports[-3:]):
        assert time.monotonic() < deadline, f"{host.host.name} never settled: {reports[-3:]}"
        time.sleep(0.2)
        reports.append(resources(host))
    return reports[-1]


def grown(now: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """The counts that are above the baseline's."""
    return {name: count for name, count in now.items() if count > baseline[name]}


def settled(host: LiveHost, baseline: dict[str, Any]) -> dict[str, Any]:
    """The report once no count is above ``baseline``, or the last one after SETTLE_SECONDS."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        now = resources(host)
        if not grown(now, baseline) or time.monotonic() > deadline:
            return now
        time.sleep(0.05)


def test_clients_that_leave_leave_nothing_behind(any_host: LiveHost) -> None:
    host = any_host
    anyio.run(traffic, host, 3 * WARM_UP_AT_ONCE, WARM_UP_AT_ONCE)
    baseline = steady(host)
    started = time.monotonic()
    anyio.run(traffic, host, CYCLES)
    took = time.monotonic() - started
    after = settled(host, baseline)
    print(f"\n{host.host.name}: {CYCLES} clients in {took:.1f} s; before {baseline}, after {after}")
    assert not grown(after, baseline), f"{host.host.name}: before {baseline}, after {after}"
