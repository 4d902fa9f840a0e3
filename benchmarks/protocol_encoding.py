"""Encode throughput of every wire protocol, against assistant-stream 0.0.36's encoders where it
has one (data-stream, assistant-transport, openai-chat), in one process.

The run is the same for every protocol and both libraries: 1,000 ``append_reasoning`` calls,
8,000 ``append_text`` calls of one word each (yielding every 1,000), and 10 tool calls with 100
``append_args_text`` calls and a result each: 10,020 chunks.  Each library serves it the way a
server would, through its public API:

- streambridge: ``sb.encode(sb.create_run(run), protocol)`` iterated to the end (bytes);
- assistant-stream: ``Encoder().encode_stream(create_run(run))`` iterated to the end (``str``).

The figure is chunks per second, best of ``--repeats`` rounds after a warm-up; each round runs
every case once, so a slow spell of the machine hits every case.

    uv run python benchmarks/protocol_encoding.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from assistant_stream import create_run as as_create_run
from assistant_stream.serialization.assistant_transport import AssistantTransportEncoder
from assistant_stream.serialization.data_stream import DataStreamEncoder
from assistant_stream.serialization.openai_stream import OpenAIStreamEncoder

import streambridge as sb

ANCHORS: dict[str, Callable[[], Any]] = {
    "data-stream": DataStreamEncoder,
    "assistant-transport": AssistantTransportEncoder,
    "openai-chat": OpenAIStreamEncoder,
}


N_REASONING, N_TEXT, N_CALLS, N_ARGS = 1_000, 8_000, 10, 100
N_CHUNKS = N_REASONING + N_TEXT + N_CALLS * (N_ARGS + 2)  # begin, args, result per call
YIELD_EVERY = 1_000


async def sb_run(controller: sb.RunController) -> None:
    for i in range(N_REASONING):
        controller.append_reasoning(f"thought {i} ")
    for i in range(N_TEXT):
        controller.append_text(f"word{i % 50} ")
        if i % YIELD_EVERY == YIELD_EVERY - 1:
            await controller.drain()
    for call in range(N_CALLS):
        tool = controller.add_tool_call("search", f"call_{call}")
        tool.append_args_text('{"query": "')
        for _ in range(N_ARGS - 2):
            tool.append_args_text("ab")
        tool.append_args_text('"}')
        tool.set_response({"hits": call})


async def as_run(controller: Any) -> None:
    for i in range(N_REASONING):
        controller.append_reasoning(f"thought {i} ")
    for i in range(N_TEXT):
        controller.append_text(f"word{i % 50} ")
        if i % YIELD_EVERY == YIELD_EVERY - 1:
            await asyncio.sleep(0)
    for call in range(N_CALLS):
        tool = await controller.add_tool_call("search", f"call_{call}")
        tool.append_args_text('{"query": "')
        for _ in range(N_ARGS - 2):
            tool.append_args_text("ab")
        tool.append_args_text('"}')
        tool.set_response({"hits": call})


def sb_case(protocol: str) -> Callable[[], Awaitable[int]]:
    async def case() -> int:
        size = 0
        async for part in sb.encode(sb.create_run(sb_run), protocol):
            size += len(part)
        return size

    return case


def as_case(encoder: Callable[[], Any]) -> Callable[[], Awaitable[int]]:
    async def case() -> int:
        size = 0
        async for part in encoder().encode_stream(as_create_run(as_run)):
            size += len(part)
        return size

    return case


@dataclass
class Row:
    protocol: str
    streambridge: float
    assistant_stream: float | None

    @property
    def ratio(self) -> float | None:
        return None if self.assistant_stream is None else self.streambridge / self.assistant_stream


async def measure(repeats: int) -> list[Row]:
    cases: dict[tuple[str, str], Callable[[], Awaitable[int]]] = {}
    for protocol in sb.protocol_names():
        cases[(protocol, "sb")] = sb_case(protocol)
        if protocol in ANCHORS:
            cases[(protocol, "as")] = as_case(ANCHORS[protocol])
    best: dict[tuple[str, str], float] = {}
    for round_number in range(repeats + 1):
        for key, case in cases.items():
            gc.collect()
            started = time.perf_counter()
            await case()
            elapsed = time.perf_counter() - started
            if round_number > 0:  # round 0 warms up
                best[key] = min(best.get(key, elapsed), elapsed)
    rows = []
    for protocol in sb.protocol_names():
        as_time = best.get((protocol, "as"))
        rows.append(
            Row(
                protocol,
                N_CHUNKS / best[(protocol, "sb")],
                None if as_time is None else N_CHUNKS / as_time,
            )
        )
    return rows


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| protocol | streambridge | assistant-stream 0.0.36 | ratio |",
        "|---|---:|---:|---:|",
    ]
    for row in rows:
        anchor = "—" if row.assistant_stream is None else f"{row.assistant_stream:,.0f} chunks/s"
        ratio = "—" if row.ratio is None else f"{row.ratio:.1f}x"
        ours = f"{row.streambridge:,.0f} chunks/s"
        lines.append(f"| `{row.protocol}` | {ours} | {anchor} | {ratio} |")
    return lines


def run(repeats: int) -> list[str]:
    """Measure, print the table as it is, and return it for a summary."""
    lines = table(asyncio.run(measure(repeats)))
    print("\n".join(lines))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    run(parser.parse_args().repeats)


if __name__ == "__main__":
    main()
