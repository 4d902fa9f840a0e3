"""The official OpenAI Python SDK as an oracle: a client whose every request is answered with
given bytes, streamed as ``text/event-stream``, whole or in small random fragments.

The client validates every object strictly (``_strict_response_validation=True``), so an event
whose data does not fit the SDK's pydantic models fails the test.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai

BASE_URL = "http://oracle.test/v1"


def fragments(data: bytes, seed: int = 0) -> Iterator[bytes]:
    """``data`` cut into pieces of 1 to 7 bytes (the same pieces for the same seed)."""
    rng = random.Random(seed)
    start = 0
    while start < len(data):
        end = start + rng.randint(1, 7)
        yield data[start:end]
        start = end


def oracle_client(
    body: bytes | Callable[[httpx.Request], bytes],
    *,
    fragment: bool = False,
    seed: int = 0,
    requests: list[httpx.Request] | None = None,
) -> openai.OpenAI:
    """An ``openai.OpenAI`` client that answers each request with ``body`` as an SSE stream.

    ``body`` may be a function of the request (to answer what the request asked for).  With
    ``fragment``, the body arrives in seeded 1-7 byte pieces; ``requests`` collects the requests
    the SDK made.
    """

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        if requests is not None:
            requests.append(request)
        data = body(request) if callable(body) else body
        content: Any = fragments(data, seed) if fragment else iter([data])
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=content)

    return openai.OpenAI(
        api_key="test",
        base_url=BASE_URL,
        _strict_response_validation=True,
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
