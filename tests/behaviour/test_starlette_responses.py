"""streambridge_starlette's responses (``return DataStreamResponse(create_run(run))`` in a FastAPI
handler) keep every guarantee of the hosts, on real servers read by a real client: bytes leave
as the run makes them, a client that goes away cancels the run within 100 ms, idle streams carry
keepalives, a run's exception is a generic error event, and each official client accepts what
every protocol's response streams.  (The app: support/behaviour/responses_app.py.)"""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import httpx
import pytest

import streambridge as sb
import test_protocol_openai_chat as openai_chat
from streambridge.client import Message, MessageAccumulator, accumulate, decode, iter_chunks
from streambridge.run import GENERIC_ERROR_MESSAGE
from support.behaviour import app
from support.behaviour.client import post_then_leave, wait_for_marker
from support.behaviour.figures import record
from support.behaviour.hosts import HYPERCORN_TRIO, UVICORN, Host, LiveHost, ServerPool
from support.behaviour.protocol_table import PROTOCOLS
from support.openai_oracle import openai_oracle_client
from support.scenarios import SCENARIOS, expected, produce, summary

APP = "support.behaviour.responses_app:app"
RESPONSE_HOSTS = [
    # controller.request: None for a create_run stream (the run closes over the request)
    Host(f"fastapi-responses-{server.name}", APP, server, websocket=False, request_type="NoneType")
    for server in (UVICORN, HYPERCORN_TRIO)
]
ALIASES = {
    "DataStreamResponse": "data-stream",
    "AssistantTransportResponse": "assistant-transport",
    "OpenAIStreamResponse": "openai-chat",
}
ORACLE_SCENARIOS = ("one_tool_call", "steps_with_usage", "error_mid_stream")


@pytest.fixture(params=RESPONSE_HOSTS, ids=[host.name for host in RESPONSE_HOSTS])
def host(request: pytest.FixtureRequest, servers: ServerPool) -> LiveHost:
    return servers.get(request.param)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("query", "request_type"),
    [
        ("response=DataStreamResponse", "NoneType"),
        ("protocol=ui-message-stream", "NoneType"),
        ("form=function", "Request"),  # a run function sees the request it answers
    ],
)
async def test_disconnect_cancels_the_run_within_100ms(
    host: LiveHost, tmp_path: Path, query: str, request_type: str
) -> None:
    marker = tmp_path / "run.json"
    body = {"scenario": "hang", "marker": str(marker)}
    left = await post_then_leave(host, body, until=b"waiting", query=query)
    run = await wait_for_marker(marker)
    delay = run["ended"] - left
    record("response: disconnect -> run finally", delay)
    assert run["outcome"] == "cancelled"
    assert run["request"] == request_type
    assert delay < host.host.cancel_within


@pytest.mark.anyio
async def test_bytes_arrive_as_the_run_makes_them(host: LiveHost) -> None:
    arrivals: list[tuple[float, bytes]] = []
    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream(
            "POST", host.url, params={"response": "DataStreamResponse"}, json={"scenario": "paced"}
        ) as response,
    ):
        assert response.status_code == 200
        async for chunk in response.aiter_raw():
            arrivals.append((time.monotonic(), chunk))
    seen: dict[int, float] = {}
    data = b""
    for at, chunk in arrivals:
        data += chunk
        for index in range(app.PACED_PIECES):
            if f"piece {index} ".encode() in data:
                seen.setdefault(index, at)
    assert sorted(seen) == list(range(app.PACED_PIECES))
    assert seen[app.PACED_PIECES - 1] - seen[0] >= (app.PACED_PIECES - 1) * app.PACED_INTERVAL / 2


@pytest.mark.anyio
async def test_idle_stream_carries_heartbeats(host: LiveHost) -> None:
    wire = sb.get_protocol("data-stream")
    async with httpx.AsyncClient(timeout=10) as client:
        start = time.monotonic()
        async with client.stream(
            "POST", host.url, params={"response": "DataStreamResponse"}, json={"scenario": "idle"}
        ) as response:
            arrivals = [(time.monotonic(), chunk) async for chunk in response.aiter_raw()]
    beats = [at for at, chunk in arrivals if chunk and not chunk.replace(wire.keepalive, b"")]
    assert len(beats) >= int(app.IDLE_SECONDS / app.OPTIONS["heartbeat"]) - 1
    assert beats[0] - start >= app.OPTIONS["heartbeat"] * 0.8  # sent when idle, not at once
    assert b"awake" in b"".join(chunk for _, chunk in arrivals)


@pytest.mark.parametrize("alias", list(ALIASES))
def test_run_error_is_a_generic_error_event_then_a_clean_end(host: LiveHost, alias: str) -> None:
    scenario = SCENARIOS["error_mid_stream"]
    protocol = ALIASES[alias]
    # A cut chunked body raises here: reading it whole is the check of a clean end.
    response = httpx.post(
        host.url, params={"response": alias}, json={"scenario": scenario.name}, timeout=10
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == sb.get_protocol(protocol).media_type
    assert b"secret" not in response.content
    got = accumulate(decode(response.content, protocol))
    assert got.errors == [GENERIC_ERROR_MESSAGE]
    for _ in range(500):  # the server logged what the client did not see
        if "secret internal detail" in host.log():
            return
        time.sleep(0.01)
    raise AssertionError("the run's exception is not in the server log")


_PROJECT = {"openai-chat": openai_chat.project_round_trip}
"""What streambridge's client reads back where it differs from the table's row (see _oracle)."""


def _oracle(protocol: str, cases: list[tuple[bytes, Message]]) -> None:
    if protocol != "openai-chat":
        PROTOCOLS[protocol].oracle(cases)
        return
    # The table's row asks for usage in its request; a create_run stream has no request to read,
    # so the stream has no usage chunk, as for a request that did not ask.
    for data, want in cases:
        result = openai_chat.sdk_stream(
            openai_oracle_client(data).client,
            include_usage=False,
            tool_names=sorted({call.tool_name for call in want.tool_calls}),
        )
        assert openai_chat.client_summary(result, None) == openai_chat.project(
            summary(want), include_usage=False
        )


@pytest.mark.parametrize(
    "query",
    [{"response": alias} for alias in ALIASES] + [{"protocol": name} for name in PROTOCOLS],
    ids=lambda query: next(iter(query.values())),
)
def test_official_clients_accept_the_responses(host: LiveHost, query: dict[str, str]) -> None:
    protocol = ALIASES.get(query.get("response", ""), query.get("protocol", ""))
    cases: list[tuple[bytes, Message]] = []
    with httpx.Client(timeout=10, params=query) as client:
        for scenario in ORACLE_SCENARIOS:
            want = expected(SCENARIOS[scenario], anyio.run(produce, SCENARIOS[scenario]))
            accumulator = MessageAccumulator()
            with client.stream("POST", host.url, json={"scenario": scenario}) as response:
                assert response.status_code == 200
                assert response.headers["content-type"] == sb.get_protocol(protocol).media_type
                for item in iter_chunks(response, protocol):  # as the bytes arrive
                    accumulator.add(item)
            project = _PROJECT.get(protocol, PROTOCOLS[protocol].project)
            assert project(summary(accumulator.message)) == project(summary(want)), scenario
            cases.append((client.post(host.url, json={"scenario": scenario}).content, want))
    _oracle(protocol, cases)
