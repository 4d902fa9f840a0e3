"""State sync: the emitted operations rebuild the server's state exactly, as the client does.

``client_apply`` below is written from assistant-ui's ``GorpStreamAccumulator`` (npm
``assistant-stream``, strict mode), independently of ``streambridge.state``; the property tests
check the two agree, and ``test_official_client_rebuilds_state`` asks the real client.
"""

from __future__ import annotations

import copy
import gc
import json
import random
import weakref
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streambridge as sb
from streambridge.chunks import StateUpdate, TextDelta
from streambridge.state import StateError, StateProxy, StateStore
from support.oracle import run_oracle

UNSAFE = {"__proto__", "constructor", "prototype"}


class Rejected(Exception):
    pass


def client_apply(state: Any, op: dict[str, Any]) -> Any:
    """What the strict client does with one operation (copy-on-write, like the original)."""

    def updater(current: Any) -> Any:
        if op["type"] == "set":
            return copy.deepcopy(op["value"])
        if not isinstance(current, str):
            raise Rejected(f"Expected string at path {op['path']}")
        return current + op["value"]

    def update(current: Any, path: list[str]) -> Any:
        if not path:
            return updater(current)
        if current is None:
            current = {}
        if not isinstance(current, (dict, list)):
            raise Rejected("Invalid path")
        key = path[0]
        if key in UNSAFE:
            raise Rejected("Unsafe gorp path segment")
        if isinstance(current, list):
            if not key.lstrip("-").isdigit() or str(int(key)) != key:
                raise Rejected("Expected array index")
            index = int(key)
            if index < 0 or index > len(current):
                raise Rejected("Insert array index out of bounds")
            child = current[index] if index < len(current) else None
            new = list(current)
            value = update(child, path[1:])
            if index == len(new):
                new.append(value)
            else:
                new[index] = value
            return new
        new_dict = dict(current)
        new_dict[key] = update(current.get(key), path[1:])
        return new_dict

    return update(state, list(op["path"]))


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=8),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
keys = st.one_of(
    st.sampled_from(["a", "b", "draft", "items", "0", "__proto__"]), st.text(max_size=3)
)


def containers(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if isinstance(value, (dict, list)) else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += containers(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += containers(item, (*path, index))
    return found


def proxy_at(root: StateProxy, path: tuple[Any, ...]) -> StateProxy:
    for key in path:
        root = root[key]
    return root


def random_write(data: st.DataObject, store: StateStore, rng_draw: Any) -> None:
    """One write through the proxy, chosen from what the state holds now."""
    root = StateProxy(store, [])
    places = containers(store.value)
    action = data.draw(
        st.sampled_from(["set", "append", "+=", "append_state_text", "del", "root", "extend"])
    )
    if action == "root" or not places:
        data.draw(st.just("root"))
        store.set([], data.draw(st.one_of(json_value, st.dictionaries(keys, json_value))))
        return
    path = data.draw(st.sampled_from(places))
    target = proxy_at(root, path)
    current = target.value
    if isinstance(current, list):
        key: Any = data.draw(st.integers(-1, len(current) + 1))
    else:
        existing = list(current)
        key = data.draw(
            st.sampled_from(existing) if existing and data.draw(st.booleans()) else keys
        )
    if action == "set":
        target[key] = data.draw(json_value)
    elif action == "append":
        target.append(data.draw(json_value))
    elif action == "extend":
        target.extend(data.draw(st.lists(json_value, max_size=3)))
    elif action == "+=":
        value = target[key]
        target[key] = value + data.draw(st.text(max_size=5))
    elif action == "append_state_text":
        store.append_text([str(part) for part in (*path, key)], data.draw(st.text(max_size=5)))
    elif action == "del":
        del target[key]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    initial=st.dictionaries(keys.filter(lambda k: k not in UNSAFE), json_value, max_size=4).filter(
        lambda v: (
            "__proto__" not in repr(v)
            and "constructor" not in repr(v)
            and "prototype" not in repr(v)
        )
    ),
    data=st.data(),
)
def test_emitted_operations_rebuild_the_state(initial: dict[str, Any], data: st.DataObject) -> None:
    pending: list[Any] = []
    store = StateStore(initial, pending)
    for _ in range(data.draw(st.integers(1, 12))):
        before_value, before_ops = copy.deepcopy(store.value), len(pending)
        try:
            random_write(data, store, data.draw)
        except (StateError, KeyError, IndexError, TypeError):
            # A rejected write changes nothing and emits nothing.
            assert store.value == before_value
            assert len(pending) == before_ops
    rebuilt: Any = copy.deepcopy(StateStore(initial, []).value)
    for op in pending:
        rebuilt = client_apply(rebuilt, op)
    assert rebuilt == store.value


def test_string_extension_is_append_text_and_assignment_is_set() -> None:
    pending: list[Any] = []
    state = StateProxy(StateStore({"draft": "Hel"}, pending), [])
    state["draft"] += "lo"
    state["draft"] = "replaced"
    state["count"] = 1
    assert pending == [
        {"type": "append-text", "path": ["draft"], "value": "lo"},
        {"type": "set", "path": ["draft"], "value": "replaced"},
        {"type": "set", "path": ["count"], "value": 1},
    ]


def test_append_text_onto_a_missing_value_is_set() -> None:
    pending: list[Any] = []
    store = StateStore({"n": 1}, pending)
    store.append_text(["note"], "first")
    store.append_text(["note"], " second")
    assert pending[0] == {"type": "set", "path": ["note"], "value": "first"}
    assert pending[1]["type"] == "append-text"
    with pytest.raises(StateError, match="int"):
        store.append_text(["n"], "x")


def test_list_growth_uses_canonical_indexes() -> None:
    pending: list[Any] = []
    state = StateProxy(StateStore({"items": []}, pending), [])
    state["items"].append("a")
    state["items"] += ["b", "c"]
    state["items"][-1] = "C"
    assert [op["path"] for op in pending] == [
        ["items", "0"],
        ["items", "1"],
        ["items", "2"],
        ["items", "2"],
    ]
    assert state["items"] == ["a", "b", "C"]
    with pytest.raises(IndexError):
        state["items"][5] = "past the end"


@pytest.mark.parametrize("key", ["__proto__", "constructor", "prototype"])
def test_unsafe_keys_are_refused(key: str) -> None:
    state = StateProxy(StateStore({}, []), [])
    with pytest.raises(StateError, match="unsafe"):
        state[key] = 1
    with pytest.raises(StateError, match="unsafe"):
        state["ok"] = {key: 1}


def test_a_primitive_in_the_middle_of_a_path_is_an_error() -> None:
    pending: list[Any] = []
    store = StateStore({"name": "x"}, pending)
    with pytest.raises(StateError, match="goes through a str"):
        store.set(["name", "first"], "y")
    assert store.value == {"name": "x"}
    assert pending == []


def test_non_json_values_are_refused_at_the_call() -> None:
    state = StateProxy(StateStore({}, []), [])
    with pytest.raises(StateError, match="not valid JSON"):
        state["x"] = float("nan")
    with pytest.raises(StateError, match="set is not JSON"):
        state["x"] = {1, 2}
    with pytest.raises(StateError, match="keys must be strings"):
        state["x"] = {1: "a"}


def test_queued_operations_are_snapshots() -> None:
    pending: list[Any] = []
    state = StateProxy(StateStore({}, pending), [])
    value = {"list": [1]}
    state["a"] = value
    value["list"].append(2)  # the caller's object is not the state's
    state["a"]["list"].append(3)
    assert pending[0]["value"] == {"list": [1]}
    assert state["a"] == {"list": [1, 3]}


@pytest.mark.anyio
async def test_operations_are_batched_and_flushed_before_the_next_chunk() -> None:
    async def run(controller: sb.RunController) -> None:
        controller.state["draft"] = ""
        controller.state["draft"] += "a"
        controller.append_state_text(["draft"], "b")
        controller.append_text("text")
        controller.state["done"] = True

    chunks = [chunk async for chunk in sb.create_run(run, state={})]
    assert [type(chunk) for chunk in chunks] == [StateUpdate, TextDelta, StateUpdate]
    first = chunks[0]
    assert isinstance(first, StateUpdate)
    assert [op["type"] for op in first.operations] == ["set", "append-text", "append-text"]


def random_writes(rng: random.Random, controller: sb.RunController) -> None:
    state = controller.state
    for _ in range(rng.randint(1, 25)):
        places = containers(state.value)
        target = proxy_at(state, rng.choice(places))
        current = target.value
        choice = rng.random()
        try:
            if isinstance(current, list):
                if choice < 0.5 or not current:
                    target.append(rng.choice(["s", 1, {"k": "v"}, [], None]))
                else:
                    index = rng.randrange(len(current))
                    if isinstance(current[index], str):
                        target[index] += rng.choice(["é", "😀", "x\n"])
                    else:
                        target[index] = rng.choice(["", {"n": []}, 2.5])
            else:
                key = rng.choice(["a", "b", "text", "list", "nested"])
                if isinstance(current.get(key), str) and choice < 0.6:
                    target[key] += rng.choice(["hello ", "wörld", "🙂"])
                else:
                    target[key] = rng.choice(["", "start", 0, True, {"inner": ""}, [], ["x"]])
        except (StateError, KeyError, IndexError, TypeError):
            pass


@pytest.mark.anyio
async def test_an_ended_run_refuses_state_writes_and_is_freed_without_the_collector() -> None:
    """A run's state asked its core before each write (a cycle through the bound method), so
    every finished stream waited for the garbage collector; now the state refuses on its own
    once the run has ended, and the run's objects go with their last reference."""

    class Request:
        pass

    controllers: list[sb.RunController] = []

    async def run(controller: sb.RunController) -> None:
        controllers.append(controller)
        controller.state["x"] = 1
        controller.append_text("hi")

    request = Request()
    freed = weakref.ref(request)
    gc.disable()
    try:
        [chunk async for chunk in sb.create_run(run, request=request)]
        with pytest.raises(RuntimeError, match="this run has ended"):
            controllers[0].state["x"] = 2
        assert controllers[0].state["x"] == 1
        controllers.clear()
        del request
        assert freed() is None
    finally:
        gc.enable()


@pytest.mark.anyio
async def test_official_client_rebuilds_state() -> None:
    """The npm client, fed our data stream, ends with the state the server ended with."""
    cases, expected = [], []
    for seed in range(60):
        final: dict[str, Any] = {}

        async def run(
            controller: sb.RunController, seed: int = seed, final: dict[str, Any] = final
        ) -> None:
            rng = random.Random(seed)
            for _ in range(3):
                random_writes(rng, controller)
                controller.append_text(".")  # forces a flush between batches
            final["state"] = copy.deepcopy(controller.state.value)

        initial = {"text": "", "list": []}
        body = b"".join([part async for part in sb.encode(sb.create_run(run, state=initial))])
        cases.append({"stream": body.decode(), "initialState": initial})
        expected.append(final["state"])

    messages = await anyio.to_thread.run_sync(
        lambda: run_oracle("data-stream.mjs", json.dumps(cases).encode(), many=True)
    )
    assert [message["metadata"]["unstable_state"] for message in messages] == expected
