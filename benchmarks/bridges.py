"""Each input bridge against the same mapping written the way peers write it, in one process.

A model's stream is N text deltas (and its start and finish events), as the SDK's own types hold
them: ``openai``'s ``ChatCompletionChunk`` and Responses events, ``anthropic``'s raw message
events, built once from their JSON before any timing, by the function each SDK's stream builds
them with (``construct_type``, which does not validate).  Each case is a run that turns them into
chunks, served as a server would (``sb.encode(sb.create_run(run), "data-stream")`` iterated to
the end):

- bridge: ``await openai_chat(controller, events)`` (``openai_responses``,
  ``anthropic_messages``);
- peer-style: ``event.model_dump()`` per event and a hand mapping of the dict (text to
  ``append_text``, the finish and usage at the end), as peers' adapters and most hand-written
  runs do.

The figure is text deltas per second, best of ``--repeats`` rounds after a warm-up (each round
runs every case once), and the bridge's rate over the peer-style one.  A hosted model streams
50 to 200 tokens a second: a bridge that does hundreds of thousands is not a run's bottleneck.

    uv run python benchmarks/bridges.py [--repeats 5] [--deltas 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from anthropic._models import construct_type as anthropic_construct
from anthropic.types import RawMessageStreamEvent
from openai._models import construct_type as openai_construct
from openai.types.chat import ChatCompletionChunk
from openai.types.responses import ResponseStreamEvent

import streambridge as sb
from streambridge.bridges import anthropic_messages, openai_chat, openai_responses
from streambridge.client import accumulate, decode

DELTAS = 20_000
YIELD_EVERY = 1_000  # the peer-style runs yield as the bridges do: through drain()


def chat_events(deltas: int) -> list[Any]:
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {**base, "choices": [choice]}

    raw = [chunk({"role": "assistant", "content": ""})]
    raw += [chunk({"content": f"word{i % 50} "}) for i in range(deltas)]
    raw.append(chunk({}, "stop"))
    usage = {"prompt_tokens": 10, "completion_tokens": deltas, "total_tokens": deltas + 10}
    raw.append({**base, "choices": [], "usage": usage})
    return [openai_construct(type_=ChatCompletionChunk, value=event) for event in raw]


def responses_events(deltas: int) -> list[Any]:
    response = {"id": "resp_1", "object": "response", "created_at": 1, "model": "m", "output": []}
    response |= {"status": "in_progress", "parallel_tool_calls": True, "tool_choice": "auto"}
    response |= {"tools": []}
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    message = {"type": "message", "id": "msg_1", "role": "assistant", "status": "in_progress"}
    raw: list[dict[str, Any]] = [
        {"type": "response.created", "response": response},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {**message, "content": []},
        },
    ]
    raw += [
        {"type": "response.output_text.delta", **where, "delta": f"word{i % 50} ", "logprobs": []}
        for i in range(deltas)
    ]
    usage = {
        "input_tokens": 10,
        "output_tokens": deltas,
        "total_tokens": deltas + 10,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }
    done = {**response, "status": "completed", "usage": usage}
    raw.append({"type": "response.completed", "response": done})
    return [
        openai_construct(type_=ResponseStreamEvent, value={**event, "sequence_number": n})
        for n, event in enumerate(raw)
    ]


def anthropic_events(deltas: int) -> list[Any]:
    usage = {"input_tokens": 10, "output_tokens": 1}
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": []}
    message |= {"stop_reason": None, "stop_sequence": None, "usage": usage}
    block = {"type": "text", "text": ""}
    raw: list[dict[str, Any]] = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": block},
    ]
    raw += [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}
        for t in (f"word{i % 50} " for i in range(deltas))
    ]
    raw += [
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": deltas},
        },
        {"type": "message_stop"},
    ]
    return [anthropic_construct(type_=RawMessageStreamEvent, value=event) for event in raw]


# -- the peer-style mappings: a dict per event, mapped by hand ------------------------------------


async def chat_by_hand(controller: sb.RunController, events: list[Any]) -> None:
    usage: dict[str, Any] = {}
    finish = "stop"
    for n, event in enumerate(events):
        data = event.model_dump()
        if data.get("usage"):
            usage = data["usage"]
        for choice in data["choices"]:
            delta = choice["delta"]
            if delta.get("content"):
                controller.append_text(delta["content"])
            if choice.get("finish_reason"):
                finish = "stop" if choice["finish_reason"] == "stop" else "other"
        if n % YIELD_EVERY == 0:
            await controller.drain()
    controller.add_step_finish(
        finish,
        input_tokens=usage.get("prompt_tokens", 0),
        output_tokens=usage.get("completion_tokens", 0),
    )


async def responses_by_hand(controller: sb.RunController, events: list[Any]) -> None:
    for n, event in enumerate(events):
        data = event.model_dump()
        if data["type"] == "response.output_text.delta":
            controller.append_text(data["delta"])
        elif data["type"] == "response.completed":
            usage = data["response"]["usage"]
            controller.add_step_finish(
                "stop", input_tokens=usage["input_tokens"], output_tokens=usage["output_tokens"]
            )
        if n % YIELD_EVERY == 0:
            await controller.drain()


async def anthropic_by_hand(controller: sb.RunController, events: list[Any]) -> None:
    input_tokens = output_tokens = 0
    for n, event in enumerate(events):
        data = event.model_dump()
        kind = data["type"]
        if kind == "message_start":
            input_tokens = data["message"]["usage"]["input_tokens"]
        elif kind == "content_block_delta" and data["delta"]["type"] == "text_delta":
            controller.append_text(data["delta"]["text"])
        elif kind == "message_delta":
            output_tokens = data["usage"]["output_tokens"]
        if n % YIELD_EVERY == 0:
            await controller.drain()
    controller.add_step_finish("stop", input_tokens=input_tokens, output_tokens=output_tokens)


Mapping = Callable[[sb.RunController, list[Any]], Any]


@dataclass(frozen=True)
class Case:
    name: str
    make_events: Callable[[int], list[Any]]
    bridge: Mapping
    by_hand: Mapping


CASES = [
    Case("openai chat completions", chat_events, openai_chat, chat_by_hand),
    Case("openai responses", responses_events, openai_responses, responses_by_hand),
    Case("anthropic messages", anthropic_events, anthropic_messages, anthropic_by_hand),
]


async def served(mapping: Mapping, events: list[Any]) -> tuple[float, str]:
    """Seconds to serve the run as data-stream bytes, and the text the bytes carry."""

    async def run(controller: sb.RunController) -> None:
        await mapping(controller, events)

    pieces = []
    started = time.perf_counter()
    async for data in sb.encode(sb.create_run(run), "data-stream"):
        pieces.append(data)
    took = time.perf_counter() - started
    text = accumulate(decode(b"".join(pieces), "data-stream")).text
    return took, text


def measure(repeats: int, deltas: int) -> list[tuple[str, float, float]]:
    """For each case: its name, the bridge's and the peer-style mapping's deltas per second."""
    events = {case.name: case.make_events(deltas) for case in CASES}
    expected = "".join(f"word{i % 50} " for i in range(deltas))
    best: dict[tuple[str, str], float] = {}
    for round_ in range(repeats + 1):  # the first round warms up
        for case in CASES:
            for label, mapping in (("bridge", case.bridge), ("by hand", case.by_hand)):
                gc.collect()
                took, text = asyncio.run(served(mapping, events[case.name]))
                assert text == expected, f"{case.name} ({label}) lost text"
                if round_:
                    key = (case.name, label)
                    best[key] = min(best.get(key, took), took)
    return [
        (case.name, deltas / best[(case.name, "bridge")], deltas / best[(case.name, "by hand")])
        for case in CASES
    ]


def report(repeats: int, deltas: int) -> list[str]:
    """Measure, print the table and return it."""
    lines = [
        f"{deltas:,} text deltas from SDK event objects to data-stream bytes, best of {repeats}",
        "",
        "| upstream | bridge | model_dump per event, by hand | bridge / by hand |",
        "|---|---:|---:|---:|",
    ]
    for name, bridge, by_hand in measure(repeats, deltas):
        lines.append(
            f"| {name} | {bridge:,.0f} deltas/s | {by_hand:,.0f} deltas/s | "
            f"{bridge / by_hand:.2f}x |"
        )
    print("\n".join(lines))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--deltas", type=int, default=DELTAS)
    args = parser.parse_args()
    report(args.repeats, args.deltas)


if __name__ == "__main__":
    main()
