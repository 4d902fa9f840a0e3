"""The official OpenAI Python SDK as an oracle: a client whose HTTP layer answers with given bytes.

``sdk_client(body)`` builds ``openai.OpenAI`` with strict response validation (every event and
the final ``Response`` must validate under the SDK's pydantic models) over an
``httpx.MockTransport`` that answers each request with ``body`` as a streamed
``text/event-stream`` response, optionally cut into seeded 1-7 byte fragments so the SDK's SSE
parser meets every split point.  ``requests`` records the JSON bodies the SDK sent.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import httpx
import openai


def fragments(data: bytes, seed: int = 0) -> Iterator[bytes]:
    """``data`` in pieces of 1 to 7 bytes, cut at the same places for the same seed."""
    rng = random.Random(seed)
    position = 0
    while position < len(data):
        size = rng.randint(1, 7)
        yield data[position : position + size]
        position += size


class OracleClient:
    """An ``openai.OpenAI`` client (``.sdk``) whose every request gets ``body`` back."""

    def __init__(self, body: bytes, *, fragment: bool = False, seed: int = 0) -> None:
        self.body = body
        self.fragment = fragment
        self.seed = seed
        self.requests: list[Any] = []
        self.sdk = openai.OpenAI(
            api_key="test",
            base_url="http://oracle.test/v1",
            max_retries=0,
            _strict_response_validation=True,
            http_client=httpx.Client(transport=httpx.MockTransport(self._handle)),
        )

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(json.loads(request.content) if request.content else None)
        content = fragments(self.body, self.seed) if self.fragment else iter([self.body])
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=content)


def sdk_client(body: bytes, *, fragment: bool = False, seed: int = 0) -> openai.OpenAI:
    """A strict ``openai.OpenAI`` client that answers every request with ``body``."""
    return OracleClient(body, fragment=fragment, seed=seed).sdk
