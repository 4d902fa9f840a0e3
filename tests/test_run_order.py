"""Chunks leave in exactly the order of the calls that made them.

The property test generates random sequences of controller calls (on the controller, its
``with_parent_id`` views, tool-call controllers and ``add_stream`` sources, with state writes and
awaits in between), runs them, and compares what the stream yields with the list built from the
same operations by a small model of the documented rules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streambridge as sb
from streambridge.chunks import (
    Chunk,
    Data,
    Error,
    File,
    ReasoningDelta,
    Source,
    StateUpdate,
    StepFinish,
    StepStart,
    TextDelta,
    ToolCallArgsFinish,
    ToolCallBegin,
    ToolCallDelta,
    ToolResult,
)

# -- helpers -------------------------------------------------------------------------------------


async def collect(run: sb.RunFunction, **options: Any) -> list[Chunk]:
    """Every chunk of a run; ``raise_errors`` so a failure inside the run fails the test."""
    options.setdefault("raise_errors", True)
    async with sb.create_run(run, **options) as stream:
        return [chunk async for chunk in stream]


def catch(fn: Callable[..., Any], *args: Any) -> BaseException | None:
    """The exception ``fn(*args)`` raised, or ``None``: asserting inside a run would only turn
    into an Error chunk, so runs record what happened and the test asserts afterwards."""
    try:
        fn(*args)
    except Exception as exc:
        return exc
    return None


# -- the model -----------------------------------------------------------------------------------


@dataclass
class _Call:
    has_controller: bool
    args_open: bool = True
    has_result: bool = False


@dataclass
class _StateGroup:
    """Consecutive state operations: one StateUpdate, unless the run awaited in between (the
    consumer may then have taken the first part)."""

    operations: list[dict[str, Any]] = field(default_factory=list)
    allowed_splits: set[int] = field(default_factory=set)


@dataclass
class _Model:
    items: list[Chunk | _StateGroup] = field(default_factory=list)
    calls: dict[str, _Call] = field(default_factory=dict)
    string_keys: set[str] = field(default_factory=set)
    next_id: int = 0

    def chunk(self, chunk: Chunk) -> None:
        self.items.append(chunk)

    def state(self, operation: dict[str, Any]) -> None:
        if not self.items or not isinstance(self.items[-1], _StateGroup):
            self.items.append(_StateGroup())
        group = self.items[-1]
        assert isinstance(group, _StateGroup)
        group.operations.append(operation)

    def await_point(self) -> None:
        if self.items and isinstance(self.items[-1], _StateGroup):
            group = self.items[-1]
            group.allowed_splits.add(len(group.operations))

    def new_id(self, prefix: str) -> str:
        self.next_id += 1
        return f"{prefix}{self.next_id}"

    def begin(self, tool_call_id: str, name: str, parent: str | None, controller: bool) -> None:
        self.calls[tool_call_id] = _Call(controller)
        self.chunk(ToolCallBegin(tool_call_id, name, parent))

    def close_args(self, tool_call_id: str) -> None:
        call = self.calls[tool_call_id]
        if call.args_open:
            call.args_open = False
            self.chunk(ToolCallArgsFinish(tool_call_id))

    def result(self, tool_call_id: str, result: Any, is_error: bool) -> None:
        self.close_args(tool_call_id)
        self.calls[tool_call_id].has_result = True
        self.chunk(ToolResult(tool_call_id, result, None, is_error))

    def close_all_args(self) -> None:
        for tool_call_id in list(self.calls):  # dicts keep the order the calls began in
            self.close_args(tool_call_id)

    def pick(self, index: int, eligible: Callable[[_Call], bool]) -> str | None:
        ids = [tool_call_id for tool_call_id, call in self.calls.items() if eligible(call)]
        return ids[index % len(ids)] if ids else None


def resolve(ops: list[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], list[Chunk | _StateGroup]]:
    """Concrete operations (random picks made, inapplicable ones dropped) and what they emit."""
    model = _Model()
    concrete: list[tuple[Any, ...]] = []
    for op in ops:
        kind = op[0]
        if kind == "text":
            model.chunk(TextDelta(op[1], op[2]))
        elif kind == "reasoning":
            model.chunk(ReasoningDelta(op[1], op[2]))
        elif kind == "source":
            model.chunk(Source(op[1], op[2], op[3], op[4]))
        elif kind == "file":
            model.chunk(File(op[1], op[2], op[3]))
        elif kind == "data":
            model.chunk(Data(op[1], op[2]))
        elif kind == "error":
            model.close_all_args()  # clients mark the message failed: its tool calls end
            model.chunk(Error(op[1]))
        elif kind == "step_start":
            model.chunk(StepStart(op[1]))
        elif kind == "step_finish":
            model.close_all_args()
            model.chunk(StepFinish(op[1], op[2], op[3], False))
        elif kind == "tool_call":
            _, name, awaited, parent = op
            tool_call_id = model.new_id("call")
            model.begin(tool_call_id, name, parent, controller=True)
            op = ("tool_call", name, awaited, parent, tool_call_id)
        elif kind == "args":
            tool_call_id = model.pick(op[1], lambda c: c.has_controller and c.args_open)
            if tool_call_id is None:
                continue
            model.chunk(ToolCallDelta(tool_call_id, op[2]))
            op = ("args", tool_call_id, op[2])
        elif kind == "close_args":
            tool_call_id = model.pick(op[1], lambda c: c.has_controller)
            if tool_call_id is None:
                continue
            model.close_args(tool_call_id)
            op = ("close_args", tool_call_id)
        elif kind == "set_response":
            tool_call_id = model.pick(op[1], lambda c: c.has_controller and not c.has_result)
            if tool_call_id is None:
                continue
            model.result(tool_call_id, op[2], op[3])
            op = ("set_response", tool_call_id, op[2], op[3])
        elif kind == "add_tool_result":
            tool_call_id = model.pick(op[1], lambda c: not c.has_result)
            if tool_call_id is None:
                continue
            model.result(tool_call_id, op[2], False)
            op = ("add_tool_result", tool_call_id, op[2])
        elif kind == "state_set":
            model.state({"type": "set", "path": [op[1]], "value": op[2]})
        elif kind == "state_append":
            _, key, text, _ = op
            if key in model.string_keys:
                model.state({"type": "append-text", "path": [key], "value": text})
            else:
                model.string_keys.add(key)
                model.state({"type": "set", "path": [key], "value": text})
                op = ("state_append", key, text, False)  # `+=` needs an existing value
        elif kind in ("sleep", "drain"):
            model.await_point()
        elif kind == "stream":
            model.await_point()  # add_stream starts a task: the consumer may run first
            source_chunks: list[Chunk] = []
            for item in op[1]:
                source_chunks.extend(_source_item(model, item))
            op = ("stream", source_chunks)
            model.await_point()
        else:  # pragma: no cover
            raise AssertionError(kind)
        concrete.append(op)
    model.close_all_args()  # the run ended
    return concrete, model.items


def _source_item(model: _Model, item: tuple[Any, ...]) -> list[Chunk]:
    """What an add_stream source yields for ``item``; records what the run emits for it."""
    kind = item[0]
    if kind == "text":
        chunk: Chunk = TextDelta(item[1], item[2])
        model.chunk(chunk)
        model.await_point()
        return [chunk]
    if kind == "data":
        chunk = Data(item[1])
        model.chunk(chunk)
        model.await_point()
        return [chunk]
    if kind == "state_set":
        operation = {"type": "set", "path": [item[1]], "value": item[2]}
        model.state(operation)
        model.await_point()
        return [StateUpdate((operation,))]  # type: ignore[arg-type]
    if kind == "step_finish":
        model.close_all_args()
        model.chunk(StepFinish())
        model.await_point()
        return [StepFinish()]
    assert kind == "tool"
    _, name, args_text, close, result = item
    tool_call_id = model.new_id("src")
    chunks: list[Chunk] = [
        ToolCallBegin(tool_call_id, name),
        ToolCallDelta(tool_call_id, args_text),
    ]
    model.begin(tool_call_id, name, None, controller=False)
    model.chunk(ToolCallDelta(tool_call_id, args_text))
    if close:
        chunks.append(ToolCallArgsFinish(tool_call_id))
        model.close_args(tool_call_id)
    if result is not None:
        chunks.append(ToolResult(tool_call_id, result))
        model.result(tool_call_id, result, False)
    model.await_point()
    return chunks


def assert_matches(actual: list[Chunk], expected: list[Chunk | _StateGroup]) -> None:
    message = f"\nactual:   {actual}\nexpected: {expected}"
    position = 0
    for item in expected:
        if not isinstance(item, _StateGroup):
            assert position < len(actual), "stream ended early" + message
            assert actual[position] == item, f"chunk {position} differs" + message
            position += 1
            continue
        operations: list[Any] = []
        splits: set[int] = set()
        while position < len(actual) and isinstance(actual[position], StateUpdate):
            update = actual[position]
            assert isinstance(update, StateUpdate)
            assert update.operations, "empty StateUpdate" + message
            if operations:
                splits.add(len(operations))
            operations.extend(update.operations)
            position += 1
        assert operations == item.operations, f"state operations differ at {position}" + message
        assert splits <= item.allowed_splits, (
            f"state split at {sorted(splits)} though the run never awaited there" + message
        )
    assert position == len(actual), "extra chunks" + message


# -- running the operations ----------------------------------------------------------------------


async def _source(chunks: list[Chunk], done: anyio.Event) -> AsyncIterator[Chunk]:
    for chunk in chunks:
        yield chunk
    done.set()


def make_run(ops: list[tuple[Any, ...]]) -> sb.RunFunction:
    async def run(controller: sb.RunController) -> None:
        tools: dict[str, sb.ToolCallController] = {}

        def view(parent: str | None) -> sb.RunController:
            return controller if parent is None else controller.with_parent_id(parent)

        for op in ops:
            kind = op[0]
            if kind == "text":
                view(op[2]).append_text(op[1])
            elif kind == "reasoning":
                view(op[2]).append_reasoning(op[1])
            elif kind == "source":
                view(op[4]).add_source(id=op[1], url=op[2], title=op[3])
            elif kind == "file":
                view(op[3]).add_file(data=op[1], mime_type=op[2])
            elif kind == "data":
                controller.add_data(op[1], name=op[2])
            elif kind == "error":
                controller.add_error(op[1])
            elif kind == "step_start":
                controller.add_step_start(message_id=op[1])
            elif kind == "step_finish":
                controller.add_step_finish(op[1], input_tokens=op[2], output_tokens=op[3])
            elif kind == "tool_call":
                _, name, awaited, parent, tool_call_id = op
                if awaited:
                    tools[tool_call_id] = await view(parent).add_tool_call(name, tool_call_id)
                else:
                    tools[tool_call_id] = view(parent).add_tool_call(name, tool_call_id)
            elif kind == "args":
                tools[op[1]].append_args_text(op[2])
            elif kind == "close_args":
                tools[op[1]].close_args()
            elif kind == "set_response":
                tools[op[1]].set_response(op[2], is_error=op[3])
            elif kind == "add_tool_result":
                controller.add_tool_result(op[1], op[2])
            elif kind == "state_set":
                controller.state[op[1]] = op[2]
            elif kind == "state_append":
                _, key, text, via_iadd = op
                if via_iadd:
                    controller.state[key] += text
                else:
                    controller.append_state_text([key], text)
            elif kind == "sleep":
                await anyio.lowlevel.checkpoint()
            elif kind == "drain":
                await controller.drain()
            elif kind == "stream":
                done = anyio.Event()
                controller.add_stream(_source(op[1], done))
                await done.wait()

    return run


async def consume(stream: sb.RunStream, mode: str) -> list[Chunk]:
    out: list[Chunk] = []
    if mode == "iterate":
        async for chunk in stream:
            out.append(chunk)
    elif mode == "batches":
        async for batch in stream.batches():
            assert batch, "batches() without idle_timeout never yields an empty list"
            out.extend(batch)
    else:
        async for batch in stream.batches(idle_timeout=0.001):
            out.extend(batch)
    return out


# -- strategies ----------------------------------------------------------------------------------

PARENT = st.sampled_from([None, "p1", "p2"])
TEXT = st.text(max_size=4)
PICK = st.integers(0, 7)
JSON = st.one_of(
    st.none(), st.integers(-3, 3), st.text(max_size=3), st.lists(st.integers(0, 3), max_size=2)
)
INT_KEY = st.sampled_from(["n0", "n1"])
STR_KEY = st.sampled_from(["s0", "s1"])

SOURCE_ITEM = st.one_of(
    st.tuples(st.just("text"), TEXT, PARENT),
    st.tuples(st.just("data"), JSON),
    st.tuples(st.just("state_set"), INT_KEY, st.integers(0, 9)),
    st.tuples(st.just("step_finish")),
    st.tuples(
        st.just("tool"),
        st.sampled_from(["lookup", "fetch"]),
        TEXT,
        st.booleans(),
        st.one_of(st.none(), st.integers(0, 9)),
    ),
)

OPERATION = st.one_of(
    st.tuples(st.just("text"), TEXT, PARENT),
    st.tuples(st.just("reasoning"), TEXT, PARENT),
    st.tuples(
        st.just("source"),
        st.sampled_from(["s1", "s2"]),
        st.just("https://example.com/a"),
        st.one_of(st.none(), TEXT),
        PARENT,
    ),
    st.tuples(st.just("file"), st.just("aGk="), st.just("text/plain"), PARENT),
    st.tuples(st.just("data"), JSON, st.one_of(st.none(), st.just("named"))),
    st.tuples(st.just("error"), TEXT),
    st.tuples(st.just("step_start"), st.sampled_from(["m1", "m2"])),
    st.tuples(
        st.just("step_finish"),
        st.sampled_from(["stop", "tool-calls"]),
        st.integers(0, 5),
        st.integers(0, 5),
    ),
    st.tuples(st.just("tool_call"), st.sampled_from(["search", "calc"]), st.booleans(), PARENT),
    st.tuples(st.just("args"), PICK, TEXT),
    st.tuples(st.just("args"), PICK, TEXT),
    st.tuples(st.just("close_args"), PICK),
    st.tuples(st.just("set_response"), PICK, JSON, st.booleans()),
    st.tuples(st.just("add_tool_result"), PICK, JSON),
    st.tuples(st.just("state_set"), INT_KEY, st.integers(0, 9)),
    st.tuples(st.just("state_append"), STR_KEY, st.text(min_size=1, max_size=3), st.booleans()),
    st.tuples(st.just("sleep")),
    st.tuples(st.just("drain")),
    st.tuples(st.just("stream"), st.lists(SOURCE_ITEM, max_size=5)),
)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(OPERATION, max_size=40),
    mode=st.sampled_from(["iterate", "batches", "idle"]),
    high_water=st.sampled_from([1, 2, 5, 1024]),
)
def test_chunks_leave_in_call_order(
    backend: str, ops: list[tuple[Any, ...]], mode: str, high_water: int
) -> None:
    concrete, expected = resolve(ops)

    async def main() -> list[Chunk]:
        stream = sb.create_run(
            make_run(concrete), state={}, raise_errors=True, high_water=high_water
        )
        async with stream:
            with anyio.fail_after(5):
                return await consume(stream, mode)

    actual = anyio.run(main, backend=backend)
    assert_matches(actual, expected)


# -- plain tests ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_concurrent_sources_interleave_in_the_order_they_emit() -> None:
    log: list[Chunk] = []

    async def source(name: str) -> AsyncIterator[Chunk]:
        for i in range(6):
            chunk = TextDelta(f"{name}{i}", name)
            log.append(chunk)  # nothing can run between this and the reader's emit
            yield chunk
            await anyio.lowlevel.checkpoint()

    async def run(controller: sb.RunController) -> None:
        controller.add_stream(source("a"))
        controller.add_stream(source("b"))
        for i in range(6):
            log.append(TextDelta(f"m{i}"))
            controller.append_text(f"m{i}")
            await anyio.lowlevel.checkpoint()

    chunks = await collect(run)
    assert len(chunks) == 18
    assert chunks == log


@pytest.mark.anyio
async def test_add_tool_call_works_awaited_and_plain() -> None:
    seen: list[Any] = []

    async def run(controller: sb.RunController) -> None:
        awaited = await controller.add_tool_call("search", "t1")
        plain = controller.add_tool_call("calc", "t2")
        seen.extend([awaited, plain])
        awaited.append_args_text('{"q":1}')
        plain.append_args_text("{}")
        awaited.set_response({"hits": 3})
        plain.set_response(4, artifact={"a": 1}, is_error=True)

    chunks = await collect(run)
    assert all(isinstance(call, sb.ToolCallController) for call in seen)
    assert [call.tool_call_id for call in seen] == ["t1", "t2"]
    assert chunks == [
        ToolCallBegin("t1", "search"),
        ToolCallBegin("t2", "calc"),
        ToolCallDelta("t1", '{"q":1}'),
        ToolCallDelta("t2", "{}"),
        ToolCallArgsFinish("t1"),
        ToolResult("t1", {"hits": 3}),
        ToolCallArgsFinish("t2"),
        ToolResult("t2", 4, {"a": 1}, True),
    ]


@pytest.mark.anyio
async def test_tool_call_without_id_gets_one_generated_id() -> None:
    async def run(controller: sb.RunController) -> None:
        first = controller.add_tool_call("a")
        second = await controller.add_tool_call("b")
        first.append_args_text("{}")
        controller.add_tool_result(first.tool_call_id, 1)
        second.set_response(2)

    chunks = await collect(run)
    first_id = chunks[0].tool_call_id  # type: ignore[union-attr]
    second_id = chunks[1].tool_call_id  # type: ignore[union-attr]
    assert first_id != second_id
    assert first_id.startswith("call_")
    assert len(first_id) > len("call_")
    assert chunks[2:] == [
        ToolCallDelta(first_id, "{}"),
        ToolCallArgsFinish(first_id),
        ToolResult(first_id, 1),
        ToolCallArgsFinish(second_id),
        ToolResult(second_id, 2),
    ]


@pytest.mark.anyio
async def test_result_for_an_unknown_id_is_a_value_error() -> None:
    errors: list[BaseException | None] = []

    async def run(controller: sb.RunController) -> None:
        controller.add_tool_call("search", "t1")
        errors.append(catch(controller.add_tool_result, "nope", 1))
        controller.append_text("still going")

    chunks = await collect(run)
    assert isinstance(errors[0], ValueError)
    assert "nope" in str(errors[0])
    assert chunks == [
        ToolCallBegin("t1", "search"),
        TextDelta("still going"),
        ToolCallArgsFinish("t1"),
    ]


@pytest.mark.anyio
async def test_args_after_close_args_is_a_value_error() -> None:
    errors: list[BaseException | None] = []

    async def run(controller: sb.RunController) -> None:
        tool = controller.add_tool_call("search", "t1")
        tool.append_args_text("{}")
        tool.close_args()
        tool.close_args()  # idempotent
        errors.append(catch(tool.append_args_text, "more"))

    chunks = await collect(run)
    assert isinstance(errors[0], ValueError)
    assert chunks == [
        ToolCallBegin("t1", "search"),
        ToolCallDelta("t1", "{}"),
        ToolCallArgsFinish("t1"),
    ]


@pytest.mark.anyio
async def test_args_after_set_response_is_a_value_error() -> None:
    errors: list[BaseException | None] = []

    async def run(controller: sb.RunController) -> None:
        tool = controller.add_tool_call("search", "t1")
        tool.set_response("done")
        errors.append(catch(tool.append_args_text, "{}"))

    chunks = await collect(run)
    assert isinstance(errors[0], ValueError)
    assert chunks == [
        ToolCallBegin("t1", "search"),
        ToolCallArgsFinish("t1"),
        ToolResult("t1", "done"),
    ]


@pytest.mark.anyio
async def test_duplicate_tool_call_id_is_a_value_error() -> None:
    errors: list[BaseException | None] = []

    async def run(controller: sb.RunController) -> None:
        controller.add_tool_call("search", "t1")
        errors.append(catch(controller.add_tool_call, "other", "t1"))
        errors.append(catch(controller.with_parent_id("p").add_tool_call, "other", "t1"))

    chunks = await collect(run)
    assert all(isinstance(error, ValueError) for error in errors), errors
    assert "t1" in str(errors[0])
    assert chunks == [ToolCallBegin("t1", "search"), ToolCallArgsFinish("t1")]


@pytest.mark.anyio
async def test_second_result_is_a_value_error() -> None:
    errors: list[BaseException | None] = []

    async def run(controller: sb.RunController) -> None:
        tool = controller.add_tool_call("search", "t1")
        tool.set_response(1)
        errors.append(catch(tool.set_response, 2))
        errors.append(catch(controller.add_tool_result, "t1", 3))

    chunks = await collect(run)
    assert all(isinstance(error, ValueError) for error in errors), errors
    assert chunks == [
        ToolCallBegin("t1", "search"),
        ToolCallArgsFinish("t1"),
        ToolResult("t1", 1),
    ]


@pytest.mark.anyio
async def test_open_tool_calls_get_args_finish_when_the_run_ends() -> None:
    async def run(controller: sb.RunController) -> None:
        first = controller.add_tool_call("a", "t1")
        controller.with_parent_id("p").add_tool_call("b", "t2")
        third = controller.add_tool_call("c", "t3")
        first.append_args_text("{")
        third.close_args()
        controller.append_text("end")

    assert await collect(run) == [
        ToolCallBegin("t1", "a"),
        ToolCallBegin("t2", "b", "p"),
        ToolCallBegin("t3", "c"),
        ToolCallDelta("t1", "{"),
        ToolCallArgsFinish("t3"),
        TextDelta("end"),
        ToolCallArgsFinish("t1"),
        ToolCallArgsFinish("t2"),
    ]


@pytest.mark.anyio
async def test_open_tool_calls_get_args_finish_at_step_finish_once() -> None:
    async def run(controller: sb.RunController) -> None:
        controller.add_step_start("m1")
        first = controller.add_tool_call("a", "t1")
        controller.add_tool_call("b", "t2")
        first.append_args_text("{}")
        controller.add_step_finish("tool-calls", input_tokens=3, output_tokens=4)
        controller.add_tool_result("t2", "ok")  # args already closed: no second finish

    assert await collect(run) == [
        StepStart("m1"),
        ToolCallBegin("t1", "a"),
        ToolCallBegin("t2", "b"),
        ToolCallDelta("t1", "{}"),
        ToolCallArgsFinish("t1"),
        ToolCallArgsFinish("t2"),
        StepFinish("tool-calls", 3, 4, False),
        ToolResult("t2", "ok"),
    ]


@pytest.mark.anyio
async def test_state_operations_flush_as_one_update_before_the_next_chunk() -> None:
    async def run(controller: sb.RunController) -> None:
        controller.append_text("a")
        controller.state["draft"] = "x"
        controller.state["draft"] += "y"
        controller.append_state_text(["draft"], "z")
        controller.state["count"] = 1
        controller.with_parent_id("p").append_text("b")
        controller.state["count"] = 2
        controller.flush()
        controller.state["count"] = 3
        controller.add_data(1)
        controller.state["count"] = 4  # pending when the run ends

    chunks = await collect(run, state={})
    assert chunks == [
        TextDelta("a"),
        StateUpdate(
            (
                {"type": "set", "path": ["draft"], "value": "x"},
                {"type": "append-text", "path": ["draft"], "value": "y"},
                {"type": "append-text", "path": ["draft"], "value": "z"},
                {"type": "set", "path": ["count"], "value": 1},
            )
        ),
        TextDelta("b", "p"),
        StateUpdate(({"type": "set", "path": ["count"], "value": 2},)),
        StateUpdate(({"type": "set", "path": ["count"], "value": 3},)),
        Data(1),
        StateUpdate(({"type": "set", "path": ["count"], "value": 4},)),
    ]


@pytest.mark.anyio
async def test_batches_yields_everything_ready_in_one_list() -> None:
    go = anyio.Event()

    async def run(controller: sb.RunController) -> None:
        controller.append_text("a")
        controller.state["k"] = 1
        controller.add_tool_call("t", "t1")
        await go.wait()
        controller.append_text("b")
        controller.append_text("c")

    batches: list[list[Chunk]] = []
    async with sb.create_run(run, state={}, raise_errors=True) as stream:
        async for batch in stream.batches():
            batches.append(batch)
            go.set()
    assert batches[0] == [
        TextDelta("a"),
        StateUpdate(({"type": "set", "path": ["k"], "value": 1},)),
        ToolCallBegin("t1", "t"),
    ]
    # b and c were ready together; the end-of-run ArgsFinish may come with them or just after.
    assert batches[1][:2] == [TextDelta("b"), TextDelta("c")]
    assert [chunk for batch in batches[1:] for chunk in batch] == [
        TextDelta("b"),
        TextDelta("c"),
        ToolCallArgsFinish("t1"),
    ]


@pytest.mark.anyio
async def test_next_batch_returns_empty_list_when_idle() -> None:
    go = anyio.Event()

    async def run(controller: sb.RunController) -> None:
        controller.append_text("a")
        await go.wait()
        controller.append_text("b")

    async with sb.create_run(run, raise_errors=True) as stream:
        with anyio.fail_after(2):
            assert await stream.next_batch(0.02) == [TextDelta("a")]
            started = anyio.current_time()
            assert await stream.next_batch(0.02) == []
            assert anyio.current_time() - started >= 0.015
            assert await stream.next_batch(0.02) == []
            go.set()
            assert await stream.next_batch(0.02) == [TextDelta("b")]
            assert await stream.next_batch(0.02) is None
            assert await stream.next_batch(0.02) is None


@pytest.mark.anyio
async def test_add_error_closes_open_tool_call_args_and_the_run_goes_on() -> None:
    async def run(controller: sb.RunController) -> None:
        tool = controller.add_tool_call("search", "t1")
        tool.append_args_text("{")
        controller.add_error("Search is unavailable.")
        controller.append_text("continuing")
        tool.set_response("late")

    assert await collect(run) == [
        ToolCallBegin("t1", "search"),
        ToolCallDelta("t1", "{"),
        ToolCallArgsFinish("t1"),
        Error("Search is unavailable."),
        TextDelta("continuing"),
        ToolResult("t1", "late"),
    ]
