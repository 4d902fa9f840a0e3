"""Per wire protocol: the request body its client sends and its official client's verdict.

One row per protocol.  ``body`` is a minimal request the protocol's parser accepts (the suite
adds ``"scenario"`` and ``"marker"`` keys to it); ``oracle`` feeds the bytes a host streamed to
the protocol's official client and asserts that the message it built is the expected one.  Every
row runs on every host (``test_oracles.py``); a protocol with no row is still judged by
``streambridge.client``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from oracle import run_oracle
from scenarios import summary
from streambridge.client import Message
from test_data_stream import client_summary, project


@dataclass(frozen=True)
class ProtocolCase:
    body: dict[str, Any]
    oracle: Callable[[list[tuple[bytes, Message]]], None]
    """``oracle([(data, expected), ...])`` raises ``AssertionError`` unless the official client
    built each ``expected`` message from its ``data`` (one client process for them all)."""


def data_stream_oracle(cases: list[tuple[bytes, Message]]) -> None:
    streams = [{"stream": data.decode()} for data, _ in cases]
    messages = run_oracle("data-stream.mjs", json.dumps(streams).encode(), many=True)
    assert len(messages) == len(cases)
    for message, (_, want) in zip(messages, cases, strict=True):
        assert client_summary(message) == project(summary(want))


HI = [{"role": "user", "content": "Hi"}]

PROTOCOLS: dict[str, ProtocolCase] = {
    "data-stream": ProtocolCase({"messages": HI}, data_stream_oracle),
}


def request_body(protocol: str, **extra: Any) -> dict[str, Any]:
    """The protocol's minimal request with the suite's keys added."""
    return {**PROTOCOLS[protocol].body, **extra}
