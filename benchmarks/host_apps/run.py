"""The run every host serves; the JSON body picks which (the same bodies as ``serving.py``).

- ``{"scenario": "burst", "calls": N}``: ``N`` ``append_text("x")`` calls, with
  ``await controller.drain()`` every 1,000;
- ``{"scenario": "hang"}``: one delta, then ``await anyio.sleep(3600)`` (an idle open stream).
"""

from __future__ import annotations

from typing import Any

import anyio

import streambridge as sb

PATH = "/api/chat"
YIELD_EVERY = 1_000


async def run(controller: sb.RunController) -> None:
    body: Any = controller.input.raw
    body = body if isinstance(body, dict) else {}
    scenario = body.get("scenario")
    if scenario == "burst":
        for i in range(int(body["calls"])):
            controller.append_text("x")
            if i % YIELD_EVERY == YIELD_EVERY - 1:
                await controller.drain()
    elif scenario == "hang":
        controller.append_text("x")
        await anyio.sleep(3600)
    else:
        raise ValueError(f"unknown scenario {scenario!r}")
