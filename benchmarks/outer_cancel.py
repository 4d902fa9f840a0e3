"""(d) A consumer cancelled from outside: does the run stop?

A web server that sees a client leave cancels the task that streams the response, through a cancel
scope around it (Starlette does exactly this).  The chunk stream is then not closed by
``aclose()``: its consumer is cancelled while it waits.  This measures, for streambridge and
assistant-stream 0.0.36, the time from the outer cancel scope's exit until the run's ``finally``
ran, with a run that streams one chunk and then waits on a slow call (a model that has not
answered yet), never looking at ``is_cancelled``.  A run still going ``--wait`` seconds later
counts as never stopped; 0 ms means it had stopped before the cancel scope was left.

    uv run python benchmarks/outer_cancel.py [--trials N] [--wait SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from assistant_stream import create_run as assistant_stream_create_run

import streambridge as sb


@dataclass
class Outcome:
    stopped_ms: list[float]
    never_stopped: int


async def one_trial(create_run: Callable[[Any], AsyncIterator[Any]], wait: float) -> float | None:
    finished: list[float] = []
    finished_event = asyncio.Event()

    async def run(controller: Any) -> None:
        try:
            controller.append_text("x")
            await asyncio.sleep(3600)  # the slow call
        finally:
            finished.append(time.perf_counter())
            finished_event.set()

    with anyio.move_on_after(0.05):
        async for _chunk in create_run(run):
            pass
    cancelled_at = time.perf_counter()
    try:
        await asyncio.wait_for(finished_event.wait(), wait)
    except TimeoutError:
        return None
    return max(0.0, (finished[0] - cancelled_at) * 1000)


async def measure(trials: int, wait: float) -> dict[str, Outcome]:
    libraries: dict[str, Callable[[Any], AsyncIterator[Any]]] = {
        "streambridge": sb.create_run,
        "assistant-stream": assistant_stream_create_run,
    }
    outcomes = {name: Outcome([], 0) for name in libraries}
    for _ in range(trials):
        for name, create_run in libraries.items():
            result = await one_trial(create_run, wait)
            if result is None:
                outcomes[name].never_stopped += 1
            else:
                outcomes[name].stopped_ms.append(result)
    return outcomes


def table(outcomes: dict[str, Outcome], trials: int, wait: float) -> list[str]:
    lines = [
        f"| (d) consumer cancelled by an outer scope, asyncio, {trials} trials | run stopped "
        f"(median / max ms after the cancel) | still running {wait:g} s later |",
        "|---|---:|---:|",
    ]
    for name, outcome in outcomes.items():
        stopped = (
            f"{statistics.median(outcome.stopped_ms):.3f} / {max(outcome.stopped_ms):.3f}"
            if outcome.stopped_ms
            else "never"
        )
        lines.append(f"| {name} | {stopped} | {outcome.never_stopped} of {trials} |")
    return lines


def run(trials: int = 10, wait: float = 1.0) -> list[str]:
    outcomes = asyncio.run(measure(trials, wait))
    lines = table(outcomes, trials, wait)
    print("\n".join(lines))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--wait", type=float, default=1.0)
    args = parser.parse_args()
    run(args.trials, args.wait)


if __name__ == "__main__":
    main()
