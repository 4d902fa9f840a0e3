"""streambridge.client on real servers: resuming after real drops, attaching by id, refusals,
and ``streambridge tail`` following a run.

The drops are real: the client talks to the server through a TCP proxy (``CuttingProxy``) that
resets or closes connections, or ends their HTTP body early, after a chosen number of bytes.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from streambridge.client import (
    ResumeError,
    Retry,
    RunNotFoundError,
    accumulate,
    attach,
    attach_sync,
    decode,
    get_run,
    get_run_sync,
    stream_chunks,
)
from streambridge.protocols import Decoded
from support.behaviour.hosts import UVICORN, Host, LiveHost, ServerPool
from support.client_app import expected_text
from support.cutting_proxy import Cut, CuttingProxy

STORED = Host("client-stored-uvicorn", "support.client_app:stored_app", UVICORN)
PLAIN = Host("client-plain-uvicorn", "support.client_app:plain_app", UVICORN)
PATH = "/api/chat"
BODY = {"messages": [{"role": "user", "content": "Weather in Oslo?"}]}
FAST = Retry(attempts=10, backoff=0.01)
PROTOCOLS = ["data-stream", "ui-message-stream", "openai-responses", "ag-ui"]


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, LiveHost]]:
    pool = ServerPool()
    pool.start([STORED, PLAIN])
    yield {"stored": pool.get(STORED), "plain": pool.get(PLAIN)}
    problems = pool.close()
    assert not problems, "server-side errors:\n" + "\n".join(problems)


@pytest.fixture
def stored(servers: dict[str, LiveHost]) -> LiveHost:
    return servers["stored"]


def body(protocol: str) -> dict[str, object]:
    if protocol == "ag-ui":  # AG-UI's client names the thread and the run
        return {
            "threadId": "t",
            "runId": f"run-{random.randrange(1 << 60)}",
            "messages": [{"id": "m1", "role": "user", "content": "Weather in Oslo?"}],
            "tools": [],
            "context": [],
            "forwardedProps": {},
        }
    if protocol == "ui-message-stream":
        return {
            "id": "chat",
            "messages": [
                {"id": "m1", "role": "user", "parts": [{"type": "text", "text": "Weather?"}]}
            ],
            "trigger": "submit-message",
        }
    return BODY


EVENT_BYTES = {
    "data-stream": 34,
    "ui-message-stream": 74,
    "openai-responses": 315,
    "ag-ui": 108,
    "openai-chat": 235,
}
"""The mean size of an event of the test run, in each protocol used (measured)."""


def cuts(seed: int, count: int, protocol: str) -> list[Cut]:
    """``count`` cuts at random body offsets, of every kind; some right after the headers.

    The offsets are up to three events of ``protocol``, so the stream is still going at the
    last cut and most reconnections bring something new."""
    rng = random.Random(seed)
    most = 3 * EVENT_BYTES[protocol]
    return [
        Cut(rng.choice([0, rng.randrange(1, most)]), rng.choice(["reset", "close", "end"]))
        for _ in range(count)
    ]


def start_run(host: LiveHost, protocol: str) -> str:
    """POST a run, leave at once (the host keeps it going), and return its id."""
    url = f"{host.url}?protocol={protocol}"
    with httpx.stream("POST", url, json=body(protocol), timeout=10) as response:
        assert response.status_code == 200
        return response.headers["x-resumable-stream-id"]


async def uncut(host: LiveHost, run_id: str, protocol: str) -> list[Decoded]:
    """The whole run read straight from the server, on one connection, once it has ended."""
    with anyio.fail_after(10):
        while (await get_run(host.url, run_id)).status == "running":  # noqa: ASYNC110 (polled)
            await anyio.sleep(0.02)
    items = [item async for item in attach(host.url, run_id, protocol=protocol, retry=None)]
    message = accumulate(items)
    assert message.text == expected_text()  # the reference itself is whole
    assert [call.tool_name for call in message.tool_calls] == ["get_weather"]
    return items


async def collect(items: AsyncIterator[Decoded], into: list[Decoded]) -> None:
    async for item in items:
        into.append(item)


# -- resuming ------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_posted_stream_resumes_through_many_cuts_to_the_uncut_items(
    stored: LiveHost, protocol: str
) -> None:
    plan = cuts(seed=PROTOCOLS.index(protocol), count=12, protocol=protocol)
    with CuttingProxy(stored.port, plan) as proxy:
        got = [
            item
            async for item in stream_chunks(
                f"{proxy.origin}{PATH}?protocol={protocol}",
                protocol=protocol,
                json=body(protocol),
                retry=FAST,
            )
        ]
    assert proxy.cuts == len(plan)  # every planned drop happened
    run_id = proxy.run_ids[0]
    # The same run read on one connection: the same items, each once, in order.
    assert got == await uncut(stored, run_id, protocol)


@pytest.mark.anyio
async def test_attach_resumes_through_cuts_mid_run_in_another_protocol(stored: LiveHost) -> None:
    run_id = start_run(stored, "data-stream")
    plan = cuts(seed=99, count=8, protocol="ui-message-stream")
    with CuttingProxy(stored.port, plan) as proxy:
        got = [
            item
            async for item in attach(
                proxy.origin + PATH, run_id, protocol="ui-message-stream", retry=FAST
            )
        ]
    assert proxy.cuts == len(plan)
    assert got == await uncut(stored, run_id, "ui-message-stream")


def test_attach_sync_resumes_through_cuts(stored: LiveHost) -> None:
    run_id = start_run(stored, "openai-chat")
    plan = cuts(seed=7, count=8, protocol="openai-chat")
    with CuttingProxy(stored.port, plan) as proxy:
        got = list(attach_sync(proxy.origin + PATH, run_id, protocol="openai-chat", retry=FAST))
    assert proxy.cuts == len(plan)
    assert got == anyio.run(uncut, stored, run_id, "openai-chat")
    assert get_run_sync(stored.url, run_id).status == "done"


@pytest.mark.anyio
async def test_a_stream_that_stops_before_its_end_is_resumed(stored: LiveHost) -> None:
    """A well-formed HTTP response whose body ends early, at an event boundary: no transport
    error, only the protocol's missing end says the stream was cut."""
    plan = [Cut(200, "end")] * 3
    with CuttingProxy(stored.port, plan) as proxy:
        message = accumulate(
            [
                item
                async for item in stream_chunks(
                    proxy.origin + PATH, protocol="data-stream", json=BODY, retry=FAST
                )
            ]
        )
    assert proxy.cuts == 3
    assert proxy.connections == 4
    assert message.text == expected_text()
    assert message.finish_reason == "stop"


KEEPALIVE_CHUNKS = {"data-stream": b"\r\n\n\r\n", "ui-message-stream": b": keepalive\n\n"}


@pytest.mark.anyio
@pytest.mark.parametrize("protocol", list(KEEPALIVE_CHUNKS))
async def test_keepalives_are_not_counted_as_events(stored: LiveHost, protocol: str) -> None:
    """Cuts while the run is live, keepalives between its events: a reader that counted them
    would resume past events it never had."""
    run_id = start_run(stored, protocol)
    plan = [Cut(5 * EVENT_BYTES[protocol], "close")] * 5
    with CuttingProxy(stored.port, plan) as proxy:
        got = [item async for item in attach(proxy.origin + PATH, run_id, protocol=protocol)]
    assert proxy.cuts == 5
    assert sum(KEEPALIVE_CHUNKS[protocol] in passed for passed in proxy.cut_bytes) >= 1
    assert got == await uncut(stored, run_id, protocol)


@pytest.mark.anyio
async def test_events_are_counted_as_the_server_counts_them(stored: LiveHost) -> None:
    """Attaching after event N gives the events after N, keepalives not counted."""
    run_id = start_run(stored, "data-stream")
    whole = [item async for item in attach(stored.url, run_id, protocol="data-stream")]
    async with httpx.AsyncClient(timeout=10) as client:
        raw = (await client.get(f"{stored.url}/runs/{run_id}/stream")).content
    lines = [line for line in raw.split(b"\n") if line]  # the server's events
    for after in (0, 5, len(lines) - 2):
        tail = [
            item async for item in attach(stored.url, run_id, protocol="data-stream", after=after)
        ]
        assert tail == decode(b"\n".join(lines[after + 1 :]) + b"\n", "data-stream")
        assert whole[-len(tail) :] == tail


# -- attaching by id -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_second_reader_attaches_mid_run_and_gets_the_whole_run(stored: LiveHost) -> None:
    protocol = "ui-message-stream"
    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream("POST", f"{stored.url}?protocol={protocol}", json=body(protocol)) as first,
    ):
        run_id = first.headers["x-resumable-stream-id"]
        lines = first.aiter_lines()
        head = [await lines.__anext__() for _ in range(6)]
        assert (await get_run(stored.url, run_id)).status == "running"
        second = [item async for item in attach(stored.url, run_id, protocol=protocol)]
        rest = [line async for line in lines]
    first_items = decode("\n".join([*head, *rest]).encode() + b"\n", protocol)
    assert second == first_items
    info = await get_run(stored.url, run_id)
    assert (info.id, info.status, info.protocol) == (run_id, "done", protocol)
    assert accumulate(second).text == expected_text()


# -- refusals ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_an_unknown_run_is_a_run_not_found_error(servers: dict[str, LiveHost]) -> None:
    unknown = "run_" + "0" * 32
    for host, says in [
        (servers["stored"], "unknown or has expired"),
        (servers["plain"], "does not keep runs"),
    ]:
        items = attach(host.url, unknown, protocol="data-stream")
        with pytest.raises(RunNotFoundError, match=says) as caught:
            await anext(items)
        assert (caught.value.run_id, caught.value.last_event) == (unknown, -1)
        with pytest.raises(RunNotFoundError):
            await get_run(host.url, unknown)


@pytest.mark.anyio
async def test_a_cut_stream_from_a_host_that_keeps_no_runs_is_a_clear_error(
    servers: dict[str, LiveHost],
) -> None:
    with CuttingProxy(servers["plain"].port, [Cut(400, "close")]) as proxy:
        got: list[Decoded] = []
        items = stream_chunks(proxy.origin + PATH, protocol="data-stream", json=BODY)
        with pytest.raises(ResumeError, match="x-resumable-stream-id") as caught:
            await collect(items, got)
    assert caught.value.run_id is None
    assert caught.value.last_event >= 0
    assert got  # what came before the cut was delivered
    assert proxy.connections == 1  # never POSTed again: that would start another run


@pytest.mark.anyio
async def test_it_gives_up_after_its_retries_with_backoff(stored: LiveHost) -> None:
    run_id = start_run(stored, "data-stream")
    retry = Retry(attempts=3, backoff=0.05)
    plan = [Cut(0, "close")] * 10  # every connection: headers, then nothing
    started = time.monotonic()
    with CuttingProxy(stored.port, plan) as proxy:
        items = attach(proxy.origin + PATH, run_id, protocol="data-stream", retry=retry)
        with pytest.raises(ResumeError, match="gave up") as caught:
            await anext(items)
    assert proxy.connections == 1 + 3
    assert time.monotonic() - started >= 0.05 + 0.1  # the 2nd and 3rd reconnections waited
    assert isinstance(caught.value.__cause__, httpx.TransportError)
    assert not isinstance(caught.value, RunNotFoundError)


@pytest.mark.anyio
async def test_progress_resets_the_retries(stored: LiveHost) -> None:
    """Fifteen drops, each after some new events: far more than ``attempts``, and still
    resumed.  (The run has ended: each reconnection replays the rest at once, so every cut
    falls after at least one whole event.)"""
    run_id = start_run(stored, "data-stream")
    whole = await uncut(stored, run_id, "data-stream")
    plan = [Cut(100, "reset")] * 15
    with CuttingProxy(stored.port, plan) as proxy:
        got = [
            item
            async for item in attach(
                proxy.origin + PATH, run_id, protocol="data-stream", retry=Retry(attempts=1)
            )
        ]
    assert proxy.cuts == 15
    assert got == whole


def test_retry_backs_off_to_its_ceiling() -> None:
    retry = Retry(attempts=9, backoff=0.5, max_delay=3)
    assert [retry.delay(n) for n in range(1, 7)] == [0, 0.5, 1, 2, 3, 3]


# -- streambridge tail ---------------------------------------------------------------------------


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("streambridge")
    return [str(script)] if script.exists() else [sys.executable, "-m", "streambridge.cli"]


def _tail(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_cli(), "tail", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_tail_follows_a_run_through_drops_and_prints_its_text(stored: LiveHost) -> None:
    run_id = start_run(stored, "data-stream")
    with CuttingProxy(stored.port, [Cut(300, "close"), Cut(900, "reset")]) as proxy:
        done = _tail(proxy.origin + PATH, run_id, "--protocol", "ui-message-stream")
    assert done.returncode == 0, done.stderr
    assert proxy.cuts == 2
    out = done.stdout
    assert expected_text() in out
    assert '[tool] get_weather({"city": "Oslo"})' in out
    assert '[result] get_weather -> {"temp": 7}' in out
    assert out.rstrip().splitlines()[-2:] == [
        "[end] stop, 3 tokens in, 40 out",
        f"[run {run_id}] done",
    ]
    assert done.stderr.count("resuming") == 2  # each drop said so, on stderr


def test_tail_after_an_event_prints_the_rest(stored: LiveHost) -> None:
    run_id = start_run(stored, "data-stream")
    done = _tail(stored.url, run_id, "--after", "20")
    assert done.returncode == 0, done.stderr
    assert expected_text() not in done.stdout
    assert "word39" in done.stdout
    assert expected_text()[-60:] in done.stdout


def test_tail_of_an_unknown_run_says_so_and_fails(stored: LiveHost) -> None:
    done = _tail(stored.url, "run_" + "0" * 32)
    assert done.returncode == 1
    assert "no run 'run_000" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_tail_help_documents_following_a_run() -> None:
    done = subprocess.run([*_cli(), "tail", "--help"], capture_output=True, text=True, check=True)
    for word in ("RUN_ID", "--after N", "--protocol", "resumed", "Exit status"):
        assert word in done.stdout
