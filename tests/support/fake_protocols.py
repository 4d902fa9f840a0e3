"""A stand-in SSE protocol for the transport tests: only data-stream (a line protocol) is on
this branch, and the transport must serve SSE framing all the same."""

from __future__ import annotations

from typing import Any

import pytest

import streambridge as sb
from streambridge.chunks import Chunk, Error, TextDelta
from streambridge.input import RunInput
from streambridge.protocols import _REGISTRY, WireProtocol
from streambridge.protocols._sse import DONE, KEEPALIVE, sse_json


class _SSEEncoder:
    def __init__(self, input: RunInput) -> None:
        pass

    def encode(self, chunk: Chunk) -> str:
        if isinstance(chunk, TextDelta):
            return sse_json({"type": "text", "text": chunk.text_delta})
        if isinstance(chunk, Error):
            return sse_json({"message": chunk.error}, event="error")
        return ""

    def finish(self) -> str:
        return sse_json({"type": "finish"}) + DONE


def _parse_request(body: Any) -> RunInput:
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        raise sb.RequestError("test-sse wants an object with a 'messages' array")
    return RunInput(messages=body["messages"], raw=body)


TEST_SSE = WireProtocol(
    name="test-sse",
    media_type="text/event-stream",
    framing="sse",
    new_encoder=_SSEEncoder,
    parse_request=_parse_request,
    new_decoder=lambda: None,  # type: ignore[arg-type,return-value]
    keepalive=KEEPALIVE,
    headers={"x-test-stream": "v1", "Connection": "keep-alive", "Cache-Control": "no-cache"},
)


def register_test_sse(monkeypatch: pytest.MonkeyPatch) -> WireProtocol:
    """Register TEST_SSE for one test (the real protocols are loaded first)."""
    sb.protocol_names()
    monkeypatch.setitem(_REGISTRY, TEST_SSE.name, TEST_SSE)
    return TEST_SSE
