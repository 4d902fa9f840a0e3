"""Run every benchmark in one process and end with a Markdown summary (what ``make bench`` runs).

uv run python benchmarks/run_all.py [--repeats 5] [--trials 50] [--skip-serving]

The serving section (``serving.py`` and ``hosts.py``, about 4.5 minutes of real servers) also
rewrites ``serving.py``'s plot, ``docs/_static/serving.svg``.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import bridges
import core_throughput
import hosts
import json_libraries
import outer_cancel
import protocol_encoding
import serving

ROOT = Path(__file__).resolve().parent.parent


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
    ).stdout.strip()


def source_revision() -> str:
    """The commit measured, and whether ``src/`` differed from it."""
    try:
        commit = git("rev-parse", "--short", "HEAD")
        changes = git("status", "--porcelain", "--", "src")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return commit + (" with uncommitted changes in src/" if changes else "")


def rate(value: float) -> str:
    return f"{value:,.0f} chunks/s"


def latency(value: core_throughput.Cancellation) -> str:
    return f"{value.median_ms:.3f} / {value.max_ms:.3f} ms"


def how_it_ended(value: core_throughput.Cancellation) -> str:
    text = f"ended by {value.ended_by}"
    if value.calls_after_close:
        text += f", {value.calls_after_close:,} calls after aclose()"
    if value.warnings_logged:
        text += f", {value.warnings_logged} warnings logged"
    return text


def core_table(results: core_throughput.Results) -> list[str]:
    rates, found = results.rates, results.cancellations
    lines = [
        "| figure | streambridge | assistant-stream 0.0.36 | streambridge / assistant-stream |",
        "|---|---:|---:|---:|",
    ]
    for case, label in (("raw", "(a) raw chunk stream"), ("encoded", "(b) data-stream bytes")):
        sb_rate = rates[f"asyncio/streambridge/{case}"]
        as_rate = rates[f"asyncio/assistant-stream/{case}"]
        lines.append(
            f"| {label}, asyncio, best of {results.repeats} | {rate(sb_rate)} | {rate(as_rate)} "
            f"| {sb_rate / as_rate:.2f}x throughput |"
        )
    for case, label in core_throughput.CANCELLATION_LABELS.items():
        ours = found[f"asyncio/streambridge/{case}"]
        theirs = found.get(f"asyncio/assistant-stream/{case}")
        if theirs is None:
            anchor_cell, ratio_cell = "n/a (fixed 50 ms grace)", ""
        else:
            anchor_cell = f"{latency(theirs)} ({how_it_ended(theirs)})"
            ratio_cell = f"{ours.median_ms / theirs.median_ms:.2f}x latency (median)"
        lines.append(
            f"| (c) {label}, asyncio, median / max of {ours.trials} "
            f"| {latency(ours)} ({how_it_ended(ours)}) | {anchor_cell} | {ratio_cell} |"
        )
    for case, label in (("raw", "(a) raw chunk stream"), ("encoded", "(b) data-stream bytes")):
        lines.append(
            f"| {label}, trio, best of {results.repeats} "
            f"| {rate(rates[f'trio/streambridge/{case}'])} | n/a | |"
        )
    for case, label in core_throughput.CANCELLATION_LABELS.items():
        trio = found[f"trio/streambridge/{case}"]
        lines.append(
            f"| (c) {label}, trio, median / max of {trio.trials} "
            f"| {latency(trio)} ({how_it_ended(trio)}) | n/a | |"
        )
    return lines


def json_table(results: json_libraries.Results) -> list[str]:
    lines = [
        "| payload | measure | stdlib json | orjson | msgspec "
        "| orjson / stdlib | msgspec / stdlib |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for measure, table in (("call", results.call_rates), ("frame", results.frame_rates)):
        for payload, rates in table.items():
            std, orj, msg = rates["stdlib"], rates["orjson"], rates["msgspec"]
            lines.append(
                f"| {payload} | {measure} | {std / 1e6:.2f} M/s | {orj / 1e6:.2f} M/s "
                f"| {msg / 1e6:.2f} M/s | {orj / std:.2f}x | {msg / std:.2f}x |"
            )
    for case, outcomes in results.edge_cases.items():
        cells = " | ".join(outcomes[name].summary for name in json_libraries.LIBRARIES)
        lines.append(f"| {case} | behaviour | {cells} | | |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case (best of)")
    parser.add_argument("--trials", type=int, default=50, help="cancellation trials per case")
    parser.add_argument(
        "--skip-serving",
        action="store_true",
        help="leave out serving.py and hosts.py (real servers)",
    )
    args = parser.parse_args(argv)

    revision = source_revision()  # before measuring: what was imported is what was measured
    started = time.perf_counter()
    print("== benchmarks/core_throughput.py ==")
    core = core_throughput.run(repeats=args.repeats, trials=args.trials)
    print()
    print("== benchmarks/json_libraries.py ==")
    json_results = json_libraries.run(repeats=args.repeats)
    print()
    print("== benchmarks/outer_cancel.py ==")
    outer_lines = outer_cancel.run()
    print()
    print("== benchmarks/protocol_encoding.py ==")
    protocol_lines = protocol_encoding.run(repeats=args.repeats)
    print()
    print("== benchmarks/bridges.py ==")
    bridge_lines = bridges.report(repeats=args.repeats, deltas=bridges.DELTAS)
    serving_lines: list[str] = []
    if not args.skip_serving:
        print()
        print("== benchmarks/serving.py ==")
        serving_lines = serving.run()
        print()
        print("== benchmarks/hosts.py ==")
        serving_lines += ["", "Per host:", "", *hosts.run()]
    elapsed = time.perf_counter() - started

    print()
    print("## Summary")
    print()
    print(
        f"streambridge at {revision}; Python {platform.python_version()} on "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs; "
        f"best of {args.repeats} (throughput), {args.trials} trials (latency); "
        f"total {elapsed:.0f} s."
    )
    print()
    print(
        "(c) is the time from calling aclose() on the chunk stream until the run's finally "
        "block ran; ratios above 1 mean streambridge is faster (throughput) or slower (latency)."
    )
    print()
    print("\n".join(core_table(core)))
    print()
    print("\n".join(json_table(json_results)))
    print()
    print("\n".join(outer_lines))
    print()
    print("\n".join(protocol_lines))
    print()
    print("\n".join(bridge_lines))
    if serving_lines:
        print()
        print("\n".join(serving_lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
