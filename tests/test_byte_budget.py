"""The byte budget: what a stream holds unsent is bounded in bytes (``max_buffered_bytes``).

A chunk weighs its text (or its values' JSON) plus a fixed allowance for its framing
(``_size.OVERHEAD``); the batch a consumer took counts until it comes back for the next one.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streambridge as sb
from streambridge._size import OVERHEAD
from streambridge.chunks import Error, StateUpdate, TextDelta
from streambridge.run import GENERIC_ERROR_MESSAGE

BUDGET = 16_384
PIECE = 1_000
WEIGHT = OVERHEAD + PIECE


def piece(index: int) -> str:
    return f"{index:04d}" * (PIECE // 4)


@pytest.mark.anyio
async def test_unread_bytes_past_the_budget_fail_the_run_at_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="streambridge")
    emitted: list[int] = []
    raised: list[sb.BufferOverflowError] = []

    async def run(controller: sb.RunController) -> None:
        try:
            for index in range(1_000):
                controller.append_text(piece(index))
                emitted.append(index)
        except sb.BufferOverflowError as exc:
            raised.append(exc)
            raise

    async with sb.create_run(run, max_buffered_bytes=BUDGET) as stream:
        with anyio.fail_after(5):
            chunks = [chunk async for chunk in stream]
    assert len(emitted) == BUDGET // WEIGHT  # the next piece would have gone over
    message = str(raised[0])
    assert "max_buffered_bytes=" in message, message
    assert "drain()" in message, message
    assert f"over {BUDGET:,}" in message, message
    assert chunks[-1] == Error(GENERIC_ERROR_MESSAGE)
    assert [chunk.text_delta for chunk in chunks[:-1]] == [piece(i) for i in emitted]  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_drain_waits_on_bytes_and_the_reader_sets_the_pace() -> None:
    """Few chunks but many bytes: drain() holds the run to an eighth of the budget ahead of
    what the reader has finished with, and resumes it as the reader comes back."""
    produced = 0
    ahead: list[int] = []
    finished_with = 0

    async def run(controller: sb.RunController) -> None:
        nonlocal produced
        for index in range(200):
            controller.append_text(piece(index))
            produced += WEIGHT
            await controller.drain()
            ahead.append(produced - finished_with)

    async with sb.create_run(run, max_buffered_bytes=BUDGET) as stream:
        with anyio.fail_after(5):
            while (batch := await stream.next_batch()) is not None:
                await anyio.lowlevel.checkpoint()  # the reader's "send": the run goes on
                finished_with += WEIGHT * len(batch)
    assert finished_with == 200 * WEIGHT
    assert max(ahead) <= BUDGET // 8 + WEIGHT, max(ahead)  # past high water by one piece at most


@pytest.mark.anyio
async def test_a_chunk_over_the_budget_on_its_own_is_let_through() -> None:
    """A stream is never stuck on one big chunk (a file, a long tool result): it goes alone."""
    big = "x" * (4 * BUDGET)

    async def run(controller: sb.RunController) -> None:
        controller.append_text(big)
        await controller.drain()
        controller.append_text(big)

    async with sb.create_run(run, max_buffered_bytes=BUDGET) as stream:
        with anyio.fail_after(5):
            chunks = [chunk async for chunk in stream]
    assert chunks == [TextDelta(big), TextDelta(big)]


@pytest.mark.anyio
async def test_state_writes_are_weighed_too() -> None:
    written: list[int] = []

    async def run(controller: sb.RunController) -> None:
        for index in range(100):
            controller.state[f"k{index}"] = "v" * PIECE
            written.append(index)

    async with sb.create_run(run, state={}, max_buffered_bytes=BUDGET) as stream:
        with anyio.fail_after(5):
            chunks = [chunk async for chunk in stream]
    assert 10 <= len(written) < BUDGET // PIECE  # each write weighs its value and more
    assert isinstance(chunks[0], StateUpdate)
    assert chunks[-1] == Error(GENERIC_ERROR_MESSAGE)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (100, ValueError),
        (1023, ValueError),
        ("8MB", TypeError),
        (True, TypeError),
        (2.5e6, TypeError),
    ],
)
def test_a_bad_budget_is_refused_when_the_run_is_made(value: Any, error: type[Exception]) -> None:
    async def run(controller: sb.RunController) -> None:
        controller.append_text("never")

    with pytest.raises(error, match="max_buffered_bytes="):
        sb.create_run(run, max_buffered_bytes=value)


# -- every order of writes and reads ---------------------------------------------------------

steps = st.lists(
    st.one_of(st.integers(min_value=0, max_value=3 * 1024), st.just("read")),
    max_size=40,
)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=steps)
def test_the_run_fails_exactly_when_what_is_unsent_would_pass_the_budget(
    backend: str, steps: list[int | str]
) -> None:
    """A model of the budget: what is held is the unread chunks plus the batch read last (not
    yet sent); a write fails when it would take that past the budget, unless it is alone."""
    anyio.run(_check_budget_model, steps, backend=backend)


async def _check_budget_model(steps: list[int | str]) -> None:
    budget = 4_096
    to_run, commands = anyio.create_memory_object_stream[int](0)
    answer, answers = anyio.create_memory_object_stream[bool](1)

    async def run(controller: sb.RunController) -> None:
        async for length in commands:
            try:
                controller.append_text("y" * length)
            except sb.BufferOverflowError:
                answer.send_nowait(False)
                raise
            answer.send_nowait(True)

    unread: list[int] = []  # the model: the weights of the chunks not yet read
    taken = 0  # the model: the weight of the batch read last (held until the next read)
    with to_run, commands, answer, answers:
        async with sb.create_run(run, max_buffered_bytes=budget) as stream:
            assert stream.take_batch() == []  # starts the run
            with anyio.fail_after(5):
                for step in steps:
                    if step == "read":
                        if unread:
                            batch = await stream.next_batch()
                            assert batch is not None
                            assert len(batch) == len(unread)
                            taken, unread = sum(unread), []
                        continue
                    assert isinstance(step, int)
                    weight = OVERHEAD + step
                    total = taken + sum(unread) + weight
                    await to_run.send(step)
                    admitted = await answers.receive()
                    assert admitted is not (total > budget and total > weight), (taken, unread)
                    if not admitted:
                        break
                    unread.append(weight)
