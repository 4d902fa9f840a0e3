"""Runs shared by several server processes through Redis (issue 15): start a run on one
process, read, resume and stop it from another; a producer killed with SIGKILL; Redis stopped
and restarted under running servers; every framework's host on one Redis; two workers behind one
port, as the Redis guide deploys them.

Every other resume test runs on the Redis hosts too (test_resume.py, test_resume_load.py).
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from streambridge.runs.redis import LOST_MESSAGE, UNAVAILABLE_MESSAGE
from support.behaviour.hosts import (
    GUNICORN_GTHREAD_TWO_WORKERS,
    HYPERCORN_TRIO,
    UVICORN,
    UVICORN_TWO_WORKERS,
    Host,
    LiveHost,
    ServerPool,
)
from support.behaviour.protocol_table import request_body
from support.behaviour.redis_app import WORKER_HEADER
from support.behaviour.stored_app import (
    LEASE_VARIABLE,
    LONGER_PIECES,
    PREFIX_VARIABLE,
    STORE_VARIABLE,
)
from support.redis_server import PrivateRedis, redis_url, unique_prefix

from .conftest import live_host
from .test_resume import MOUNTED_VIEWS, Events, attach, start

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings(r"ignore:Async generator 'http(x|core)\.:ResourceWarning"),
]


@pytest.fixture
def anyio_backend() -> str:
    """The test's side is an HTTP client: what runs on asyncio and on trio here is the servers
    (process A on asyncio, B on trio), so one client backend is enough."""
    return "asyncio"


PROCESS_A = Host("stored-redis-app-uvicorn", "support.behaviour.redis_app:redis_app", UVICORN)
PROCESS_B = Host(
    "stored-redis-app-hypercorn-trio", "support.behaviour.redis_app:redis_app", HYPERCORN_TRIO
)
"""Two processes of one app on one Redis, one on asyncio and one on trio."""
PROTOCOL = "ui-message-stream"
LEASE = 1.0  # the Redis hosts' (redis_app.py)


@pytest.fixture
def hosts(servers: ServerPool) -> tuple[LiveHost, LiveHost]:
    return live_host(servers, PROCESS_A), live_host(servers, PROCESS_B)


@pytest.fixture
def own_servers() -> Iterator[ServerPool]:
    """Servers of this test's own, to kill or to share runs: on the session's Redis, under a
    prefix of their own, with every stored host keeping its runs there."""
    pool = ServerPool(
        {"REDIS_URL": redis_url(), PREFIX_VARIABLE: unique_prefix("own"), STORE_VARIABLE: "redis"}
    )
    yield pool
    assert not pool.close()


async def test_a_run_started_on_one_process_is_attached_and_stopped_on_another(
    hosts: tuple[LiveHost, LiveHost], tmp_path: Path
) -> None:
    a, b = hosts
    marker = tmp_path / "marker.json"
    async with httpx.AsyncClient(timeout=10) as client:
        first, run_id = await start(client, a, "data-stream", marker=str(marker))
        head = await first.take(3)
        other = await attach(client, b, run_id, "data-stream")
        assert await other.take(3) == head  # the same events, from the start, elsewhere
        asked = time.monotonic()
        stopped = await client.post(f"{b.url}/runs/{run_id}/cancel")
        assert stopped.status_code == 200
        assert stopped.json()["status"] == "cancelled"  # it waited for the end, on A
        ends = [await first.take(), await other.take()]
        await first.aclose()
        with anyio.fail_after(5):
            while not marker.exists():  # noqa: ASYNC110 (the server process writes it)
                await anyio.sleep(0.005)
        status = (await client.get(f"{a.url}/runs/{run_id}")).json()["status"]
    ended = json.loads(marker.read_text())
    assert ended["outcome"] == "cancelled"
    assert ended["ended"] - asked < 0.15  # the issue: within 150 ms, across processes
    assert all(end[-1].startswith(b"d:") for end in ends)
    assert status == "cancelled"


async def test_two_hundred_cuts_with_resumes_alternating_between_processes(
    hosts: tuple[LiveHost, LiveHost],
) -> None:
    rng = random.Random(15)
    body = request_body(PROTOCOL, scenario="longer", id=f"chat-{rng.randrange(1 << 60)}")
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.send(
            client.build_request("POST", f"{hosts[0].url}?protocol={PROTOCOL}", json=body),
            stream=True,
        )
        first = Events(response, PROTOCOL)
        run_id = response.headers["x-resumable-stream-id"]
        seen = await first.take(2)
        await first.aclose()
        cuts = 0
        while True:
            host = hosts[cuts % 2]
            reader = await attach(
                client, host, run_id, PROTOCOL, headers={"last-event-id": str(len(seen) - 1)}
            )
            got = await reader.take(rng.randint(1, 2))
            await reader.aclose()  # the connection is dropped mid-stream
            if not got:
                break
            seen += got
            cuts += 1
        whole = await (await attach(client, hosts[1], run_id, PROTOCOL)).take()
    assert cuts >= 200
    assert seen == whole  # every event exactly once, in order
    assert sum(b'"type":"text-delta"' in event for event in whole) == LONGER_PIECES


async def test_readers_of_a_killed_process_end_cleanly_within_the_lease(
    own_servers: ServerPool,
) -> None:
    doomed = own_servers.get(Host("redis-app-doomed", PROCESS_A.app, UVICORN))
    reader_host = own_servers.get(Host("redis-app-reader", PROCESS_B.app, HYPERCORN_TRIO))
    async with httpx.AsyncClient(timeout=10) as client:
        first, run_id = await start(client, doomed, PROTOCOL)
        await first.take(2)
        reader = await attach(client, reader_host, run_id, PROTOCOL)
        await reader.take(2)
        os.kill(doomed.process.pid, signal.SIGKILL)
        killed = time.monotonic()
        with anyio.fail_after(LEASE * 4):
            rest = await reader.take()
        took = time.monotonic() - killed
        status = (await client.get(f"{reader_host.url}/runs/{run_id}")).json()["status"]
        await first.aclose()
    assert took < LEASE * 2  # lapsed (1 lease) and seen (a quarter lease) with room to spare
    error, finish, done = (event.split(b"\n", 1)[1] for event in rest[-3:])  # past the id:
    assert error == b'data: {"type":"error","errorText":"' + LOST_MESSAGE.encode() + b'"}'
    assert finish.startswith(b'data: {"type":"finish","finishReason":"error"')
    assert done == b"data: [DONE]"
    assert status == "error"


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis().start()
    yield server
    server.stop()


async def test_redis_stopped_and_restarted_under_running_servers(
    private_redis: PrivateRedis,
) -> None:
    pool = ServerPool(
        {"REDIS_URL": private_redis.url, PREFIX_VARIABLE: "restart", LEASE_VARIABLE: str(LEASE)}
    )
    try:
        a = pool.get(Host("redis-app-restart-a", PROCESS_A.app, UVICORN))
        b = pool.get(Host("redis-app-restart-b", PROCESS_B.app, HYPERCORN_TRIO))
        async with httpx.AsyncClient(timeout=10) as client:
            first, run_id = await start(client, a, "data-stream")
            await first.take(2)
            other = await attach(client, b, run_id, "data-stream")
            await other.take(2)
            private_redis.stop()
            with anyio.fail_after(5):  # nothing hangs: each reader gets an error and the end
                ends = [await first.take(), await other.take()]
            for end in ends:
                assert end[-2] == b'3:"' + UNAVAILABLE_MESSAGE.encode() + b'"'
                assert end[-1].startswith(b"d:")
            body = request_body("data-stream", scenario="plain_text")
            down = await client.post(a.url, json=body)
            assert down.status_code == 503
            assert "unavailable" in down.json()["error"]["message"]
            assert down.headers["retry-after"] == "1"
            private_redis.start()  # the same port: the servers reconnect by themselves
            with anyio.fail_after(5):
                while (again := await client.post(b.url, json=body)).status_code == 503:  # noqa: ASYNC110
                    await anyio.sleep(0.05)
            assert again.status_code == 200
            assert again.text.startswith('0:"')
    finally:
        problems = pool.close()
    assert not problems


async def test_every_kind_of_host_shares_its_runs_through_redis(own_servers: ServerPool) -> None:
    """Each framework's stored view with ``store=RedisStore(...)``, all on one Redis: a run
    started on one host is read from the next and stopped from the one after."""
    own_servers.start(MOUNTED_VIEWS)
    ring = [own_servers.get(host) for host in MOUNTED_VIEWS]
    async with httpx.AsyncClient(timeout=10) as client:
        for index, producer in enumerate(ring):
            reader, stopper = ring[(index + 1) % len(ring)], ring[(index + 2) % len(ring)]
            trio = f"{producer.host.name} -> {reader.host.name} -> {stopper.host.name}"
            first, run_id = await start(client, producer, "data-stream")
            head = await first.take(3)
            other = await attach(client, reader, run_id, "data-stream")
            assert await other.take(3) == head, trio
            stopped = await client.post(f"{stopper.url}/runs/{run_id}/cancel")
            assert stopped.status_code == 200, trio
            ends = [await first.take(), await other.take()]
            await first.aclose()
            await other.aclose()
            assert all(end[-1].startswith(b'd:{"finishReason":"cancelled"') for end in ends), trio


TWO_WORKER_HOSTS = [
    Host("redis-app-uvicorn-2-workers", "support.behaviour.redis_app:redis_app_workers",
         UVICORN_TWO_WORKERS),
    Host("redis-wsgi-app-gunicorn-2-workers",
         "support.behaviour.redis_app:redis_wsgi_app_workers", GUNICORN_GTHREAD_TWO_WORKERS),
]  # fmt: skip


@pytest.mark.parametrize("host", TWO_WORKER_HOSTS, ids=[host.name for host in TWO_WORKER_HOSTS])
async def test_two_workers_behind_one_port_share_their_runs(
    own_servers: ServerPool, host: Host
) -> None:
    """The guide's deployment: whichever worker a request lands on, it reads and stops every
    run.  A connection per request lets the kernel hand each to either worker; the test goes on
    until both an attach and a stop have landed on the worker that does not run the run."""
    live = own_servers.get(host)
    crossed = {"attach": 0, "stop": 0}
    fresh = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=10, limits=fresh) as client:
        for _ in range(40):
            first, run_id = await start(client, live, "data-stream")
            producer = first.response.headers[WORKER_HEADER]
            head = await first.take(3)
            other = await attach(client, live, run_id, "data-stream")
            assert await other.take(3) == head
            stopped = await client.post(f"{live.url}/runs/{run_id}/cancel")
            assert stopped.json()["status"] == "cancelled"
            ends = [await first.take(), await other.take()]
            await first.aclose()
            await other.aclose()
            assert all(end[-1].startswith(b'd:{"finishReason":"cancelled"') for end in ends)
            crossed["attach"] += other.response.headers[WORKER_HEADER] != producer
            crossed["stop"] += stopped.headers[WORKER_HEADER] != producer
            if all(crossed.values()):
                break
    assert all(crossed.values()), f"no request reached the other worker: {crossed}"
