"""Whatever a run emits that a protocol cannot write ends the stream cleanly, in every protocol.

The contract, checked once for all protocols: the stream is byte for byte what a run that raised
at that point would have sent (what encoded before it, the protocol's generic error event and
its end), the run is stopped, and the log names the run.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import streambridge as sb
from streambridge.protocols import protocol_names

pytestmark = pytest.mark.anyio


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


UNWRITABLE = {
    "nested deeper than the stack": _nested(100_000),
    "NaN": math.nan,
    "infinity": -math.inf,
    "an integer of 5,000 digits": 10**5000,
    "not JSON at all": object(),
}


async def _body(run: sb.RunFunction, protocol: str) -> bytes:
    run_input = sb.RunInput(run_id="run_fixed", thread_id="thread_fixed", created_at=0)
    out = b""
    async for data in sb.encode(sb.create_run(run, input=run_input), protocol):
        out += data
    return out


@pytest.mark.parametrize("protocol", protocol_names())
@pytest.mark.parametrize("value", UNWRITABLE.values(), ids=UNWRITABLE.keys())
async def test_an_unwritable_chunk_ends_the_stream_as_a_failed_run_would(
    protocol: str, value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    stopped = anyio.Event()

    async def run(controller: sb.RunController) -> None:
        controller.append_text("before")
        await anyio.lowlevel.checkpoint()  # "before" goes out on its own
        try:
            controller.add_data(value)
            await anyio.sleep(5)  # the consumer stops the run before this ends
        finally:
            stopped.set()

    async def failing(controller: sb.RunController) -> None:
        controller.append_text("before")
        await anyio.lowlevel.checkpoint()
        raise RuntimeError("secret")

    with anyio.fail_after(3), caplog.at_level(logging.ERROR, logger="streambridge"):
        body = await _body(run, protocol)
    assert stopped.is_set()
    assert body == await _body(failing, protocol)
    assert b"secret" not in body
    assert "run run_fixed: a data chunk could not be encoded" in caplog.text
