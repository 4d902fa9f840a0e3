"""The standard library's JSON encoder against orjson and msgspec, on data-stream payloads.

streambridge turns values into JSON in one place (``streambridge._jsonlib``): strings through
``json.encoder.encode_basestring`` and everything else through a compact
``JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode``.  This measures
those two calls against ``orjson.dumps`` and ``msgspec.json.Encoder().encode`` on the payloads
the data-stream encoder produces most: a short text delta, a tool call's argument delta and a
source.  Two figures per payload:

- call: the library's own call and its own result type (``str`` for the stdlib, ``bytes`` for
  orjson and msgspec);
- frame: one complete data-stream line as ``bytes`` (``0:"..."\\n``, ``c:{...}\\n``,
  ``h:{...}\\n``), each library in its natural way (the stdlib builds ``str`` and encodes it).

It also shows what each library does with NaN/Infinity (which no JavaScript client parses) and
with a lone surrogate.  Best of ``--repeats`` timings of about 50 ms each, after a warm-up, with
``time.perf_counter`` and the garbage collector enabled; calls are unrolled ten to a loop turn,
and every round times every operation once so machine noise spreads over all of them.

    uv run python benchmarks/json_libraries.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import msgspec
import orjson

LIBRARIES = ("stdlib", "orjson", "msgspec")
TARGET_SECONDS = 0.05  # per timed batch

stdlib_dumps_str: Callable[[str], str] = json.encoder.encode_basestring
stdlib_dumps: Callable[[Any], str] = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False
).encode
orjson_dumps: Callable[[Any], bytes] = orjson.dumps
msgspec_dumps: Callable[[Any], bytes] = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class Payload:
    name: str
    code: str  # the data-stream line's code
    value: Any


PAYLOADS = (
    Payload("text delta (ASCII)", "0", " Hello"),
    Payload("text delta (non-ASCII)", "0", " café ✓"),
    Payload(
        "tool-call args delta",
        "c",
        {"toolCallId": "call_Xq3vT8bN2kLm9pRs4wYz7aHc", "argsTextDelta": '{"city": "Par'},
    ),
    Payload(
        "source",
        "h",
        {
            "sourceType": "url",
            "id": "src_1",
            "url": "https://example.com/docs/streaming?page=2",
            "title": "Streaming responses",
        },
    ),
)


def calls(payload: Payload) -> dict[str, Callable[[Any], object]]:
    """Each library's own call for this payload."""
    stdlib = stdlib_dumps_str if isinstance(payload.value, str) else stdlib_dumps
    return {"stdlib": stdlib, "orjson": orjson_dumps, "msgspec": msgspec_dumps}


def frames(payload: Payload) -> dict[str, Callable[[Any], bytes]]:
    """Each library building one data-stream line as bytes."""
    head, head_bytes = payload.code + ":", (payload.code + ":").encode()
    stdlib = stdlib_dumps_str if isinstance(payload.value, str) else stdlib_dumps

    def stdlib_frame(value: Any) -> bytes:
        return (head + stdlib(value) + "\n").encode()

    def orjson_frame(value: Any) -> bytes:
        return head_bytes + orjson_dumps(value) + b"\n"

    def msgspec_frame(value: Any) -> bytes:
        return head_bytes + msgspec_dumps(value) + b"\n"

    return {"stdlib": stdlib_frame, "orjson": orjson_frame, "msgspec": msgspec_frame}


def time_loops(fn: Callable[[Any], object], value: Any, loops: int) -> float:
    """Seconds for ``loops`` turns of ten calls each."""
    start = time.perf_counter()
    for _ in range(loops):
        fn(value)
        fn(value)
        fn(value)
        fn(value)
        fn(value)
        fn(value)
        fn(value)
        fn(value)
        fn(value)
        fn(value)
    return time.perf_counter() - start


def calibrate(fn: Callable[[Any], object], value: Any) -> int:
    """Loop turns that take about ``TARGET_SECONDS`` (the first timing doubles as a warm-up)."""
    loops = 1_000
    elapsed = time_loops(fn, value, loops)
    return max(1, int(loops * TARGET_SECONDS / max(elapsed, 1e-9)))


def ops_per_second(
    ops: dict[str, tuple[Callable[[Any], object], Any]], repeats: int
) -> dict[str, float]:
    """Best rate of each op over ``repeats`` rounds; each round times every op once, so a slow
    spell of the machine hits all libraries alike rather than one of them."""
    loops = {name: calibrate(fn, value) for name, (fn, value) in ops.items()}
    best = dict.fromkeys(ops, float("inf"))
    for _ in range(repeats):
        for name, (fn, value) in ops.items():
            best[name] = min(best[name], time_loops(fn, value, loops[name]))
    return {name: loops[name] * 10 / best[name] for name in ops}


def check_identical(payload: Payload) -> None:
    outputs = {name: frame(payload.value) for name, frame in frames(payload).items()}
    if len(set(outputs.values())) != 1:
        raise AssertionError(f"{payload.name}: the libraries disagree: {outputs}")


# -- what each library does with values a JavaScript client cannot take ------------------------

EDGE_CASES: tuple[tuple[str, Any], ...] = (
    ("NaN in a tool result", {"toolCallId": "call_1", "result": math.nan}),
    ("Infinity in a tool result", {"toolCallId": "call_1", "result": math.inf}),
    ("lone surrogate in text", "half an emoji \ud83d"),
)


@dataclass(frozen=True)
class Outcome:
    summary: str  # a few words, for the summary table
    detail: str  # what exactly came back


def outcome(fn: Callable[[Any], object], value: Any) -> Outcome:
    try:
        result = fn(value)
    except Exception as exc:
        return Outcome(f"raises {type(exc).__name__}", f"raises {type(exc).__name__}: {exc}")
    text = result.decode() if isinstance(result, bytes) else str(result)
    detail = "returns " + text.encode("ascii", "backslashreplace").decode()
    try:
        text.encode()
    except UnicodeEncodeError:
        return Outcome(
            "passes it through (not UTF-8)",
            detail + " (a str holding the raw surrogate, which is not UTF-8)",
        )
    if "null" in text:
        return Outcome("silently writes null", detail)
    return Outcome("returns " + text, detail)


@dataclass
class Results:
    repeats: int
    call_rates: dict[str, dict[str, float]] = field(default_factory=dict)  # payload -> lib -> op/s
    frame_rates: dict[str, dict[str, float]] = field(default_factory=dict)
    edge_cases: dict[str, dict[str, Outcome]] = field(default_factory=dict)  # case -> lib


def measure(repeats: int) -> Results:
    results = Results(repeats=repeats)
    ops: dict[str, tuple[Callable[[Any], object], Any]] = {}
    for payload in PAYLOADS:
        check_identical(payload)
        for measure, table in (("call", calls(payload)), ("frame", frames(payload))):
            for library, fn in table.items():
                ops[f"{measure}/{payload.name}/{library}"] = (fn, payload.value)
    rates = ops_per_second(ops, repeats)
    for payload in PAYLOADS:
        for measure, rate_table in (("call", results.call_rates), ("frame", results.frame_rates)):
            rate_table[payload.name] = {
                library: rates[f"{measure}/{payload.name}/{library}"] for library in LIBRARIES
            }
    for case, value in EDGE_CASES:
        fns = calls(Payload(case, "", value))
        results.edge_cases[case] = {name: outcome(fn, value) for name, fn in fns.items()}
    return results


def print_results(results: Results) -> None:
    print(
        f"JSON on data-stream payloads: Python {sys.version.split()[0]} json, "
        f"orjson {version('orjson')}, msgspec {version('msgspec')}; "
        f"best of {results.repeats} after a warm-up (gc enabled)"
    )
    print("identical bytes from all three libraries for every payload: yes")
    for title, table in (
        ("call (the library's own result type)", results.call_rates),
        ("frame (one data-stream line as bytes)", results.frame_rates),
    ):
        print()
        print(f"{title:<40}{'stdlib':>12}{'orjson':>12}{'msgspec':>12}   orjson/std  msgspec/std")
        for payload, rates in table.items():
            std = rates["stdlib"]
            print(
                f"  {payload:<38}"
                + "".join(f"{rates[name] / 1e6:>9.2f} M/s" for name in LIBRARIES)
                + f"{rates['orjson'] / std:>12.2f}x{rates['msgspec'] / std:>12.2f}x"
            )
    print()
    print("values a JavaScript client cannot take (stdlib: encode_basestring / allow_nan=False):")
    for case, outcomes in results.edge_cases.items():
        print(f"  {case}")
        for name in LIBRARIES:
            print(f"    {name:<8} {outcomes[name].detail}")


def run(repeats: int = 5) -> Results:
    """Measure everything, print it, and return it."""
    results = measure(repeats)
    print_results(results)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=5, help="timed batches per op (best of)")
    args = parser.parse_args(argv)
    run(repeats=args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
