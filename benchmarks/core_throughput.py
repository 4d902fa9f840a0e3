"""streambridge's run engine and data-stream encoder against assistant-stream 0.0.36.

Three figures, all in this one process:

(a) raw chunks: a run makes 200,000 ``append_text("x")`` calls and the consumer iterates the
    chunk stream;
(b) data-stream bytes: the same run encoded to data-stream bytes and the bytes iterated;
(c) cancellation latency: a run blocked in an ``await`` (it never looks at ``is_cancelled``) has
    its stream closed after the first chunk; the figure is the time from calling ``aclose()``
    until the run's ``finally`` block has executed.  Three more shapes of run are timed the same
    way: one that awaits its cancellation signal, the loop of (a) without an end (closed after
    5,000 chunks) and, for streambridge, the blocked run with ``create_run(grace=0)``.

The comparison runs on asyncio (assistant-stream is asyncio-only); streambridge's own figures on
trio follow.  Throughput is the best of ``--repeats`` runs after a warm-up run, timed with
``time.perf_counter`` and the garbage collector enabled.  Warnings the libraries log during the
cancellation trials are counted, not printed.

    uv run python benchmarks/core_throughput.py [--repeats 5] [--trials 50]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import anyio
from assistant_stream import RunController as AsRunController
from assistant_stream import create_run as as_create_run
from assistant_stream.serialization.data_stream import DataStreamEncoder as AsDataStreamEncoder

import streambridge as sb

N_CALLS = 200_000
YIELD_EVERY = 1_000
TEXT_FRAME = b'0:"x"\n'  # what one append_text("x") becomes in the data-stream protocol

Case = Callable[[], Awaitable[int]]


# -- the runs: the same loop for both libraries ----------------------------------------------


async def sb_text_run(controller: sb.RunController) -> None:
    for i in range(N_CALLS):
        controller.append_text("x")
        if i % YIELD_EVERY == YIELD_EVERY - 1:
            # streambridge's backpressure point.  It only suspends while more than high_water
            # (default 1,024) chunks are unread; a loop that never awaits would hit max_buffered
            # (default 100,000) and be stopped by design.
            await controller.drain()


async def as_text_run(controller: AsRunController) -> None:
    for i in range(N_CALLS):
        controller.append_text("x")
        if i % YIELD_EVERY == YIELD_EVERY - 1:
            await asyncio.sleep(0)


# -- (a) and (b): the consumers ----------------------------------------------------------------


async def sb_raw() -> int:
    count = 0
    async for _chunk in sb.create_run(sb_text_run):
        count += 1
    return count


async def as_raw() -> int:
    count = 0
    async for _chunk in as_create_run(as_text_run):
        count += 1
    return count


async def sb_encoded() -> int:
    size = 0
    async for data in sb.encode(sb.create_run(sb_text_run), protocol="data-stream"):
        size += len(data)
    return size


async def as_encoded() -> int:
    size = 0
    async for text in AsDataStreamEncoder().encode_stream(as_create_run(as_text_run)):
        size += len(text.encode("utf-8"))  # what its StreamingResponse does with each str
    return size


async def sb_encoded_body() -> tuple[bytes, int]:
    parts = [data async for data in sb.encode(sb.create_run(sb_text_run), protocol="data-stream")]
    return b"".join(parts), len(parts)


async def as_encoded_body() -> tuple[bytes, int]:
    encoder = AsDataStreamEncoder()
    parts = [
        text.encode("utf-8") async for text in encoder.encode_stream(as_create_run(as_text_run))
    ]
    return b"".join(parts), len(parts)


def expect(condition: bool, message: str) -> None:
    """Like ``assert``, but not stripped by ``python -O``."""
    if not condition:
        raise AssertionError(message)


async def check_outputs(backend: str) -> dict[str, int]:
    """Check both libraries produce what the benchmark claims; return their byte-item counts."""
    texts = [
        chunk.text_delta if isinstance(chunk, sb.chunks.TextDelta) else repr(chunk)
        async for chunk in sb.create_run(sb_text_run)
    ]
    expect(texts == ["x"] * N_CALLS, "streambridge: not 200,000 'x' text deltas")
    body, sb_writes = await sb_encoded_body()
    frames = TEXT_FRAME * N_CALLS
    expect(body[: len(frames)] == frames, "streambridge: unexpected data-stream bytes")
    expect(body[len(frames) :].startswith(b"d:"), "streambridge: no finish frame")
    writes = {"streambridge": sb_writes}
    if backend == "asyncio":
        texts = [
            chunk.text_delta if chunk.type == "text-delta" else repr(chunk)
            async for chunk in as_create_run(as_text_run)
        ]
        expect(texts == ["x"] * N_CALLS, "assistant-stream: not 200,000 'x' text deltas")
        body, as_writes = await as_encoded_body()
        expect(body == frames, "assistant-stream: unexpected data-stream bytes")
        writes["assistant-stream"] = as_writes
    return writes


async def wall_times(cases: dict[str, Case], repeats: int) -> dict[str, list[float]]:
    """Wall time of each case in ``repeats`` runs, the cases interleaved, after a warm-up run."""
    for case in cases.values():
        await case()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, case in cases.items():
            gc.collect()
            start = time.perf_counter()
            await case()
            times[name].append(time.perf_counter() - start)
    return times


# -- (c) cancellation latency ------------------------------------------------------------------

CONSUMED_BEFORE_BUSY_CLOSE = 5_000  # chunks the consumer reads before it closes a busy run


@dataclass
class Probe:
    """What one cancellation trial saw: the run writes the first fields, the trial the rest."""

    calls: int = 0  # append_text calls the run made
    finally_at: float | None = None  # perf_counter when the run's finally ran
    ended_by: str = "return"  # the exception that ended the run
    calls_at_close: int = 0
    closed_at: float = 0.0  # perf_counter just before aclose()

    @contextmanager
    def watch(self) -> Iterator[None]:
        """Wrap a run's body: records how it ended and when its ``finally`` ran."""
        try:
            yield
        except BaseException as exc:
            self.ended_by = type(exc).__name__
            raise
        finally:
            self.finally_at = time.perf_counter()


SbRun = Callable[[sb.RunController], Awaitable[None]]
AsRun = Callable[[AsRunController], Awaitable[None]]


def sb_blocked_run(probe: Probe) -> SbRun:
    async def run(controller: sb.RunController) -> None:
        with probe.watch():
            controller.append_text("x")
            await anyio.sleep_forever()  # never looks at is_cancelled

    return run


def as_blocked_run(probe: Probe) -> AsRun:
    async def run(controller: AsRunController) -> None:
        with probe.watch():
            controller.append_text("x")
            await asyncio.Event().wait()  # never looks at is_cancelled

    return run


def sb_cooperative_run(probe: Probe) -> SbRun:
    async def run(controller: sb.RunController) -> None:
        with probe.watch():
            controller.append_text("x")
            await controller.cancelled.wait()

    return run


def as_cooperative_run(probe: Probe) -> AsRun:
    async def run(controller: AsRunController) -> None:
        with probe.watch():
            controller.append_text("x")
            await controller.cancelled_event.wait()

    return run


def sb_busy_run(probe: Probe) -> SbRun:
    """The loop of (a) and (b), without an end: it only stops when it is stopped."""

    async def run(controller: sb.RunController) -> None:
        with probe.watch():
            for i in range(10**12):
                controller.append_text("x")
                probe.calls += 1
                if i % YIELD_EVERY == YIELD_EVERY - 1:
                    await controller.drain()

    return run


def as_busy_run(probe: Probe) -> AsRun:
    """The loop of (a) and (b), without an end: it only stops when it is stopped."""

    async def run(controller: AsRunController) -> None:
        with probe.watch():
            for i in range(10**12):
                controller.append_text("x")
                probe.calls += 1
                if i % YIELD_EVERY == YIELD_EVERY - 1:
                    await asyncio.sleep(0)

    return run


async def sb_cancel_trial(make_run: Callable[[Probe], SbRun], read: int, **options: Any) -> Probe:
    probe = Probe()
    stream = sb.create_run(make_run(probe), **options)
    for _ in range(read):
        await stream.__anext__()
    probe.calls_at_close = probe.calls
    probe.closed_at = time.perf_counter()
    await stream.aclose()
    expect(probe.finally_at is not None, "streambridge: aclose() returned before the finally ran")
    return probe


async def as_cancel_trial(make_run: Callable[[Probe], AsRun], read: int) -> Probe:
    probe = Probe()
    stream = as_create_run(make_run(probe))
    for _ in range(read):
        await stream.__anext__()
    probe.calls_at_close = probe.calls
    probe.closed_at = time.perf_counter()
    await stream.aclose()
    expect(probe.finally_at is not None, "assistant-stream: aclose() returned before the finally")
    return probe


class LogCounter(logging.Handler):
    """Counts the warnings and errors the libraries log (instead of printing them)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@contextmanager
def counting_library_logs() -> Iterator[LogCounter]:
    counter = LogCounter()
    loggers = [logging.getLogger(name) for name in ("streambridge", "assistant_stream")]
    saved = [logger.propagate for logger in loggers]
    for logger in loggers:
        logger.addHandler(counter)
        logger.propagate = False
    try:
        yield counter
    finally:
        for logger, propagate in zip(loggers, saved, strict=True):
            logger.removeHandler(counter)
            logger.propagate = propagate


@dataclass
class Cancellation:
    """A cancellation case over its trials."""

    trials: int
    median_ms: float  # aclose() called -> the run's finally ran
    max_ms: float
    ended_by: str  # the exception(s) that ended the run
    calls_after_close: int  # median append_text calls the run made after aclose() was called
    warnings_logged: int


async def cancellation(trial: Callable[[], Awaitable[Probe]], trials: int) -> Cancellation:
    with counting_library_logs():
        await trial()  # warm-up
    with counting_library_logs() as logs:
        probes = [await trial() for _ in range(trials)]
    latencies = [p.finally_at - p.closed_at for p in probes if p.finally_at is not None]
    return Cancellation(
        trials=trials,
        median_ms=statistics.median(latencies) * 1e3,
        max_ms=max(latencies) * 1e3,
        ended_by=", ".join(sorted({p.ended_by for p in probes})),
        calls_after_close=int(statistics.median(p.calls - p.calls_at_close for p in probes)),
        warnings_logged=logs.count,
    )


def cancellation_cases(backend: str, trials: int) -> dict[str, Callable[[], Awaitable[Probe]]]:
    """The cases as "library/case" -> one trial, assistant-stream's only on asyncio."""
    busy_read = CONSUMED_BEFORE_BUSY_CLOSE
    cases: dict[str, Callable[[], Awaitable[Probe]]] = {
        "streambridge/blocked": lambda: sb_cancel_trial(sb_blocked_run, 1),
        "assistant-stream/blocked": lambda: as_cancel_trial(as_blocked_run, 1),
        "streambridge/cooperative": lambda: sb_cancel_trial(sb_cooperative_run, 1),
        "assistant-stream/cooperative": lambda: as_cancel_trial(as_cooperative_run, 1),
        "streambridge/busy": lambda: sb_cancel_trial(sb_busy_run, busy_read),
        "assistant-stream/busy": lambda: as_cancel_trial(as_busy_run, busy_read),
        "streambridge/blocked-grace0": lambda: sb_cancel_trial(sb_blocked_run, 1, grace=0),
    }
    if backend != "asyncio":
        cases = {name: case for name, case in cases.items() if name.startswith("streambridge/")}
    return cases


CANCELLATION_LABELS = {
    "blocked": "blocked in an await",
    "cooperative": "awaits its cancel signal",
    "busy": f"busy (a) loop, closed after {CONSUMED_BEFORE_BUSY_CLOSE:,} chunks",
    "blocked-grace0": "blocked, create_run(grace=0)",
}


def busy_trials(trials: int) -> int:
    return max(1, min(trials, 20))  # each busy trial streams thousands of chunks


# -- the two halves: asyncio (the comparison) and trio (streambridge only) ---------------------


@dataclass
class Results:
    """Everything one run of this module measured, for ``run_all.py``'s summary."""

    repeats: int
    trials: int
    rates: dict[str, float] = field(default_factory=dict)  # "backend/library/case" -> chunks/s
    median_rates: dict[str, float] = field(default_factory=dict)  # the same, median run
    writes: dict[str, int] = field(default_factory=dict)  # "backend/library" -> byte items in (b)
    cancellations: dict[str, Cancellation] = field(default_factory=dict)  # "backend/library/case"


def record_rates(results: Results, backend: str, times: dict[str, list[float]]) -> None:
    for name, samples in times.items():
        results.rates[f"{backend}/{name}"] = N_CALLS / min(samples)
        results.median_rates[f"{backend}/{name}"] = N_CALLS / statistics.median(samples)


async def measure(results: Results, backend: str) -> None:
    writes = await check_outputs(backend)
    results.writes.update({f"{backend}/{library}": n for library, n in writes.items()})
    cases: dict[str, Case] = {
        "streambridge/raw": sb_raw,
        "assistant-stream/raw": as_raw,
        "streambridge/encoded": sb_encoded,
        "assistant-stream/encoded": as_encoded,
    }
    if backend != "asyncio":
        cases = {name: case for name, case in cases.items() if name.startswith("streambridge/")}
    record_rates(results, backend, await wall_times(cases, results.repeats))
    for name, trial in cancellation_cases(backend, results.trials).items():
        trials = busy_trials(results.trials) if name.endswith("/busy") else results.trials
        results.cancellations[f"{backend}/{name}"] = await cancellation(trial, trials)


async def measure_asyncio(results: Results) -> None:
    await measure(results, "asyncio")


async def measure_trio(results: Results) -> None:
    await measure(results, "trio")


# -- reporting ---------------------------------------------------------------------------------


def fmt_rate(rate: float) -> str:
    return f"{rate:>12,.0f} chunks/s"


def print_cancellations(results: Results, backend: str) -> None:
    print(
        f"(c) cancellation on {backend}: aclose() -> the run's finally ran, median / max over "
        f"{results.trials} trials ({busy_trials(results.trials)} for the busy run)"
    )
    print(
        f"    {'run':<42}{'library':<17}{'median ms':>10}{'max ms':>10}  "
        f"{'run ended by':<20}{'calls after':>12}{'logged':>7}"
    )
    for case, label in CANCELLATION_LABELS.items():
        for library in ("streambridge", "assistant-stream"):
            found = results.cancellations.get(f"{backend}/{library}/{case}")
            if found is None:
                continue
            print(
                f"    {label:<42}{library:<17}{found.median_ms:>10.3f}{found.max_ms:>10.3f}  "
                f"{found.ended_by:<20}{found.calls_after_close:>12,}{found.warnings_logged:>7}"
            )


def print_results(results: Results) -> None:
    rates, medians, writes = results.rates, results.median_rates, results.writes
    print(
        f"streambridge {version('streambridge')} vs assistant-stream "
        f"{version('assistant-stream')}, Python {platform.python_version()}, "
        f"anyio {version('anyio')}, trio {version('trio')}"
    )
    print(
        f"run: {N_CALLS:,} append_text('x') calls, yielding every {YIELD_EVERY:,}; "
        f"throughput is the best of {results.repeats} after a warm-up (gc enabled)"
    )
    print()
    print(f"{'asyncio':<34}{'streambridge':>21}  {'assistant-stream':>21}  {'sb/as':>9}")
    for case, label in (("raw", "(a) raw chunk stream"), ("encoded", "(b) data-stream bytes")):
        for kind, table in (("best run", rates), ("median run", medians)):
            ours = table[f"asyncio/streambridge/{case}"]
            anchor = table[f"asyncio/assistant-stream/{case}"]
            title = f"{label}, {kind}"
            print(f"{title:<34}{fmt_rate(ours)}  {fmt_rate(anchor)}  {ours / anchor:8.2f}x")
    print(
        f"    (b) byte items: streambridge {writes['asyncio/streambridge']:,} (one per batch), "
        f"assistant-stream {writes['asyncio/assistant-stream']:,} (one per chunk)"
    )
    print()
    print_cancellations(results, "asyncio")
    print("    (assistant-stream's 50 ms grace before it cancels a run is fixed)")
    print()
    print("trio, streambridge only")
    for case, label in (("raw", "(a) raw chunk stream"), ("encoded", "(b) data-stream bytes")):
        for kind, table in (("best run", rates), ("median run", medians)):
            title = f"{label}, {kind}"
            print(f"{title:<34}{fmt_rate(table[f'trio/streambridge/{case}'])}")
    print(f"    (b) byte items: {writes['trio/streambridge']:,}")
    print()
    print_cancellations(results, "trio")


def run(repeats: int = 5, trials: int = 50) -> Results:
    """Measure everything, print it, and return it."""
    results = Results(repeats=repeats, trials=trials)
    asyncio.run(measure_asyncio(results))
    anyio.run(measure_trio, results, backend="trio")
    print_results(results)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case (best of)")
    parser.add_argument("--trials", type=int, default=50, help="cancellation trials per case")
    args = parser.parse_args(argv)
    run(repeats=args.repeats, trials=args.trials)
    return 0


if __name__ == "__main__":
    sys.exit(main())
