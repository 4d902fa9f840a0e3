"""The run store (issue 13) against no store and against assistant-stream 0.0.36's resumable
in-memory store, in one process on asyncio (assistant-stream is asyncio-only):

(a) cost of keeping a log: a run makes 50,000 ``append_text("x")`` calls (awaiting ``drain()``
    every 1,000) and one reader reads its data-stream bytes to the end; deltas per second with
    the run recorded in a ``MemoryStore`` and read back through ``read_run``, against the same
    run read directly (target: at least 0.8x), and against assistant-stream's ``create_run``
    through its resumable context;
(b) attach latency: 20 runs at 20 tokens/s, 100 tokens each, and a second reader attached to
    each after its first token; the time from ``append_text`` to the second reader holding the
    token's bytes, p50 and p99;
(c) fan-out: one run of 2,000 deltas (draining every 100) read by 1,000 attached readers;
    deltas delivered per second (2,000 x 1,000 / time) and the memory each waiting reader holds
    (its stream, cursor and task, by tracemalloc).

    uv run python benchmarks/run_store.py [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib.metadata import version

from assistant_stream import RunController as AsRunController
from assistant_stream import create_run as as_create_run
from assistant_stream.resumable import (
    create_in_memory_resumable_stream_store,
    create_resumable_stream_context,
)
from assistant_stream.serialization.data_stream import DataStreamEncoder as AsDataStreamEncoder

import streambridge as sb
from streambridge.runs import MemoryStore, read_run, record

DATA_STREAM = sb.get_protocol("data-stream")


# -- (a) cost of keeping a log -----------------------------------------------------------------


def text_run(calls: int, drain_every: int) -> sb.RunFunction:
    async def run(controller: sb.RunController) -> None:
        for index in range(calls):
            controller.append_text("x")
            if index % drain_every == drain_every - 1:
                await controller.drain()

    return run


def as_text_run(calls: int, drain_every: int) -> Callable[[AsRunController], Awaitable[None]]:
    async def run(controller: AsRunController) -> None:
        for index in range(calls):
            controller.append_text("x")
            if index % drain_every == drain_every - 1:
                await asyncio.sleep(0)  # its engine has no drain(): yield as often

    return run


async def read_all(stream: AsyncIterator[bytes]) -> int:
    size = 0
    async for data in stream:
        size += len(data)
    return size


async def direct(calls: int) -> int:
    return await read_all(sb.encode(sb.create_run(text_run(calls, 1_000)), "data-stream"))


async def stored(calls: int) -> int:
    store = MemoryStore()
    started = await record(store, sb.create_run(text_run(calls, 1_000)), "data-stream")
    return await read_all(await read_run(store, started, DATA_STREAM, heartbeat=None))


async def anchor_resumable(calls: int) -> int:
    context = create_resumable_stream_context(store=create_in_memory_resumable_stream_store())

    async def make_stream() -> AsyncIterator[bytes]:
        encoder = AsDataStreamEncoder()
        async for text in encoder.encode_stream(as_create_run(as_text_run(calls, 1_000))):
            yield text.encode()

    return await read_all(await context.run("bench", make_stream))


async def best_rate(case: Callable[[int], Awaitable[int]], calls: int, repeats: int) -> float:
    await case(1_000)  # warm-up
    best = 0.0
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        size = await case(calls)
        elapsed = time.perf_counter() - started
        if size < calls * 6:  # 0:"x"\n per delta
            raise AssertionError(f"{case.__name__} read {size} bytes for {calls} deltas")
        best = max(best, calls / elapsed)
    return best


# -- (b) attach latency ------------------------------------------------------------------------

TOKENS = 100
RATE = 20.0


def paced_run(stamps: list[float]) -> sb.RunFunction:
    async def run(controller: sb.RunController) -> None:
        for index in range(TOKENS):
            stamps.append(time.perf_counter())
            controller.append_text(f"{index} ")
            await asyncio.sleep(1 / RATE)

    return run


def as_paced_run(stamps: list[float]) -> Callable[[AsRunController], Awaitable[None]]:
    async def run(controller: AsRunController) -> None:
        for index in range(TOKENS):
            stamps.append(time.perf_counter())
            controller.append_text(f"{index} ")
            await asyncio.sleep(1 / RATE)

    return run


async def follow(stream: AsyncIterator[bytes], stamps: list[float], delays: list[float]) -> None:
    """Note when each token's bytes reached this reader (tokens are numbered in their text)."""
    seen = 0
    async for data in stream:
        now = time.perf_counter()
        for _ in range(data.count(b' "\n')):
            if seen > 0:  # the first token is the one the reader attached after
                delays.append(now - stamps[seen])
            seen += 1


async def sb_attach_latency(runs: int) -> list[float]:
    store = MemoryStore()
    delays: list[float] = []

    async def one(index: int) -> None:
        stamps: list[float] = []
        run_input = sb.RunInput(run_id=f"run_{index}")
        started = await record(
            store, sb.create_run(paced_run(stamps), input=run_input), "data-stream"
        )
        first = await read_run(store, started, DATA_STREAM, heartbeat=None)
        await first.__anext__()  # the first token exists: attach a second reader
        second = await read_run(store, started, DATA_STREAM, heartbeat=None)
        await asyncio.gather(follow(second, stamps, delays), read_all(first))

    await asyncio.gather(*(one(index) for index in range(runs)))
    return delays


async def as_attach_latency(runs: int) -> list[float]:
    context = create_resumable_stream_context(store=create_in_memory_resumable_stream_store())
    delays: list[float] = []

    async def one(index: int) -> None:
        stamps: list[float] = []

        async def make_stream() -> AsyncIterator[bytes]:
            encoder = AsDataStreamEncoder()
            async for text in encoder.encode_stream(as_create_run(as_paced_run(stamps))):
                yield text.encode()

        first = await context.run(f"run_{index}", make_stream)
        await first.__anext__()
        second = await context.resume(f"run_{index}")
        assert second is not None
        await asyncio.gather(follow(second, stamps, delays), read_all(first))

    await asyncio.gather(*(one(index) for index in range(runs)))
    return delays


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- (c) fan-out -------------------------------------------------------------------------------


async def fan_out(readers: int, deltas: int) -> tuple[float, float]:
    store = MemoryStore()
    go = asyncio.Event()

    async def run(controller: sb.RunController) -> None:
        await go.wait()
        for index in range(deltas):
            controller.append_text("x")
            if index % 100 == 99:
                await controller.drain()

    started = await record(store, sb.create_run(run), "data-stream")
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    streams = [await read_run(store, started, DATA_STREAM, heartbeat=None) for _ in range(readers)]
    tasks = [asyncio.ensure_future(read_all(stream)) for stream in streams]
    await asyncio.sleep(0.2)  # every reader waits on the log
    gc.collect()
    per_reader = (tracemalloc.get_traced_memory()[0] - before) / readers / 1024
    tracemalloc.stop()
    began = time.perf_counter()
    go.set()
    sizes = await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - began
    if min(sizes) < deltas * 6:
        raise AssertionError("a reader missed deltas")
    return deltas * readers / elapsed, per_reader


# -- report ------------------------------------------------------------------------------------


async def main(repeats: int, quick: bool) -> None:
    calls = 10_000 if quick else 50_000
    print(
        f"python {platform.python_version()}, streambridge {sb.__version__}, "
        f"assistant-stream {version('assistant-stream')}, asyncio"
    )
    plain = await best_rate(direct, calls, repeats)
    kept = await best_rate(stored, calls, repeats)
    anchor = await best_rate(anchor_resumable, calls, repeats)
    print(f"\n(a) burst of {calls:,} deltas, data-stream bytes read to the end (best of {repeats})")
    print(f"  no store                          {plain:12,.0f} deltas/s")
    ratio = kept / plain
    print(f"  MemoryStore + read_run            {kept:12,.0f} deltas/s   {ratio:.2f}x of no store")
    print(f"  assistant-stream resumable store  {anchor:12,.0f} deltas/s   "
          f"ours {kept / anchor:.1f}x")  # fmt: skip

    runs = 5 if quick else 20
    ours = await sb_attach_latency(runs)
    theirs = await as_attach_latency(runs)
    print(f"\n(b) second reader of {runs} runs at {RATE:.0f} tokens/s: append_text -> its bytes")
    for name, delays in (("streambridge MemoryStore", ours), ("assistant-stream", theirs)):
        print(
            f"  {name:26} p50 {percentile(delays, 0.5) * 1000:6.2f} ms   "
            f"p99 {percentile(delays, 0.99) * 1000:6.2f} ms   (n={len(delays)})"
        )

    readers = 200 if quick else 1_000
    rate, per_reader = await fan_out(readers, 2_000)
    print(f"\n(c) one run of 2,000 deltas, {readers:,} attached readers")
    print(f"  delivered {rate:12,.0f} deltas/s   {per_reader:.2f} KiB of heap per waiting reader")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smaller figures, for a smoke run")
    args = parser.parse_args()
    asyncio.run(main(args.repeats, args.quick))
