"""A run on Django reads the user and uses the async ORM, any number of times, on a real
database (SQLite), under ASGI (uvicorn) and WSGI (gunicorn and runserver), runs side by side."""

from __future__ import annotations

import anyio
import httpx
import pytest

from streambridge.client import accumulate, decode
from support.behaviour.hosts import HOSTS, WRITE_PATH_HOSTS, LiveHost, ServerPool
from support.behaviour.stored_app import ORM_KEPT_PATH

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


@pytest.mark.anyio
@pytest.mark.filterwarnings(r"ignore:Async generator 'http(x|core)\.:ResourceWarning")
async def test_a_kept_run_queries_the_orm_after_its_client_has_gone(
    django_host: LiveHost,
) -> None:
    """With a store, a run goes on when its client hangs up, past the end of its request (and,
    under ASGI, of the request's thread for ``sync_to_async``); its queries still work, and a
    reader that attaches afterwards gets them."""
    url = f"http://127.0.0.1:{django_host.port}{ORM_KEPT_PATH}"
    async with httpx.AsyncClient(timeout=10) as client:
        request = client.build_request("POST", url, json={"messages": []})
        response = await client.send(request, stream=True)
        assert response.status_code == 200, await response.aread()
        run_id = response.headers["x-resumable-stream-id"]
        received = b""
        async for piece in response.aiter_raw():
            received += piece
            if b"started" in received:
                break
        await response.aclose()  # hang up mid-run
        attached = await client.get(f"{url}/runs/{run_id}/stream")
    assert attached.status_code == 200, attached.text
    text = accumulate(decode(attached.content, "data-stream")).text
    assert text == "started queried 1", (text, django_host.log()[-3000:])
