"""CPU per token of a streaming response, in process: what a write task that stays saves.

``serving.py`` (4) measures a real server's CPU per token; this isolates streambridge's part of
it.  ``--streams`` requests go through ``StreamApp`` with a stand-in ASGI server (a ``receive``
that hands over the body and then waits for a disconnect that never comes, a ``send`` that drops
the bytes), each run appending ``--tokens`` deltas one millisecond apart, so every token is a
batch of its own.  The process CPU time per token is measured twice, interleaved over
``--rounds``: as shipped, where a streaming run's write task stays for its next chunk
(``LINGER``), and with ``LINGER = 0``, where every token starts a task of its own.

    uv run python benchmarks/token_cpu.py [--streams N] [--tokens N] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from typing import Any

from stand_in_server import serve_one
from streambridge.asgi import StreamApp

PUSH = sys.modules["streambridge.transport.pump"]  # the module: the package exports a function


def streaming(tokens: int) -> Any:
    async def run(controller: Any) -> None:
        for _ in range(tokens):
            controller.append_text("tok")
            await asyncio.sleep(0.001)

    return run


async def cpu_per_token(app: StreamApp, streams: int, tokens: int) -> float:
    """Microseconds of process CPU per token delivered."""
    start = time.process_time()
    await asyncio.gather(*(serve_one(app) for _ in range(streams)))
    return (time.process_time() - start) / (streams * tokens) * 1e6


def measure(linger: float, streams: int, tokens: int) -> float:
    PUSH.LINGER = linger
    app = StreamApp(streaming(tokens))
    asyncio.run(cpu_per_token(app, 5, tokens))  # warm-up: imports, caches
    return asyncio.run(cpu_per_token(app, streams, tokens))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    shipped = PUSH.LINGER
    staying: list[float] = []
    per_token: list[float] = []
    for _ in range(args.rounds):
        staying.append(measure(shipped, args.streams, args.tokens))
        per_token.append(measure(0.0, args.streams, args.tokens))
    stays, fresh = statistics.median(staying), statistics.median(per_token)
    print(f"CPU per token, {args.streams} streams x {args.tokens} tokens, median of {args.rounds}:")
    print(f"  write task stays for the next chunk (LINGER = {shipped}): {stays:5.1f} µs")
    print(f"  a write task per token (LINGER = 0):                 {fresh:5.1f} µs")
    print(f"  staying / per token: {stays / fresh:.2f}x")


if __name__ == "__main__":
    main()
