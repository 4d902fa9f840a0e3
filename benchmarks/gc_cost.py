"""What an open stream costs the garbage collector: streambridge against a bare ASGI app.

An open stream's objects live for seconds, so they reach the collector's oldest generation, and
a full collection visits every one of them.  CPython runs one when the objects added to that
generation since the last one reach a quarter of it; in a server where streams come and go,
that makes the full collections' CPU per second about four times the cost of visiting the
objects the streams started in that second.  With streams of ``S`` seconds, ``N`` of them open,
that is ``4 * (N / S) * C``, where ``C`` is what one open stream adds to a full collection; at
20 tokens a second each, ``C / (5 * S)`` per token (``C / 20`` for ``serving.py``'s 4-second
streams).

This measures ``C`` in process, with the stand-in server and the run of ``token_cpu.py``:
``--streams`` requests are opened and left mid-run, then ``gc.collect()`` is timed (the best of
``--rounds``) against the same with no stream open.  The time depends on where the objects
landed in memory (it varies by a tenth from one process to the next), so also printed: the
objects the collector tracks per open stream, and the references it follows from them (each
one a memory access, in each of the collection's passes), which do not vary.

    uv run python benchmarks/gc_cost.py [--streams N] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Callable
from typing import NamedTuple

from stand_in_server import serve_one
from token_cpu import App, bare_app, streambridge_app

STREAM_SECONDS = 4.0  # serving.py's streams: 80 tokens at 20 a second


def full_collection(rounds: int) -> float:
    """Seconds a full collection takes now (the best of ``rounds``)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        gc.collect()
        best = min(best, time.perf_counter() - start)
    return best


class Cost(NamedTuple):
    microseconds: float
    objects: float
    references: float


async def per_stream(app: App, streams: int, rounds: int) -> Cost:
    """What one open stream adds to a full collection."""
    gc.disable()  # nothing collects but the measurement
    try:
        empty = full_collection(rounds)
        before = {id(item) for item in gc.get_objects()}
        tasks = [asyncio.ensure_future(serve_one(app)) for _ in range(streams)]
        await asyncio.sleep(0.05)  # every stream has started and sent a token or two
        full = full_collection(rounds)
        harness = (before, tasks)
        added = [
            item
            for item in gc.get_objects()
            if id(item) not in before and not any(item is mine for mine in harness)
        ]
        references = sum(len(gc.get_referents(item)) for item in added)
        objects = len(added)
        del added
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        gc.enable()
    return Cost((full - empty) / streams * 1e6, objects / streams, references / streams)


def measure(make: Callable[[int], App], streams: int, rounds: int) -> Cost:
    return asyncio.run(per_stream(make(10_000), streams, rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=3_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    ours = measure(streambridge_app, args.streams, args.rounds)
    bare = measure(bare_app, args.streams, args.rounds)
    per_token = 1 / (5 * STREAM_SECONDS)
    print(f"What one open stream adds to a full collection, {args.streams} streams open:")
    print("                    time  objects  references  CPU per token (20 tokens/s, 4 s streams)")
    for name, cost in (("StreamApp(run)", ours), ("bare ASGI app", bare)):
        print(
            f"  {name:14s} {cost.microseconds:5.1f} µs  {cost.objects:7.1f}"
            f"  {cost.references:10.1f}  {cost.microseconds * per_token:5.2f} µs"
        )
    print(
        f"  ratio          {ours.microseconds / bare.microseconds:5.2f}x"
        f"  {ours.objects / bare.objects:6.2f}x  {ours.references / bare.references:9.2f}x"
    )


if __name__ == "__main__":
    main()
