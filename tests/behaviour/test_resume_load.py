"""Resume under load on a real server: hundreds of cuts during one run, fifty readers of one
run.  Every reader must end with exactly the uninterrupted stream: every event once, in order."""

from __future__ import annotations

import random

import anyio
import httpx
import pytest

from support.behaviour.hosts import HYPERCORN_TRIO, UVICORN, Host, LiveHost, ServerPool
from support.behaviour.protocol_table import request_body
from support.behaviour.stored_app import LONGER_PIECES

from .conftest import live_host
from .test_resume import Events, attach

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings(r"ignore:Async generator 'http(x|core)\.:ResourceWarning"),
]

HOSTS = [
    Host("stored-app-uvicorn", "support.behaviour.stored_app:stored_app", UVICORN),
    Host("stored-app-hypercorn-trio", "support.behaviour.stored_app:stored_app", HYPERCORN_TRIO),
    Host("stored-redis-app-uvicorn", "support.behaviour.redis_app:redis_app", UVICORN),
]
PROTOCOL = "ui-message-stream"


@pytest.fixture(params=HOSTS, ids=[host.name for host in HOSTS])
def stored_host(request: pytest.FixtureRequest, servers: ServerPool) -> LiveHost:
    return live_host(servers, request.param)


async def start_longer(client: httpx.AsyncClient, host: LiveHost) -> tuple[Events, str]:
    body = request_body(PROTOCOL, scenario="longer", id=f"chat-{random.randrange(1 << 60)}")
    request = client.build_request("POST", f"{host.url}?protocol={PROTOCOL}", json=body)
    response = await client.send(request, stream=True)
    assert response.status_code == 200
    return Events(response, PROTOCOL), response.headers["x-resumable-stream-id"]


async def test_two_hundred_cuts_then_resumes_give_the_uncut_stream(stored_host: LiveHost) -> None:
    rng = random.Random(2026)
    async with httpx.AsyncClient(timeout=10) as client:
        first, run_id = await start_longer(client, stored_host)
        seen = await first.take(2)
        await first.aclose()
        cuts = 0
        while True:
            reader = await attach(
                client, stored_host, run_id, PROTOCOL, headers={"last-event-id": str(len(seen) - 1)}
            )
            got = await reader.take(rng.randint(1, 2))
            await reader.aclose()  # the connection is dropped mid-stream
            if not got:
                break
            seen += got
            cuts += 1
        whole = await (await attach(client, stored_host, run_id, PROTOCOL)).take()
    assert cuts >= 200
    assert seen == whole
    assert sum(b'"type":"text-delta"' in event for event in whole) == LONGER_PIECES


async def test_fifty_readers_of_one_run_each_get_every_event(stored_host: LiveHost) -> None:
    async with httpx.AsyncClient(timeout=20, limits=httpx.Limits(max_connections=60)) as client:
        first, run_id = await start_longer(client, stored_host)
        await first.take(5)
        results: list[list[bytes]] = []

        async def reader() -> None:
            results.append(await (await attach(client, stored_host, run_id, PROTOCOL)).take())

        async with anyio.create_task_group() as group:
            for _ in range(50):
                group.start_soon(reader)
        await first.aclose()
    assert len(results) == 50
    assert all(result == results[0] for result in results)
    assert sum(b'"type":"text-delta"' in event for event in results[0]) == LONGER_PIECES
