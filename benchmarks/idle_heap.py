"""Where an idle open stream's memory goes: the Python heap per stream, by source line.

``serving.py`` (2) measures the server's RSS per idle stream; this shows what it is made of.
It serves ``--streams`` requests through ``StreamApp`` in this process, with a stand-in ASGI
server (a ``receive`` that hands over the body and then waits for a disconnect that never
comes, a ``send`` that drops the bytes), the run of (2) (one delta, then a one-hour sleep) and
every option at its default.  ``tracemalloc`` compares the heap with the streams open against
the heap before, and charges each allocation to the innermost streambridge line that led to it
(or to the stand-in server, or to "elsewhere").

    uv run python benchmarks/idle_heap.py [--streams N] [--top K]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import linecache
import tracemalloc
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import stand_in_server
from streambridge.asgi import StreamApp

HARNESS = "stand-in server"
HARNESS_FILES = {__file__, stand_in_server.__file__}


async def hang(controller: Any) -> None:
    controller.append_text("x")
    await asyncio.sleep(3600)


async def serve_one(app: StreamApp, first_delta: asyncio.Future[None]) -> None:
    """One request; ``first_delta`` is set when the app has sent its first body bytes."""

    def on_send(message: dict[str, Any]) -> None:
        if message.get("body") and not first_delta.done():
            first_delta.set_result(None)

    await stand_in_server.serve_one(app, on_send)


def where(traceback: tracemalloc.Traceback) -> str:
    for frame in reversed(traceback):  # innermost first
        if "/streambridge/" in frame.filename:
            line = linecache.getline(frame.filename, frame.lineno).strip()
            return f"{frame.filename.split('/streambridge/')[-1]}:{frame.lineno}  {line[:60]}"
        if frame.filename in HARNESS_FILES:
            return HARNESS
    return "elsewhere"


async def open_streams(app: StreamApp, count: int) -> list[asyncio.Task[None]]:
    loop = asyncio.get_running_loop()
    firsts = [loop.create_future() for _ in range(count)]
    tasks = [loop.create_task(serve_one(app, first)) for first in firsts]
    await asyncio.gather(*firsts)
    await asyncio.sleep(0.2)  # idle: every stream has sent its delta and waits
    return tasks


async def measure(streams: int, top: int, show: Callable[[str], object]) -> None:
    app = StreamApp(hang)
    warm = await open_streams(app, 5)  # imports, caches and the loop's own structures
    gc.collect()
    tracemalloc.start(30)
    before = tracemalloc.take_snapshot()
    tasks = await open_streams(app, streams)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    diff = after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "traceback")
    charged: Counter[str] = Counter()
    for stat in diff:
        charged[where(stat.traceback)] += stat.size_diff
    total = sum(charged.values())
    ours = total - charged[HARNESS] - charged["elsewhere"]
    show(f"Python heap per idle stream, {streams:,} streams: {total / streams:,.0f} B in all,")
    show(f"{ours / streams:,.0f} B charged to streambridge lines (the run's own sleep included)")
    show("")
    for place, size in charged.most_common(top):
        show(f"{size / streams:7,.0f} B  {place}")
    await cancel(warm + tasks)


async def cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=2_000)
    parser.add_argument("--top", type=int, default=30, help="lines to list")
    args = parser.parse_args()
    run: Callable[[], Awaitable[None]] = lambda: measure(args.streams, args.top, print)  # noqa: E731
    asyncio.run(run())


if __name__ == "__main__":
    main()
