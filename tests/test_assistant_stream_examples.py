"""assistant-stream's documented idioms run on streambridge with only their imports changed.

Each example below is written against assistant-stream (its imports, its calls: ``create_run``,
``await controller.add_tool_call``, ``controller.state``, a FastAPI endpoint returning
``DataStreamResponse(create_run(run))``).  :func:`migrate` changes nothing but its import lines,
with the table the migration guide gives (docs/guide/migrating-from-assistant-stream.md).  Each
example then runs twice, on assistant-stream 0.0.36 (asyncio, in a worker thread) and on
streambridge (asyncio and trio), and both must give the same answer.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import re
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest

from streambridge.client import accumulate, decode
from streambridge.state import apply_operation

pytestmark = pytest.mark.anyio

IMPORTS = {
    "assistant_stream.serialization": "streambridge_starlette",
    "assistant_stream": "streambridge",
}
"""Their module -> ours: the only change an example needs (the guide's table)."""


def migrate(source: str) -> str:
    """``source`` with its assistant-stream imports pointed at streambridge, nothing else."""

    def rename(match: re.Match[str]) -> str:
        return match.group(1) + IMPORTS[match.group(2)] + match.group(3)

    pattern = r"^(from )(" + "|".join(map(re.escape, IMPORTS)) + r")( import )"
    migrated = re.sub(pattern, rename, source, flags=re.MULTILINE)
    assert "assistant_stream" not in migrated, "an import the table does not cover"
    return migrated


# -- the examples, as assistant-stream's users write them ----------------------------------------

CREATE_RUN = """
from assistant_stream import create_run


async def run(controller):
    controller.append_text("Hello ")
    controller.append_text("world!")


async def main():
    text = ""
    async for chunk in create_run(run):
        if chunk.type == "text-delta":
            text += chunk.text_delta
    return text
"""

TOOL_CALLS = """
from assistant_stream import RunController, create_run


async def run(controller: RunController):
    controller.append_text("Let me look that up. ")
    tool = await controller.add_tool_call("get_weather", "call_1")
    tool.append_args_text('{"city": ')
    tool.append_args_text('"Paris"}')
    tool.set_response({"forecast": "sunny"})
    failed = await controller.add_tool_call("get_time", "call_2")
    failed.append_args_text("{}")
    failed.set_response("no clock", is_error=True)
    controller.append_text("Sunny in Paris.")


async def main():
    text, names, args, results = "", {}, {}, {}
    async for chunk in create_run(run):
        if chunk.type == "text-delta":
            text += chunk.text_delta
        elif chunk.type == "tool-call-begin":
            names[chunk.tool_call_id] = chunk.tool_name
            args[chunk.tool_call_id] = ""
        elif chunk.type == "tool-call-delta":
            args[chunk.tool_call_id] += chunk.args_text_delta
        elif chunk.type == "tool-result":
            results[chunk.tool_call_id] = (chunk.result, chunk.is_error)
    return text, names, args, results
"""

STATE = """
from assistant_stream import RunController, create_run


async def run(controller: RunController):
    controller.state = {"counter": 0, "messages": []}
    for i in range(1, 4):
        controller.state["counter"] = i
    controller.state["messages"].append({"role": "user", "text": "Hi"})
    controller.state["draft"] = "Hello"
    controller.state["draft"] += " world"
    controller.state["tags"] = []
    controller.state["tags"] += ["a", "b"]
    controller.state["settings"] = {}
    controller.state["settings"]["theme"] = "dark"
    controller.state["settings"].setdefault("language", "en")
    controller.state["has_theme"] = "theme" in controller.state["settings"]
    controller.state["tag_count"] = len(controller.state["tags"])
    controller.state["shout"] = controller.state["draft"].upper()
    controller.append_state_text(["draft"], "!")
    controller.append_text("done")


async def main():
    operations = []
    async for chunk in create_run(run, state={}):
        if chunk.type == "update-state":
            operations.extend(chunk.operations)
    return operations
"""

FASTAPI_ENDPOINT = """
import json

from fastapi import FastAPI
from pydantic import BaseModel

from assistant_stream import RunController, create_run
from assistant_stream.serialization import DataStreamResponse


class ChatRequest(BaseModel):
    messages: list[dict]


app = FastAPI()


@app.post("/api/chat")
async def chat(request: ChatRequest):
    async def run(controller: RunController):
        last = request.messages[-1]["content"]
        controller.append_text(f"You said: {last}")
        tool = await controller.add_tool_call("echo", "call_1")
        tool.append_args_text(json.dumps({"text": last}))
        tool.set_response({"echo": last})
        controller.state["turns"] = len(request.messages)

    return DataStreamResponse(create_run(run, state={}))
"""


def load(source: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "example"}
    exec(compile(source, "<example>", "exec"), namespace)
    return namespace


Runner = Callable[[dict[str, Any]], Awaitable[Any]]


async def call_main(namespace: dict[str, Any]) -> Any:
    return await namespace["main"]()


async def post_chat(namespace: dict[str, Any]) -> Any:
    """The endpoint's answer to a chat request, decoded as the data stream it is."""
    transport = httpx.ASGITransport(app=namespace["app"])
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        body = {"messages": [{"role": "user", "content": "Hi there"}]}
        response = await client.post("/api/chat", json=body)
    assert response.status_code == 200
    return response.content


EXAMPLES: dict[str, tuple[str, Runner]] = {
    "create_run": (CREATE_RUN, call_main),
    "tool_calls": (TOOL_CALLS, call_main),
    "state": (STATE, call_main),
    "fastapi_endpoint": (FASTAPI_ENDPOINT, post_chat),
}


def final_state(operations: list[Any]) -> Any:
    state: Any = {}
    for operation in operations:
        state = apply_operation(state, copy.deepcopy(dict(operation)))
    return state


def message_of(data: bytes) -> tuple[Any, ...]:
    """What assistant-ui shows of a data stream: text, tool calls with results, state."""
    message = accumulate(decode(data, "data-stream"), state={})
    calls = [(c.tool_call_id, c.tool_name, c.args, c.result) for c in message.tool_calls]
    return message.text, calls, message.state


SAME: dict[str, Callable[[Any], Any]] = {"state": final_state, "fastapi_endpoint": message_of}
"""How an example's answers are compared where they are not plain values: the state the
operations build (their batching may differ), the message a data stream makes (streambridge
also closes each call's arguments and ends the message, which assistant-stream leaves out)."""


@functools.cache
def theirs(name: str) -> Any:
    """The example's answer on assistant-stream (asyncio only: run in a thread of its own)."""
    source, runner = EXAMPLES[name]
    return asyncio.run(runner(load(source)))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(EXAMPLES))
async def test_example_runs_with_only_the_imports_changed(name: str) -> None:
    source, runner = EXAMPLES[name]
    ours = await runner(load(migrate(source)))
    reference = await anyio.to_thread.run_sync(theirs, name)
    same = SAME.get(name, lambda answer: answer)
    assert same(ours) == same(reference)


def test_the_examples_say_what_they_do() -> None:
    """The comparisons above compare something (an example that ran nothing would pass)."""
    assert theirs("create_run") == "Hello world!"
    text, names, args, results = theirs("tool_calls")
    assert text == "Let me look that up. Sunny in Paris."
    assert names == {"call_1": "get_weather", "call_2": "get_time"}
    assert args == {"call_1": '{"city": "Paris"}', "call_2": "{}"}
    assert results == {"call_1": ({"forecast": "sunny"}, False), "call_2": ("no clock", True)}
    assert final_state(theirs("state")) == {
        "counter": 3,
        "messages": [{"role": "user", "text": "Hi"}],
        "draft": "Hello world!",
        "tags": ["a", "b"],
        "settings": {"theme": "dark", "language": "en"},
        "has_theme": True,
        "tag_count": 2,
        "shout": "HELLO WORLD",
    }
    assert message_of(theirs("fastapi_endpoint")) == (
        "You said: Hi there",
        [("call_1", "echo", {"text": "Hi there"}, {"echo": "Hi there"})],
        {"turns": 1},
    )


def test_migrate_changes_only_the_imports() -> None:
    for source, _ in EXAMPLES.values():
        before, after = source.splitlines(), migrate(source).splitlines()
        changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
        assert changed
        assert all(a.startswith("from assistant_stream") for a, _ in changed)
