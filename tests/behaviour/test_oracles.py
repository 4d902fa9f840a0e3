"""Every protocol's official client, and streambridge's own, accept what each host streams.

The table in ``protocol_table.py`` has one row per protocol; this runs every row on every host,
over real HTTP, for a few scenarios that cover tool calls, steps with usage and an error.
"""

from __future__ import annotations

import functools

import anyio
import httpx
import pytest

import streambridge as sb
from streambridge.chunks import Chunk
from streambridge.client import Message, MessageAccumulator, iter_chunks
from support.behaviour.hosts import LiveHost
from support.behaviour.protocol_table import PROTOCOLS, request_body
from support.scenarios import SCENARIOS, expected, produce, summary

ORACLE_SCENARIOS = ("one_tool_call", "steps_with_usage", "error_mid_stream")


@functools.cache
def chunks_of(name: str) -> list[Chunk]:
    return anyio.run(produce, SCENARIOS[name])


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_clients_accept_the_streams(host: LiveHost, protocol: str) -> None:
    assert protocol in sb.protocol_names(), f"{protocol} has an oracle row but is not registered"
    cases: list[tuple[bytes, Message]] = []
    with httpx.Client(timeout=10, params={"protocol": protocol}) as client:
        for scenario in ORACLE_SCENARIOS:
            want = expected(SCENARIOS[scenario], chunks_of(scenario))
            body = request_body(protocol, scenario=scenario)
            accumulator = MessageAccumulator()
            with client.stream("POST", host.url, json=body) as response:
                assert response.status_code == 200
                assert response.headers["content-type"] == sb.get_protocol(protocol).media_type
                for item in iter_chunks(response, protocol):  # as the bytes arrive
                    accumulator.add(item)
            project = PROTOCOLS[protocol].project
            assert project(summary(accumulator.message)) == project(summary(want)), scenario
            # The same run again, whole, for the official client.
            cases.append((client.post(host.url, json=body).content, want))
    PROTOCOLS[protocol].oracle(cases)
