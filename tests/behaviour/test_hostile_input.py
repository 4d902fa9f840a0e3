"""Hostile input on every host, in every protocol, over HTTP and WebSocket.

Two kinds of case.  A hostile request (a ``__proto__`` key, a state the client's state store would
refuse, nesting 600 deep, numbers out of range, bytes that are not UTF-8) is answered with a JSON
4xx, or over a WebSocket with an ``error`` frame, before any run starts.  A run that emits what a
protocol cannot write (data nested 5,000 deep, NaN, an integer of 5,000 digits, a lone surrogate,
``append_text(None)``) ends with a complete body and the protocol's end (its generic error first
where the value could not be written), and a WebSocket stays usable.  After each host's cases
the server still serves a plain request; ``test_leaks.py``'s counting shows nothing is left behind.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import httpx
import pytest
from httpx_ws import AsyncWebSocketSession

import streambridge as sb
from streambridge.client import accumulate, decode
from streambridge.protocols import Decoded, StreamEnd, protocol_names
from streambridge.run import GENERIC_ERROR_MESSAGE
from streambridge.transport import chunk_event
from support.behaviour.app import HOSTILE_RUNS
from support.behaviour.hosts import LiveHost
from support.behaviour.protocol_table import request_body

from .test_leaks import settled, steady
from .test_websocket import connect, receive

PROTOCOLS = protocol_names()

# -- hostile requests: a JSON 4xx ----------------------------------------------------------------

HOSTILE_REQUESTS: dict[str, tuple[bytes, int, str]] = {
    # name: (a value spliced into the request body, status, what the message says)
    "proto-key": (b'{"__proto__": {"admin": true}}', 422, "__proto__"),
    "nested-600": (b"[" * 600 + b"]" * 600, 400, "deeper than"),
    "number-1e999": (b'{"n": 1e999}', 400, "out of range"),
    "nan-literal": (b"NaN", 400, "not valid JSON"),
    "integer-5000-digits": (b"9" * 5_000, 400, "not valid JSON"),
    "invalid-utf8": (b'"\xff\xfe"', 400, "not valid JSON"),
}


def spliced(protocol: str, key: str, value: bytes) -> bytes:
    """The protocol's minimal request with ``"key": value`` added, ``value`` raw bytes."""
    body = json.dumps(request_body(protocol)).encode()
    return body[:-1] + b', "' + key.encode() + b'": ' + value + b"}"


def keeps_state(protocol: str) -> bool:
    """Whether the protocol's requests carry a state for the run (the others drop it)."""
    return sb.get_protocol(protocol).parse_request(request_body(protocol, state={})).state == {}


def assert_json_error(response: httpx.Response, status: int, says: str, case: str) -> None:
    assert response.status_code == status, (case, response.text)
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"error"}, response.text
    assert says in response.json()["error"]["message"], response.text


# -- hostile output: the protocol's end ----------------------------------------------------------

UNWRITABLE = {"deep_data", "nan_data", "huge_integer", "none_text"}
"""Runs whose value no protocol can write: the stream ends with the generic error (``None`` text
is refused at the call, which fails the run the same way).  A lone surrogate is written where
the protocol escapes it, else ends the stream the same way."""


def assert_clean_end(items: list[Decoded], scenario: str) -> None:
    assert any(isinstance(item, StreamEnd) for item in items), (scenario, items[-3:])
    message = accumulate(items)
    assert message.text.startswith("before"), (scenario, message)
    if scenario in UNWRITABLE:
        assert message.errors == [GENERIC_ERROR_MESSAGE], (scenario, message)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_hostile_http_requests_and_output(host: LiveHost, protocol: str) -> None:
    hostile_round(host, protocol)


def test_hostile_input_leaves_nothing_behind(host: LiveHost) -> None:
    """Every case in every protocol, twice: the second round leaves the server's threads, file
    descriptors and tasks as the first left them (counted as test_leaks.py counts)."""
    # The first round runs every protocol at once, so a server's thread pool has grown to what
    # the second round, one protocol after another, can use (a pool that grows is no leak).
    with ThreadPoolExecutor(len(PROTOCOLS)) as rounds:
        list(rounds.map(partial(hostile_round, host), PROTOCOLS))
    baseline = steady(host)
    for protocol in PROTOCOLS:
        hostile_round(host, protocol)
    after = settled(host, baseline)
    # No count may grow.  (One may shrink: hypercorn can still be closing the first round's
    # connections when the baseline is taken.)
    grown = {key: (baseline[key], after[key]) for key in baseline if after[key] > baseline[key]}
    assert not grown, f"{host.host.name}: before {baseline}, after {after}"


def hostile_round(host: LiveHost, protocol: str) -> None:
    """Each hostile request and each hostile run once, then a plain run."""
    url = f"{host.url}?protocol={protocol}"
    headers = {"Content-Type": "application/json"}
    with httpx.Client(timeout=10) as client:
        for name, (value, status, says) in HOSTILE_REQUESTS.items():
            body = spliced(protocol, "hostile", value)
            response = client.post(url, content=body, headers=headers)
            assert_json_error(response, status, says, name)
        if keeps_state(protocol):
            state = b'{"plan": [{"constructor": 1}]}'
            response = client.post(url, content=spliced(protocol, "state", state), headers=headers)
            assert_json_error(response, 422, "'constructor' cannot be a state key", "state")
        for scenario in HOSTILE_RUNS:
            # Read whole: a cut chunked body raises here.
            response = client.post(url, json=request_body(protocol, scenario=scenario))
            assert response.status_code == 200, (scenario, response.text)
            assert b"Traceback" not in response.content
            assert_clean_end(decode(response.content, protocol), scenario)
        response = client.post(url, json=request_body(protocol, scenario="plain_text"))
        assert response.status_code == 200
        assert accumulate(decode(response.content, protocol)).text.startswith("Hello")


@pytest.mark.anyio
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_hostile_websocket_frames_and_output(ws_host: LiveHost, protocol: str) -> None:
    async with connect(ws_host) as ws:
        for name, (value, _, says) in HOSTILE_REQUESTS.items():
            if name == "invalid-utf8":
                continue  # a text frame is UTF-8 by definition: the client cannot send one
            body = spliced(protocol, "hostile", value).decode()
            head = f'{{"type": "send", "requestId": "{name}", "protocol": "{protocol}", '
            await ws.send_text(head + body[1:])
            reply = await receive(ws)
            assert reply["type"] == "error", (name, reply)
            assert reply["requestId"] in (name, ""), reply
            assert says in reply["errorText"], (name, reply)
        for scenario in HOSTILE_RUNS:
            assert_clean_end(await run_items(ws, protocol, scenario), scenario)
        after = accumulate(await run_items(ws, protocol, "plain_text"))
        assert after.text.startswith("Hello"), after


async def run_items(ws: AsyncWebSocketSession, protocol: str, scenario: str) -> list[Decoded]:
    """One run over the socket, up to its ``end`` frame: what the protocol's decoder makes of
    the events its chunk frames carry."""
    body = request_body(protocol, scenario=scenario)
    await ws.send_json({"type": "send", "requestId": scenario, "protocol": protocol, **body})
    frames = [await receive(ws)]
    while frames[-1]["type"] not in ("end", "error"):
        frames.append(await receive(ws))
    assert [frames[0]["type"], frames[-1]["type"]] == ["start", "end"], (scenario, frames[-1])
    wire = sb.get_protocol(protocol)
    decoder = wire.new_decoder()
    items: list[Decoded] = []
    for frame in frames[1:-1]:
        event = chunk_event(frame, wire.framing)
        items += decoder.decode(event.name, event.data)
    return items + decoder.close()
