"""A run on Django reads the user and uses the async ORM, any number of times, on a real
database (SQLite), under ASGI (uvicorn) and WSGI (gunicorn and runserver), runs side by side."""

from __future__ import annotations

import anyio
import httpx
import pytest

from streambridge.client import accumulate, decode
from support.behaviour.hosts import HOSTS, WRITE_PATH_HOSTS, LiveHost, ServerPool

DJANGO_HOSTS = [host for host in HOSTS + WRITE_PATH_HOSTS if host.name.startswith("django-")]


@pytest.fixture(params=DJANGO_HOSTS, ids=[host.name for host in DJANGO_HOSTS])
def django_host(request: pytest.FixtureRequest, servers: ServerPool) -> LiveHost:
    return servers.get(request.param)


@pytest.mark.anyio
async def test_a_run_reads_the_user_and_queries_the_orm_again_and_again(
    django_host: LiveHost,
) -> None:
    url = f"http://127.0.0.1:{django_host.port}/api/orm"
    texts: list[str] = []

    async def one(client: httpx.AsyncClient) -> None:
        response = await client.post(url, json={"messages": []})
        assert response.status_code == 200, response.text
        texts.append(accumulate(decode(response.content, "data-stream")).text)

    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(2):  # one after the other: the second run's calls as well
            await one(client)
        async with anyio.create_task_group() as runs:  # and side by side
            for _ in range(4):
                runs.start_soon(one, client)
    assert texts == ["AnonymousUser 1 True"] * 6, (texts, django_host.log()[-3000:])
