"""The scenario set every protocol is judged on, and what each scenario's final message is.

A scenario is a run function.  ``produce()`` runs it and returns its chunks; ``encode_chunks()``
encodes them in one protocol with a fixed input (so the bytes are reproducible); ``expected()``
is the message the chunks build (via ``streambridge.client.accumulate``); ``summary()`` puts a
message in the plain form the per-protocol tests compare with what each official client built.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.lowlevel

import streambridge as sb
from streambridge.chunks import Chunk, ToolCallDelta
from streambridge.client import Message, accumulate

Run = Callable[[sb.RunController], Awaitable[None]]


async def plain_text(c: sb.RunController) -> None:
    for piece in ["Hello, ", "wörld 😀", "\nline two\r\n", "“quotes” \\ \u2028 end"]:
        c.append_text(piece)
        await anyio.lowlevel.checkpoint()


async def reasoning_then_text(c: sb.RunController) -> None:
    c.append_reasoning("Let me think")
    c.append_reasoning("...")
    c.append_text("Answer")


async def one_tool_call(c: sb.RunController) -> None:
    tool = await c.add_tool_call("get_weather", "call_1")
    for piece in ['{"city"', ': "Par', 'is", "days": [1, 2]}']:
        tool.append_args_text(piece)
    tool.set_response({"temp": 21})
    c.append_text("It is 21°C.")


async def interleaved_tool_calls(c: sb.RunController) -> None:
    a = c.add_tool_call("a", "call_a")
    b = c.add_tool_call("b", "call_b")
    a.append_args_text('{"x":')
    b.append_args_text('{"y":')
    a.append_args_text("1}")
    b.append_args_text("2}")
    b.set_response("B")
    a.set_response("A")


async def tool_error(c: sb.RunController) -> None:
    tool = c.add_tool_call("fails", "call_err")
    tool.append_args_text("{}")
    tool.set_response({"message": "boom"}, is_error=True)


async def sources_and_file(c: sb.RunController) -> None:
    c.add_source(id="s1", url="https://example.com/a", title="A")
    c.add_source(id="s2", url="https://example.com/b")
    c.add_file(data="aGVsbG8=", mime_type="text/plain")


async def named_data(c: sb.RunController) -> None:
    c.add_data({"progress": 0.5}, name="progress")
    c.add_data([1, 2, 3])


async def nested_state(c: sb.RunController) -> None:
    c.state["doc"] = {"title": "", "sections": []}
    c.state["doc"]["title"] += "Draft"
    c.state["doc"]["sections"].append({"body": "x"})
    c.append_text("writing")
    c.state["doc"]["sections"][0]["body"] += "yz"
    c.state["doc"]["sections"].append({"body": ""})


async def steps_with_usage(c: sb.RunController) -> None:
    c.add_step_start("step-1")
    c.append_text("one")
    c.add_step_finish("tool-calls", input_tokens=10, output_tokens=5, is_continued=True)
    c.add_step_start("step-2")
    c.append_text("two")
    c.add_step_finish("stop", input_tokens=20, output_tokens=7)


async def error_mid_stream(c: sb.RunController) -> None:
    c.append_text("partial")
    raise RuntimeError("secret internal detail")


async def parent_ids(c: sb.RunController) -> None:
    c.with_parent_id("group").append_text("grouped")
    c.with_parent_id("group").add_tool_call("t", "call_g").set_response(1)


async def cancelled_mid_tool_call(c: sb.RunController) -> None:
    c.append_text("Looking it up")
    tool = c.add_tool_call("search", "call_cut")
    tool.append_args_text('{"query": "stre')
    await anyio.sleep_forever()  # the client leaves here (see Scenario.cut)


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Run
    state: Any = None
    cut: Callable[[Chunk], bool] | None = None
    """Stop reading after the first chunk this accepts, as a client that leaves would."""

    @property
    def complete(self) -> bool:
        return self.cut is None


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario("plain_text", plain_text),
        Scenario("reasoning_then_text", reasoning_then_text),
        Scenario("one_tool_call", one_tool_call),
        Scenario("interleaved_tool_calls", interleaved_tool_calls),
        Scenario("tool_error", tool_error),
        Scenario("sources_and_file", sources_and_file),
        Scenario("named_data", named_data),
        Scenario("nested_state", nested_state, state={}),
        Scenario("steps_with_usage", steps_with_usage),
        Scenario("error_mid_stream", error_mid_stream),
        Scenario("parent_ids", parent_ids),
        Scenario(
            "cancelled_mid_tool_call",
            cancelled_mid_tool_call,
            cut=lambda chunk: isinstance(chunk, ToolCallDelta),
        ),
    ]
}

FIXED_INPUT = dict(run_id="run_fixed", thread_id="thread_fixed", created_at=1_760_000_000)


def fixed_input(**overrides: Any) -> sb.RunInput:
    """The input every scenario is encoded with, so its bytes are the same on every run."""
    return sb.RunInput(**{**FIXED_INPUT, **overrides})


async def produce(scenario: Scenario) -> list[Chunk]:
    """The chunks the scenario's run makes (up to the cut, for a client that leaves)."""
    chunks: list[Chunk] = []
    async with sb.create_run(scenario.run, state=scenario.state, grace=0) as stream:
        async for chunk in stream:
            chunks.append(chunk)
            if scenario.cut is not None and scenario.cut(chunk):
                break
    return chunks


def encode_chunks(
    chunks: Iterable[Chunk], protocol: str, *, complete: bool = True, input: Any = None
) -> bytes:
    """The bytes of ``chunks`` in ``protocol``; without the end when the stream was cut."""
    encoder = sb.get_protocol(protocol).new_encoder(input or fixed_input())
    text = "".join(encoder.encode(chunk) for chunk in chunks)
    if complete:
        text += encoder.finish()
    return text.encode()


async def scenario_bytes(
    scenario: Scenario, protocol: str, **input: Any
) -> tuple[list[Chunk], bytes]:
    chunks = await produce(scenario)
    data = encode_chunks(chunks, protocol, complete=scenario.complete, input=fixed_input(**input))
    return chunks, data


def expected(scenario: Scenario, chunks: list[Chunk]) -> Message:
    """The message the scenario's chunks build: what every client must end up with."""
    return accumulate(chunks, state=scenario.state, complete=scenario.complete)


def summary(message: Message) -> dict[str, Any]:
    """A message in plain values: what the per-protocol tests compare."""
    return {
        "text": message.text,
        "reasoning": message.reasoning,
        "tool_calls": [
            {
                "id": call.tool_call_id,
                "name": call.tool_name,
                "args": call.args,
                "result": call.result,
                "is_error": call.is_error,
            }
            for call in message.tool_calls
        ],
        "sources": [{"url": s.url, "title": s.title} for s in message.sources],
        "files": [{"data": f.data, "mime_type": f.mime_type} for f in message.files],
        "data": [{"name": d.name, "data": d.data} for d in message.data],
        "state": message.state,
        "finish_reason": message.finish_reason,
        "usage": (
            None
            if message.usage is None
            else {"input": message.usage.input_tokens, "output": message.usage.output_tokens}
        ),
        "steps": [(step.input_tokens, step.output_tokens) for step in message.steps],
        "errors": list(message.errors),
    }
