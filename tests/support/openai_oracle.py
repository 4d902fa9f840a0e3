"""The official OpenAI Python SDK as an oracle: a client whose server is a byte string.

``openai_oracle_client(body)`` returns an ``openai.OpenAI`` with strict response validation whose
every request is answered with ``body`` (bytes, or a function of the request that returns them) as
a streamed ``text/event-stream`` response, whole or in seeded 1-7 byte fragments; the requests it
received are recorded for the test to inspect.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai

ORACLE_BASE_URL = "http://oracle.test/v1"


def fragments(data: bytes, seed: int = 0) -> Iterator[bytes]:
    """``data`` cut into pieces of 1 to 7 bytes (a seeded, reproducible cut): the SDK must
    reassemble lines, events and UTF-8 sequences split anywhere."""
    rng = random.Random(seed)
    i = 0
    while i < len(data):
        size = rng.randint(1, 7)
        yield data[i : i + size]
        i += size


@dataclass
class OpenAIOracle:
    """An SDK client and the requests its fake server received."""

    client: openai.OpenAI
    requests: list[httpx.Request]

    def request_json(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


def openai_oracle_client(
    body: bytes | Callable[[httpx.Request], bytes],
    *,
    fragment: bool = False,
    seed: int = 0,
) -> OpenAIOracle:
    """An ``openai.OpenAI`` (``_strict_response_validation=True``) answering every request
    with ``body`` (or ``body(request)``), optionally delivered in 1-7 byte fragments."""
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        requests.append(request)
        data = body(request) if callable(body) else body
        content = fragments(data, seed) if fragment else iter([data])
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=content)

    client = openai.OpenAI(
        api_key="test",
        base_url=ORACLE_BASE_URL,
        max_retries=0,
        _strict_response_validation=True,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    return OpenAIOracle(client, requests)
