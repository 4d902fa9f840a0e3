"""The Redis run store (issue 15) against assistant-stream 0.0.36's
``create_redis_resumable_stream_store`` on the same Redis, and against the in-memory store, on
asyncio (assistant-stream is asyncio-only):

(a) burst through Redis: one run of 20,000 ``append_text`` calls (awaiting ``drain()`` every
    1,000) read to the end by an attached reader on another store (another process's view:
    its own connections and follower); deltas per second;
(b) attach latency, the reader on another process: a child process produces runs at 20
    tokens/s, each token's text its ``time.monotonic()`` stamp; this process attaches a reader
    to each after its first token and notes each later token's delay, p50 and p99;
(c) streams one process sustains at 20 tokens/s, each read by its own reader on the same store
    (as the request that started it; the runs start over one second), with p99 added latency
    (``append_text`` to the reader's bytes, from each run's second token) under 50 ms:
    RedisStore against MemoryStore (no HTTP; each trial in a fresh process, as a server's own
    heap would be: the garbage collector's pauses decide this p99); and at that load, per
    delivered token, the store's round trips to Redis (each command sent alone, each pipeline)
    and the commands Redis ran (its ``total_commands_processed``, a script's own commands
    included).

Redis: a private ``redis-server`` (no persistence) started here, or ``--redis-url``.

    uv run python benchmarks/redis_store.py [--quick] [--redis-url redis://...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from importlib.metadata import version
from typing import Any

import redis.asyncio as redis_asyncio
from assistant_stream import RunController as AsRunController
from assistant_stream import create_run as as_create_run
from assistant_stream.resumable import create_resumable_stream_context
from assistant_stream.resumable.stores.redis import create_redis_resumable_stream_store
from assistant_stream.serialization.data_stream import DataStreamEncoder as AsDataStreamEncoder

import streambridge as sb
from streambridge.runs import MemoryStore, RedisStore, RunStore, read_run, record

DATA_STREAM = sb.get_protocol("data-stream")
RATE = 20.0  # tokens per second, per run


# -- Redis ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server of this benchmark's own, without persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed: pass --redis-url")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    directory = tempfile.mkdtemp(prefix="sb-bench-redis-")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", directory],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait()


def prefix(name: str) -> str:
    return f"bench-{name}-{os.urandom(4).hex()}"


async def commands_processed(url: str) -> int:
    client = redis_asyncio.Redis.from_url(url)
    try:
        info = await client.info("stats")
        return int(info["total_commands_processed"])
    finally:
        await client.aclose()


async def read_all(stream: AsyncIterator[bytes]) -> int:
    size = 0
    async for data in stream:
        size += len(data)
    return size


# -- (a) burst ----------------------------------------------------------------------------------


def text_run(calls: int) -> sb.RunFunction:
    async def run(controller: sb.RunController) -> None:
        for index in range(calls):
            controller.append_text("x")
            if index % 1_000 == 999:
                await controller.drain()

    return run


def as_text_run(calls: int) -> Callable[[AsRunController], Awaitable[None]]:
    async def run(controller: AsRunController) -> None:
        for index in range(calls):
            controller.append_text("x")
            if index % 1_000 == 999:
                await asyncio.sleep(0)  # its engine has no drain(): yield as often

    return run


async def ours_burst(url: str, calls: int) -> float:
    name = prefix("burst")
    async with RedisStore(url, prefix=name) as producer, RedisStore(url, prefix=name) as reader:
        began = time.perf_counter()
        started = await record(producer, sb.create_run(text_run(calls)), "data-stream")
        theirs = await reader.get(started.run_id)
        assert theirs is not None
        size = await read_all(await read_run(reader, theirs, DATA_STREAM, heartbeat=None))
        elapsed = time.perf_counter() - began
    if size < calls * 6:
        raise AssertionError(f"the reader got {size} bytes for {calls} deltas")
    return calls / elapsed


async def anchor_burst(url: str, calls: int) -> float:
    client = redis_asyncio.Redis.from_url(url)
    store = create_redis_resumable_stream_store(client, key_prefix=prefix("as-burst"))
    context = create_resumable_stream_context(store=store)

    async def make_stream() -> AsyncIterator[bytes]:
        async for text in AsDataStreamEncoder().encode_stream(as_create_run(as_text_run(calls))):
            yield text.encode()

    began = time.perf_counter()
    size = await read_all(await context.run("bench", make_stream))
    elapsed = time.perf_counter() - began
    await client.aclose()
    if size < calls * 6:
        raise AssertionError(f"the reader got {size} bytes for {calls} deltas")
    return calls / elapsed


# -- (b) attach latency, the producer in a child process -------------------------------------


def stamped_run(tokens: int) -> Callable[[Any], Awaitable[None]]:
    """``tokens`` text deltas at 20 a second, each stamped with the time it is appended, for
    either library's controller (both have ``append_text``).  Each sleeps until 50 ms after the
    previous one was due (as serving.py's paced runs), so a process that cannot keep up falls
    behind instead of slowing its runs down."""

    async def run(controller: Any) -> None:
        due = time.monotonic()
        for _ in range(tokens):
            controller.append_text(f"{time.monotonic():.6f} ")
            due += 1 / RATE
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    return run


async def produce(kind: str, url: str, name: str, runs: int, tokens: int) -> None:
    """The child process: ``runs`` runs at 20 tokens/s, ids ``run_0`` ... (the parent reads)."""
    if kind == "ours":
        async with RedisStore(url, prefix=name) as store:
            done = [
                await record(
                    store,
                    sb.create_run(stamped_run(tokens), input=sb.RunInput(run_id=f"run_{i}")),
                    "data-stream",
                )
                for i in range(runs)
            ]
            while any(not rec.finished for rec in done):  # noqa: ASYNC110 (no event to wait on)
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)  # the ends reach Redis
        return
    client = redis_asyncio.Redis.from_url(url)
    context = create_resumable_stream_context(
        store=create_redis_resumable_stream_store(client, key_prefix=name)
    )

    async def one(index: int) -> None:
        async def make_stream() -> AsyncIterator[bytes]:
            run = as_create_run(stamped_run(tokens))
            async for text in AsDataStreamEncoder().encode_stream(run):
                yield text.encode()

        await read_all(await context.run(f"run_{index}", make_stream))

    await asyncio.gather(*(one(index) for index in range(runs)))
    await client.aclose()


async def follow_stamps(stream: AsyncIterator[bytes], delays: list[float]) -> None:
    """Each token's delay: now against the stamp it carries (the first one, the token the
    reader attached after, left out)."""
    first = True
    buffer = b""
    async for data in stream:
        now = time.monotonic()
        buffer += data
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.startswith(b'0:"'):
                if not first:
                    delays.append(now - float(line[3:-2]))
                first = False


async def attach_latency(kind: str, url: str, runs: int, tokens: int) -> list[float]:
    name = prefix(f"attach-{kind}")
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--produce", kind, "--redis-url", url, "--prefix", name,
        "--runs", str(runs), "--tokens", str(tokens),
    )  # fmt: skip
    delays: list[float] = []
    try:
        if kind == "ours":
            async with RedisStore(url, prefix=name) as store:
                await asyncio.gather(*(ours_attach(store, i, delays) for i in range(runs)))
        else:
            client = redis_asyncio.Redis.from_url(url)
            context = create_resumable_stream_context(
                store=create_redis_resumable_stream_store(client, key_prefix=name)
            )
            await asyncio.gather(*(anchor_attach(context, i, delays) for i in range(runs)))
            await client.aclose()
    finally:
        await child.wait()
    return delays


async def ours_attach(store: RedisStore, index: int, delays: list[float]) -> None:
    while (found := await store.get(f"run_{index}")) is None or found.length < 1:  # noqa: ASYNC110
        await asyncio.sleep(0.005)  # finding the run's start is not what is measured
    await follow_stamps(await read_run(store, found, DATA_STREAM, heartbeat=None), delays)


async def anchor_attach(context: Any, index: int, delays: list[float]) -> None:
    while (stream := await context.resume(f"run_{index}")) is None:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    await follow_stamps(stream, delays)


# -- (c) streams one process sustains ---------------------------------------------------------


async def added_latencies(
    make_store: Callable[[], RunStore], streams: int, tokens: int
) -> list[float]:
    """``streams`` runs at 20 tokens/s, each read by its own reader on the same store."""
    store = make_store()
    delays: list[float] = []

    async def one(index: int) -> None:
        # Started over a second, as requests arrive; the first token of each run is its start,
        # not the steady state, and is left out (follow_stamps) as a reader attached after it.
        await asyncio.sleep(index / streams)
        started = await record(store, sb.create_run(stamped_run(tokens)), "data-stream")
        reader = await read_run(store, started, DATA_STREAM, heartbeat=None)
        own: list[float] = []
        await follow_stamps(reader, own)
        delays.extend(own)

    try:
        await asyncio.gather(*(one(index) for index in range(streams)))
    finally:
        if isinstance(store, RedisStore):
            await store.aclose()
    return delays


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def sustained(
    kind: str, url: str, tokens: int, start: int, limit: int
) -> tuple[int, float, float]:
    """The most streams with p99 added latency under 50 ms (doubling, then bisecting), that
    p99 and that trial's CPU time per token (``time.process_time()``, seconds).  Each trial
    runs in a fresh process (``--trial``), as a server would: what an earlier trial or phase
    left on the heap makes the garbage collector's pauses longer, and at this load those
    pauses are what decides the p99."""

    async def ok(streams: int) -> float | None:
        trial = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--trial", kind, "--redis-url", url,
            "--prefix", prefix("sustain"), "--runs", str(streams), "--tokens", str(tokens),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await trial.communicate()
        if trial.returncode != 0:
            raise RuntimeError(f"the {kind} trial at {streams} streams failed")
        p99, cpu = map(float, out.split())
        return (p99, cpu) if p99 < 0.050 else None

    low, best, high = 0, (0.0, 0.0), start
    while high <= limit and (found := await ok(high)) is not None:
        low, best, high = high, found, high * 2
    high = min(high, limit + 1)
    while high - low > max(25, low // 10):
        middle = (low + high) // 2
        if (found := await ok(middle)) is not None:
            low, best = middle, found
        else:
            high = middle
    return low, *best


async def trial(kind: str, url: str, name: str, streams: int, tokens: int) -> None:
    """One trial of (c), in a process of its own: prints the p99 added latency and the CPU
    time per token (seconds)."""
    make_store: Callable[[], RunStore] = (
        MemoryStore if kind == "memory" else lambda: RedisStore(url, prefix=name)
    )
    # Imported before the clock starts, as a server's are before its first request: with
    # PYTHONDONTWRITEBYTECODE set, the store's first use would compile coredis (0.3 s, which
    # at 600 streams is 7 us a token) inside the trial.
    import coredis  # noqa: F401

    began = time.process_time()
    delays = await added_latencies(make_store, streams, tokens)
    cpu = (time.process_time() - began) / (streams * tokens)
    print(percentile(delays, 0.99), cpu)


class CountingStore(RedisStore):
    """A RedisStore that counts its round trips: each command sent alone, each pipeline."""

    round_trips = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        client = self.client
        execute, pipeline = client.execute_command, client.pipeline

        async def counted_execute(*args: Any, **kwargs: Any) -> Any:
            CountingStore.round_trips += 1
            return await execute(*args, **kwargs)

        def counted_pipeline(*args: Any, **kwargs: Any) -> Any:
            CountingStore.round_trips += 1
            return pipeline(*args, **kwargs)

        client.execute_command = counted_execute
        client.pipeline = counted_pipeline


async def per_token(url: str, streams: int, tokens: int) -> tuple[float, float]:
    """Round trips and commands Redis ran (scripts' own included) per delivered token."""
    name = prefix("count")
    CountingStore.round_trips = 0
    before = await commands_processed(url)
    await added_latencies(lambda: CountingStore(url, prefix=name), streams, tokens)
    after = await commands_processed(url)
    delivered = streams * tokens
    return CountingStore.round_trips / delivered, (after - before - 1) / delivered


# -- report ------------------------------------------------------------------------------------


async def main(url: str, quick: bool) -> None:
    print(
        f"python {platform.python_version()}, streambridge {sb.__version__}, coredis "
        f"{version('coredis')}, assistant-stream {version('assistant-stream')} with redis-py "
        f"{version('redis')}, asyncio, Redis at {url}"
    )
    calls = 2_000 if quick else 20_000
    ours = await ours_burst(url, calls)
    anchor = await anchor_burst(url, calls)
    print(f"\n(a) burst of {calls:,} deltas through Redis, read by an attached reader")
    print(f"  streambridge RedisStore          {ours:12,.0f} deltas/s   {ours / anchor:.1f}x")
    print(f"  assistant-stream Redis store     {anchor:12,.0f} deltas/s")

    runs, tokens = (3, 10) if quick else (20, 60)
    print(f"\n(b) a reader on another process attached to {runs} runs at {RATE:.0f} tokens/s")
    for kind, label in (("ours", "streambridge RedisStore"), ("anchor", "assistant-stream")):
        delays = await attach_latency(kind, url, runs, tokens)
        print(
            f"  {label:31} p50 {percentile(delays, 0.5) * 1000:6.2f} ms   "
            f"p99 {percentile(delays, 0.99) * 1000:6.2f} ms   (n={len(delays)})"
        )

    tokens, start, limit = (10, 50, 100) if quick else (60, 200, 6_400)
    memory, memory_p99, memory_cpu = await sustained("memory", url, tokens, start, limit)
    kept, kept_p99, kept_cpu = await sustained("redis", url, tokens, start, limit)
    print(f"\n(c) streams one process sustains at {RATE:.0f} tokens/s, p99 added latency < 50 ms")
    print(f"  MemoryStore   {memory:6,} streams   (p99 {memory_p99 * 1000:.1f} ms,"
          f" CPU {memory_cpu * 1e6:.0f} us per token)")  # fmt: skip
    print(f"  RedisStore    {kept:6,} streams   (p99 {kept_p99 * 1000:.1f} ms,"
          f" CPU {kept_cpu * 1e6:.0f} us per token)   {kept / max(memory, 1):.2f}x")  # fmt: skip
    trips, commands = await per_token(url, max(kept, 1), tokens)
    print(f"  at {kept:,} streams, per delivered token: {trips:.2f} Redis round trips, "
          f"{commands:.2f} commands run by Redis (a script's own counted)")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller figures, for a smoke run")
    parser.add_argument("--redis-url", help="a Redis to use (default: a private redis-server)")
    parser.add_argument("--produce", choices=["ours", "anchor"], help=argparse.SUPPRESS)
    parser.add_argument("--trial", choices=["memory", "redis"], help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tokens", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trial:
        asyncio.run(trial(args.trial, args.redis_url, args.prefix, args.runs, args.tokens))
    elif args.produce:
        asyncio.run(produce(args.produce, args.redis_url, args.prefix, args.runs, args.tokens))
    elif args.redis_url:
        asyncio.run(main(args.redis_url, args.quick))
    else:
        with private_redis() as private_url:
            asyncio.run(main(private_url, args.quick))
