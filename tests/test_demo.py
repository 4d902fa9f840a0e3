"""The demo: its scripted assistant through every protocol, the page app, the page's JavaScript
(decoders and request builders, run under node on real encoder bytes) and the CLI on a real
uvicorn server."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import streambridge as sb
from bridges.support import SDK_ASYNCGEN_LEAK
from bridges.upstream import Upstream, start_upstream
from streambridge.client import Message, accumulate, decode
from streambridge.demo.app import STATIC, demo_app
from streambridge.demo.assistant import demo_run
from streambridge.demo.model import DEFAULT_MODEL, ModelServer, model_run
from streambridge.protocols import get_protocol, protocol_names
from streambridge.transport.envelope import chunk_frame
from streambridge.transport.events import EventSplitter
from support.behaviour.protocol_table import request_body
from support.ci import skip_or_fail
from support.ports import free_port

ORACLES = Path(__file__).parent / "oracles"

PROTOCOLS = protocol_names()
QUESTION = "Is it sunny in Buenos Aires today?"
CITY = "Buenos Aires"
WEATHER = {"city": CITY, "temperature_c": 21, "sky": "clear", "wind_kph": 9}
STATIC_DIR = Path(str(STATIC))
SHIPPED = {"/" + p.relative_to(STATIC_DIR).as_posix() for p in STATIC_DIR.rglob("*.*")}

# What each protocol's own client POSTs for one user message (see docs/protocols/*.md).
USER = {"role": "user", "content": QUESTION}
BODIES: dict[str, Any] = {
    "data-stream": {"messages": [USER]},
    "assistant-transport": {
        "commands": [
            {
                "type": "add-message",
                "message": {"role": "user", "parts": [{"type": "text", "text": QUESTION}]},
            }
        ]
    },
    "ui-message-stream": {
        "id": "chat1",
        "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": QUESTION}]}],
        "trigger": "submit-message",
    },
    "openai-chat": {"model": "m", "messages": [USER], "stream_options": {"include_usage": True}},
    "openai-responses": {"model": "m", "input": QUESTION, "stream": True},
    "openai-assistants": {"assistant_id": "asst_1", "thread": {"messages": [USER]}},
    "ag-ui": {"threadId": "t1", "runId": "r1", "messages": [{"id": "m1", **USER}], "state": {}},
}
NO_STATE = {"openai-responses"}  # the Responses API has no place for state


async def demo_bytes(protocol: str, body: Any) -> list[bytes]:
    """A whole demo run (no delays) in ``protocol``, as the encoder's writes."""
    run_input = get_protocol(protocol).parse_request(body)
    stream = sb.create_run(partial(demo_run, delay=0), input=run_input)
    async with sb.encode(stream, protocol=protocol) as encoded:
        return [piece async for piece in encoded]


async def demo_chunks(body: Any, protocol: str) -> Message:
    """What the run itself made: its raw chunks, ended as every encoder ends them."""
    run_input = get_protocol(protocol).parse_request(body)
    async with sb.create_run(partial(demo_run, delay=0), input=run_input) as stream:
        return accumulate([chunk async for chunk in stream], complete=True)


def _tokens(text: str) -> int:
    return len(re.findall(r"\S+\s*", text))


# -- the assistant through every protocol --------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_the_demo_run_reads_back_through_every_protocol(protocol: str) -> None:
    message = accumulate(decode(await demo_bytes(protocol, BODIES[protocol]), protocol))

    assert f"I should check the weather in {CITY}." in message.reasoning
    [call] = message.tool_calls
    assert (call.tool_name, call.args, call.result) == (
        "get_weather",
        {"city": CITY, "unit": "celsius"},
        WEATHER,
    )
    [source] = message.sources
    assert (source.url, source.title) == (
        "https://en.wikipedia.org/wiki/Buenos_Aires",
        f"{CITY} — Wikipedia",
    )
    assert message.text.startswith(f"You asked: “{QUESTION}”\n\nIn {CITY} it is 21 °C")
    assert message.text.endswith("☀️ A fine day for a walk.")
    assert message.errors == []
    assert message.finish_reason == "stop"
    assert message.usage is not None
    assert (message.usage.input_tokens, message.usage.output_tokens) == (
        _tokens(QUESTION) + 12,
        _tokens(message.text) + 14,
    )
    if protocol in NO_STATE:
        assert message.state is None
    else:
        assert message.state == {
            "status": "done",
            "summary": message.text,
            "tool_calls": [{"name": "get_weather", "city": CITY}],
        }
    # ... and all of it is exactly what the run made.
    made = await demo_chunks(BODIES[protocol], protocol)
    assert (message.text, message.reasoning, message.usage) == (
        made.text,
        made.reasoning,
        made.usage,
    )


def test_the_assistant_finds_the_question_in_every_message_shape() -> None:
    for protocol, body in BODIES.items():
        assert get_protocol(protocol).parse_request(body).last_user_text == QUESTION, protocol
    assert sb.RunInput(messages=[]).last_user_text == ""


# -- the page app --------------------------------------------------------------------------------

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
REFERENCE = re.compile(r"""(?:\b(?:src|href)=|\bfrom\s+|\bimport\s+)["']([^"':]+)["']""")


def _references(path: str, text: str) -> set[str]:
    """The static files a page or module names (relative to it), as absolute URL paths."""
    base = path.rpartition("/")[0]
    found = set()
    for target in REFERENCE.findall(text):
        parts = f"{base}/{target}".split("/")
        resolved: list[str] = []
        for part in parts:
            if part == "..":
                resolved.pop()
            elif part not in ("", "."):
                resolved.append(part)
        found.add("/" + "/".join(resolved))
    return found


@pytest.fixture
async def page() -> Any:
    transport = httpx.ASGITransport(app=demo_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
        yield client


@pytest.mark.anyio
async def test_the_page_and_every_file_it_references_are_served(page: httpx.AsyncClient) -> None:
    index = await page.get("/")
    assert index.status_code == 200
    assert index.headers["content-type"] == CONTENT_TYPES[".html"]
    assert '<script type="module" src="js/app.js">' in index.text
    seen: set[str] = set()
    todo = _references("/index.html", index.text)
    while todo:
        path = todo.pop()
        seen.add(path)
        response = await page.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == CONTENT_TYPES[Path(path).suffix], path
        todo |= _references(path, response.text) - seen
    assert seen | {"/index.html"} == SHIPPED  # every file is used, every used file ships
    assert {f"/js/protocols/{name}.js" for name in PROTOCOLS} <= seen


@pytest.mark.anyio
@pytest.mark.parametrize(
    "path", ["/nope.html", "/js/nope.js", "/js/", "/js", "/.hidden", "/js//app.js"]
)
async def test_unknown_paths_are_404(page: httpx.AsyncClient, path: str) -> None:
    response = await page.get(path)
    assert response.status_code == 404
    assert response.json() == {"error": {"message": "not found"}}


@pytest.mark.anyio
async def test_paths_cannot_leave_the_static_folder() -> None:
    app = demo_app()
    for path in ["/../app.py", "/js/../../app.py", "/../__init__.py"]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any], sent: list[dict[str, Any]] = sent) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}
        await app(scope, receive, send)
        assert sent[0]["status"] == 404, path


@pytest.mark.anyio
async def test_the_protocol_list_and_other_methods(page: httpx.AsyncClient) -> None:
    response = await page.get("/api/protocols")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert sorted(response.json()["protocols"]) == sorted(PROTOCOLS)
    assert response.json()["default"] == "data-stream"  # the page starts on it
    assert len(PROTOCOLS) == 7
    icon = await page.get("/favicon.ico")  # asked for by browsers, whatever the page links
    assert (icon.status_code, icon.headers["content-type"]) == (200, "image/svg+xml")
    refused = await page.post("/", content=b"{}")
    assert (refused.status_code, refused.headers["allow"]) == (405, "GET, HEAD")
    head = await page.head("/")
    assert (head.status_code, head.content) == (200, b"")


@pytest.mark.anyio
async def test_the_page_app_serves_the_assistant(page: httpx.AsyncClient) -> None:
    body = BODIES["ui-message-stream"]
    response = await page.post("/api/chat?protocol=ui-message-stream", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert CITY in accumulate(decode(response.content, "ui-message-stream")).text


# -- the page's JavaScript, under node -----------------------------------------------------------

NODE_RUNNER = r"""
import { pathToFileURL } from "node:url";
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const spec = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const js = pathToFileURL(spec.static + "/js/").href;
const { PROTOCOLS } = await import(js + "protocols/index.js");
const { createSplitter } = await import(js + "framing.js");
const { applyOp, createMessage } = await import(js + "message.js");
const { chunkEvent } = await import(js + "transport.js");

const protocol = PROTOCOLS[spec.protocol];
function model(events) {
  const decoder = protocol.createDecoder();
  const message = createMessage(spec.state ?? null);
  const apply = (ops) => ops.forEach((op) => applyOp(message, op));
  for (const { event, data } of events) apply(decoder.decode(event, data));
  apply(decoder.close());
  return message;
}
function overHttp(bytes, size) {
  const splitter = createSplitter(protocol.framing);
  const events = [];
  for (let i = 0; i < bytes.length; i += size) {
    events.push(...splitter.push(bytes.subarray(i, i + size)));
  }
  return model([...events, ...splitter.end()]);
}
const out = {};
if (spec.bytes !== undefined) {
  const bytes = Buffer.from(spec.bytes, "base64");
  for (const size of spec.sizes) out[`http/${size}`] = overHttp(new Uint8Array(bytes), size);
}
if (spec.frames) {
  out.ws = model(spec.frames.map((frame) => chunkEvent(JSON.parse(frame), protocol.framing)));
}
if (spec.conversation) {
  const conversation = spec.conversation.map((turn) => turn.role === "assistant"
    ? { ...turn, message: out[turn.message] } : turn);
  out.request = protocol.request(conversation, spec.context);
}
process.stdout.write(JSON.stringify(out));
"""


def run_node(spec: dict[str, Any]) -> Any:
    node = shutil.which("node")
    if node is None:
        skip_or_fail("node is not installed: the page's JavaScript cannot be run")
    assert node is not None
    spec = {"static": str(STATIC_DIR), **spec}
    completed = subprocess.run(
        [node, "--input-type=module", "-e", NODE_RUNNER],
        input=json.dumps(spec).encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr.decode(errors="replace")
    return json.loads(completed.stdout)


def js_view(model: dict[str, Any]) -> dict[str, Any]:
    """What the page renders, in terms both sides share."""
    parts = model["parts"]
    return {
        "kinds": [p["type"] for p in parts],
        "text": "".join(p["text"] for p in parts if p["type"] == "text"),
        "reasoning": "".join(p["text"] for p in parts if p["type"] == "reasoning"),
        "tools": [
            (p["name"], json.loads(p["argsText"] or "{}"), p["argsDone"], p["result"], p["isError"])
            for p in parts
            if p["type"] == "tool"
        ],
        "sources": [(p["url"], p["title"]) for p in parts if p["type"] == "source"],
        "data": [(p["name"], p["data"]) for p in parts if p["type"] == "data"],
        "files": [(p["mimeType"], p["data"]) for p in parts if p["type"] == "file"],
        "state": model["state"],
        "finish": model["finishReason"],
        "usage": model["usage"],
        "errors": model["errors"],
    }


PY_KINDS = {
    "TextPart": "text",
    "ReasoningPart": "reasoning",
    "ToolCallPart": "tool",
    "SourcePart": "source",
    "DataPart": "data",
    "FilePart": "file",
}


def py_view(message: Message) -> dict[str, Any]:
    usage = message.usage
    return {
        "kinds": [PY_KINDS[type(p).__name__] for p in message.parts],
        "text": message.text,
        "reasoning": message.reasoning,
        "tools": [
            (c.tool_name, c.args, c.args_complete, c.result, c.is_error) for c in message.tool_calls
        ],
        "sources": [(s.url, s.title) for s in message.sources],
        "data": [(d.name, d.data) for d in message.data],
        "files": [(f.mime_type, f.data) for f in message.files],
        "state": message.state,
        "finish": message.finish_reason,
        "usage": usage and {"inputTokens": usage.input_tokens, "outputTokens": usage.output_tokens},
        "errors": message.errors,
    }


def ws_frames(pieces: list[bytes], protocol: str) -> list[str]:
    """The WebSocket envelope's chunk frames for these bytes, as the server sends them."""
    framing = get_protocol(protocol).framing
    splitter = EventSplitter(framing)
    events = [event for piece in pieces for event in splitter.feed(piece)]
    frames = [chunk_frame("r1", i, event, framing) for i, event in enumerate(events)]
    return [frame for frame in frames if frame is not None]


def _js_model_tuple(view: dict[str, Any]) -> Any:
    return json.loads(json.dumps(view))  # tuples as lists, as JSON has them


@pytest.mark.anyio
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_the_page_decodes_every_protocol_as_the_python_client(protocol: str) -> None:
    pieces = await demo_bytes(protocol, BODIES[protocol])
    data = b"".join(pieces)
    expected = _js_model_tuple(py_view(accumulate(decode(pieces, protocol))))
    assert expected["text"]
    assert expected["tools"]
    assert expected["finish"] == "stop"
    sizes = [len(data), 1, 2, 3, 7, 64]
    spec = {"protocol": protocol, "bytes": base64.b64encode(data).decode(), "sizes": sizes}
    models = run_node({**spec, "frames": ws_frames(pieces, protocol)})
    assert set(models) == {f"http/{size}" for size in sizes} | {"ws"}
    for how, model in models.items():
        assert _js_model_tuple(js_view(model)) == expected, how


# Streams that exercise what the demo run does not: errors, files, data, a cut stream, patches.
async def _scenario(controller: sb.RunController, *, fail: bool) -> None:
    state = controller.state  # each flush: one state event (AG-UI: a STATE_DELTA patch)
    state["items"] = ["a"]
    state["note"] = "he"
    controller.flush()
    state["items"].append({"x~/y": 1})  # AG-UI "add" at /items/1
    controller.flush()
    state["note"] += "llo"  # append-text
    controller.flush()
    del state["items"][0]
    controller.flush()
    state["items"][0]["x~/y"] = [None]  # AG-UI "replace" at /items/0/x~0~1y
    controller.flush()
    controller.append_text("Here: ")
    controller.add_file(data=base64.b64encode(b"\x89PNG").decode(), mime_type="image/png")
    controller.add_data({"rows": [1, 2]}, name="table")
    failing = controller.add_tool_call("lookup")
    failing.append_args_text('{"q": "x"}')
    failing.set_response("not found", is_error=True)
    waiting = controller.add_tool_call("confirm")
    waiting.append_args_text('{"ok": tr')
    waiting.append_args_text("ue}")
    if fail:
        controller.add_error("The lookup failed.")


@pytest.mark.anyio
@pytest.mark.parametrize("ending", ["error", "tool-calls"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_the_page_decodes_errors_files_data_and_state_patches(
    protocol: str, ending: str
) -> None:
    run_input = get_protocol(protocol).parse_request(BODIES[protocol])
    run_input.state = {"seed": True}
    run = partial(_scenario, fail=ending == "error")
    async with sb.encode(sb.create_run(run, input=run_input), protocol=protocol) as body:
        pieces = [piece async for piece in body]
    data = b"".join(pieces)
    message = accumulate(decode(pieces, protocol), state={"seed": True})
    assert message.finish_reason == ending
    assert bool(message.errors) is (ending == "error")
    assert len(message.tool_calls) == 2
    assert message.files
    expected = _js_model_tuple(py_view(message))
    spec = {
        "protocol": protocol,
        "bytes": base64.b64encode(data).decode(),
        "sizes": [len(data), 1, 5],
        "state": {"seed": True},
        "frames": ws_frames(pieces, protocol),
    }
    for how, model in run_node(spec).items():
        assert _js_model_tuple(js_view(model)) == expected, how
    # A stream cut after a whole event in the middle: what arrived, and no finish.
    boundary = b"\n\n" if get_protocol(protocol).framing == "sse" else b"\n"
    cut = data[: data.rindex(boundary, 0, len(data) // 2) + len(boundary)]
    cut_expected = _js_model_tuple(py_view(accumulate(decode(cut, protocol), state={"seed": True})))
    assert cut_expected["finish"] is None
    cut_spec = {**spec, "bytes": base64.b64encode(cut).decode(), "sizes": [len(cut), 3]}
    del cut_spec["frames"]
    for how, model in run_node(cut_spec).items():
        assert _js_model_tuple(js_view(model)) == cut_expected, how


@pytest.mark.anyio
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_the_page_sees_a_run_stopped_elsewhere(protocol: str) -> None:
    """A tab that follows a run another tab stopped gets the protocol's stopped end, and reads
    it as the Python client does: finish "cancelled", which the page shows as "Stopped."."""
    from streambridge.runs import MemoryStore, read_run, record

    async def run(controller: sb.RunController) -> None:
        controller.append_text("Partly ")
        controller.add_tool_call("get_weather").append_args_text('{"city": "Lisbon"}')
        await anyio.sleep_forever()

    store = MemoryStore()
    run_input = get_protocol("data-stream").parse_request(BODIES["data-stream"])
    started = await record(store, sb.create_run(run, input=run_input, grace=0), "data-stream")
    follower = await read_run(store, started, get_protocol(protocol), heartbeat=None)
    pieces = [await follower.__anext__()]
    await store.request_stop(started.run_id)
    pieces += [piece async for piece in follower]
    data = b"".join(pieces)
    expected = _js_model_tuple(py_view(accumulate(decode(pieces, protocol))))
    assert expected["finish"] == "cancelled"
    assert expected["text"] == "Partly "
    spec = {"protocol": protocol, "bytes": base64.b64encode(data).decode(), "sizes": [3]}
    for how, model in run_node({**spec, "frames": ws_frames(pieces, protocol)}).items():
        assert _js_model_tuple(js_view(model)) == expected, how


def test_every_page_module_parses_as_an_es_module(tmp_path: Path) -> None:
    """app.js needs a DOM and runs only in a browser; every module must at least parse."""
    node = shutil.which("node")
    if node is None:
        skip_or_fail("node is not installed: the page's JavaScript cannot be run")
    assert node is not None
    modules = sorted(STATIC_DIR.rglob("*.js"))
    assert STATIC_DIR / "js" / "app.js" in modules
    for module in modules:
        copy = tmp_path / (module.stem + ".mjs")  # .mjs: node parses it as a module
        copy.write_bytes(module.read_bytes())
        checked = subprocess.run([node, "--check", str(copy)], capture_output=True, check=False)
        assert checked.returncode == 0, (module, checked.stderr.decode())


AG_UI_PATCHES = b"".join(
    b"data: " + json.dumps(event).encode() + b"\n\n"
    for event in [
        {"type": "RUN_STARTED", "threadId": "t", "runId": "r"},
        {"type": "STATE_SNAPSHOT", "snapshot": {"list": [1, 2], "a/b": {"c~d": 1}, "gone": 0}},
        {
            "type": "STATE_DELTA",
            "delta": [
                {"op": "add", "path": "/list/1", "value": "inserted"},
                {"op": "add", "path": "/list/-", "value": "last"},
                {"op": "remove", "path": "/list/0"},
                {"op": "replace", "path": "/a~1b/c~0d", "value": {"deep": True}},
                {"op": "remove", "path": "/gone"},
                {"op": "add", "path": "/new", "value": None},
            ],
        },
        {"type": "RUN_FINISHED", "threadId": "t", "runId": "r"},
    ]
)


def test_the_page_applies_ag_ui_patches_as_the_python_client() -> None:
    message = accumulate(decode(AG_UI_PATCHES, "ag-ui"))
    assert message.state == {
        "list": ["inserted", 2, "last"],
        "a/b": {"c~d": {"deep": True}},
        "new": None,
    }
    spec = {"protocol": "ag-ui", "bytes": base64.b64encode(AG_UI_PATCHES).decode(), "sizes": [1]}
    [model] = run_node(spec).values()
    assert model["state"] == message.state
    assert model["finishReason"] == message.finish_reason == "stop"


FRAMING_RUNNER_SPEC = {
    "sse": (
        ": keepalive\r\n\r\nevent: a\r\ndata: 1\r\ndata: 2\r\n\r\n"
        "data:x\n\n: c\nid: 9\ndata: é\r\rdata: unfinished",
        [
            {"event": "a", "data": "1\n2"},
            {"event": None, "data": "x"},
            {"event": None, "data": "é"},
        ],
    ),
    "lines": (
        '0:"a"\r\n\n2:["€"]\nlast',
        [
            {"event": None, "data": '0:"a"'},
            {"event": None, "data": '2:["€"]'},
            {"event": None, "data": "last"},
        ],
    ),
}


@pytest.mark.parametrize("framing", ["sse", "lines"])
def test_the_page_splits_events_across_any_cut(framing: str) -> None:
    text, expected = FRAMING_RUNNER_SPEC[framing]
    data = text.encode()
    script = r"""
import { pathToFileURL } from "node:url";
const [dir, framing, b64] = process.argv.slice(-3);
const { createSplitter } = await import(pathToFileURL(dir + "/js/framing.js").href);
const bytes = new Uint8Array(Buffer.from(b64, "base64"));
const out = {};
for (const size of [bytes.length, 1, 2, 3]) {
  const splitter = createSplitter(framing);
  const events = [];
  for (let i = 0; i < bytes.length; i += size) {
    events.push(...splitter.push(bytes.subarray(i, i + size)));
  }
  out[size] = [...events, ...splitter.end()];
}
process.stdout.write(JSON.stringify(out));
"""
    node = shutil.which("node")
    if node is None:
        skip_or_fail("node is not installed: the page's JavaScript cannot be run")
    assert node is not None
    completed = subprocess.run(
        [
            node,
            "--input-type=module",
            "-e",
            script,
            "--",
            str(STATIC_DIR),
            framing,
            base64.b64encode(data).decode(),
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr.decode(errors="replace")
    for size, events in json.loads(completed.stdout).items():
        assert events == expected, size


@pytest.mark.anyio
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_the_page_builds_each_protocol_s_request_with_the_conversation(
    protocol: str,
) -> None:
    """The page's body for a second question, after a whole first answer (decoded by the page),
    is one the protocol's parser accepts; the assistant answers the new question."""
    data = b"".join(await demo_bytes(protocol, BODIES[protocol]))
    second = "And what about the weather in Rome?"
    conversation = [
        {"id": "u1", "role": "user", "text": QUESTION},
        {"id": "a1", "role": "assistant", "message": f"http/{len(data)}"},
        {"id": "u2", "role": "user", "text": second},
    ]
    context = {"threadId": "thread_1", "runId": "run_2", "state": {"status": "done"}}
    spec = {
        "protocol": protocol,
        "bytes": base64.b64encode(data).decode(),
        "sizes": [len(data)],
        "conversation": conversation,
        "context": context,
    }
    body = run_node(spec)["request"]
    run_input = get_protocol(protocol).parse_request(body)
    assert run_input.last_user_text == second
    if protocol == "assistant-transport":  # the runtime sends only the new command and the state
        assert len(run_input.messages) == 1
        assert run_input.state == {"status": "done"}
    else:  # the first question and its answer (with the tool call, where the protocol has one)
        roles = [m.role for m in run_input.messages]
        assert roles == ["user", "assistant", "user"], roles
        assert run_input.messages[0].text == QUESTION
        assert f"In {CITY} it is 21 °C" in run_input.messages[1].text
        if protocol != "openai-assistants":
            [call] = run_input.messages[1].tool_calls
            assert (call.tool_name, call.args["city"]) == ("get_weather", CITY)
            assert call.has_result
            assert "wind_kph" in json.dumps(call.result)  # the tool result, paired with its call
    answer = accumulate(decode(await demo_bytes(protocol, body), protocol))
    assert "In Rome it is 21 °C" in answer.text
    assert answer.finish_reason == "stop"


# -- the command line, on a real server ---------------------------------------------------------


NO_MODEL = {"OPENAI_BASE_URL": "", "OPENAI_API_KEY": ""}


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("streambridge")
    return [str(script)] if script.exists() else [sys.executable, "-m", "streambridge.cli"]


@contextmanager
def _server(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``streambridge <args> --port P`` running (``env`` added to this process's environment):
    its base URL and process.  At the end it gets Ctrl+C (SIGINT) and must exit 0 without a
    traceback."""
    port = free_port()
    process = subprocess.Popen(
        [*_cli(), *args, "--port", str(port)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # The scripted demo unless the test names a model server (a developer's key is ignored).
        env={**os.environ, "PYTHONUNBUFFERED": "1", **NO_MODEL, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                raise AssertionError(f"the server exited at startup:\n{output}")
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise AssertionError("the server did not answer within 30 s") from None
                time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    assert process.returncode == 0, output.decode()
    assert "Traceback" not in output.decode(), output.decode()


RUN_MODULE = """
async def run(controller):
    controller.append_text("hello from " + controller.input.last_user_text)
"""


def test_serve_runs_a_module_s_function_on_a_real_server(tmp_path: Path) -> None:
    (tmp_path / "my_chat.py").write_text(RUN_MODULE)
    with _server("serve", "my_chat:run", "--protocol", "openai-chat", cwd=tmp_path) as (url, _):
        response = httpx.post(url + "/api/chat", json={"messages": [USER]}, timeout=10)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert accumulate(decode(response.content, "openai-chat")).text == f"hello from {QUESTION}"
        assert httpx.get(url + "/elsewhere", timeout=5).status_code == 404


def test_demo_serves_the_page_and_the_assistant_and_tail_prints_its_chunks() -> None:
    with _server("demo") as (url, _):
        page = httpx.get(url + "/", timeout=5)
        assert page.status_code == 200
        assert "streambridge demo" in page.text
        assert httpx.get(url + "/js/app.js", timeout=5).status_code == 200
        # tail speaks each protocol's own request body; all of them at once (each run ~3 s).
        tails = {
            protocol: subprocess.Popen(
                [
                    *_cli(),
                    "tail",
                    url + "/api/chat",
                    "--protocol",
                    protocol,
                    "--message",
                    "How warm is it in Oslo?",
                    "--chunks",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for protocol in PROTOCOLS
        }
        for protocol, process in tails.items():
            out, err = process.communicate(timeout=60)
            printed = out.decode()
            assert process.returncode == 0, (protocol, err.decode())
            assert "TextDelta(text_delta='Oslo " in printed, protocol
            assert "ToolCallBegin(" in printed, protocol
            assert "get_weather" in printed, protocol
            assert printed.rstrip().splitlines()[-1].startswith("StreamEnd(finish_reason='stop'")


def test_tail_says_what_went_wrong() -> None:
    with _server("demo") as (url, _):
        refused = subprocess.run(
            [*_cli(), "tail", url + "/api/chat?protocol=nope"],
            capture_output=True,
            timeout=30,
            check=False,
        )
    assert refused.returncode != 0
    assert "400" in refused.stderr.decode()
    assert "nope" in refused.stderr.decode()
    assert "Traceback" not in refused.stderr.decode()


def test_ctrl_c_ends_open_streams_cleanly() -> None:
    """Stopping the server gives an open stream the protocol's error and finish, not a cut."""
    with _server("demo") as (url, process):
        body = {"messages": [USER]}
        with httpx.stream("POST", url + "/api/chat", json=body, timeout=10) as response:
            lines = response.iter_lines()
            first = next(lines)
            process.send_signal(signal.SIGINT)
            rest = list(lines)
    message = accumulate(decode("\n".join([first, *rest]).encode(), "data-stream"))
    assert message.errors == ["The server is shutting down. Please try again."]
    assert message.finish_reason == "error"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_xyz:run", "cannot import 'no_such_module_xyz'"),
        ("json:no_such_function", "'json' has no run function 'no_such_function'"),
        ("json:__doc__", "json:__doc__ is not a run function: run must be an async function"),
        ("json:dumps", "json:dumps is not a run function: run <function dumps"),
        ("no_such_package_xyz.chat:run", "Run this from the directory that holds it"),
        ("streambridge_broken_module_xyz:run", "importing it raised ZeroDivisionError"),
        ("json", "expected module:function, got 'json'"),
        ("json:", "expected module:function"),
    ],
)
def test_serve_refuses_a_bad_target_clearly(target: str, message: str, tmp_path: Path) -> None:
    (tmp_path / "streambridge_broken_module_xyz.py").write_text("1 / 0\n")
    completed = subprocess.run(
        [*_cli(), "serve", target, "--port", "1"],
        capture_output=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
    )
    assert completed.returncode != 0
    stderr = completed.stderr.decode()
    assert message in stderr
    assert "Traceback" not in stderr
    assert "serving" not in completed.stdout.decode()  # nothing claims to serve first


@pytest.mark.anyio
async def test_the_demo_keeps_its_runs_for_a_reloaded_page(page: httpx.AsyncClient) -> None:
    """What the page does after a reload or in a second tab: attach by the run's id."""
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "Lisbon?"}]}]}
    first = await page.post("/api/chat?protocol=data-stream", json=body)
    run_id = first.headers["x-resumable-stream-id"]
    again = await page.get(f"/api/chat/runs/{run_id}/stream?protocol=data-stream")
    assert again.status_code == 200
    assert again.content == first.content
    status = await page.get(f"/api/chat/runs/{run_id}")
    assert status.json()["status"] == "done"
    stopped = await page.post(f"/api/chat/runs/{run_id}/cancel")  # the page's Stop button
    assert stopped.json()["status"] == "done"  # it had ended: nothing to stop


@pytest.mark.parametrize("command", [["demo"], ["serve", "tests.support.client_app:run"]])
def test_serving_without_a_server_says_so_before_claiming_to_serve(command: list[str]) -> None:
    hide_uvicorn = (
        "import sys; sys.modules['uvicorn'] = None; "
        "from streambridge.cli import main; main(sys.argv[1:])"
    )
    completed = subprocess.run(
        [sys.executable, "-c", hide_uvicorn, *command, "--port", "1"],
        capture_output=True,
        timeout=30,
        check=False,
        cwd=Path(__file__).parent.parent,
    )
    assert completed.returncode != 0
    assert "pip install 'streambridge[server]'" in completed.stderr.decode()
    assert "Traceback" not in completed.stderr.decode()
    assert completed.stdout.decode() == ""  # no "serving at ..." first


# -- the page in a real browser --------------------------------------------------------------


def test_the_page_in_a_real_browser_streams_every_protocol_and_stops() -> None:
    """Headless Chromium sends a message in each protocol over HTTP and WebSocket, presses
    Stop, and reports what the page shows (tests/oracles/demo-page.mjs)."""
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if shutil.which("node") is None:
        skip_or_fail("node is not installed: the demo page cannot be driven in a browser")
    if not (ORACLES / "node_modules" / "playwright-core").is_dir():
        skip_or_fail("tests/oracles/node_modules is missing: run `make install` (npm ci)")
    if not Path(chromium).exists():
        skip_or_fail(f"no Chromium at {chromium}: apt-get install chromium (or set CHROMIUM=)")
    with _server("demo") as (url, _):
        completed = subprocess.run(
            ["node", "demo-page.mjs", url + "/"],
            cwd=ORACLES,
            capture_output=True,
            timeout=300,
            check=False,
            env={**os.environ, "CHROMIUM": chromium},
        )
    assert completed.returncode == 0, completed.stderr.decode()
    report = json.loads(completed.stdout)
    assert report["problems"] == []  # no console error, no failed request (favicon included)
    assert report["startsOn"] == "data-stream"  # the server's default, not the first name
    assert {(run["protocol"], run["transport"]) for run in report["runs"]} == {
        (protocol, transport) for protocol in PROTOCOLS for transport in ("http", "ws")
    }
    for run in report["runs"]:
        where = (run["protocol"], run["transport"])
        assert run["status"] == "Done.", where
        assert "In Lisbon it is 21 °C" in run["text"], where
        assert run["tool"] == "Tool call get_weather done", where
        assert run["meta"].startswith("finish: stop · 18 input"), where
        assert run["errors"] == "", where
        assert run["newestEventInView"], where  # the log follows, past its 200-event cap too
    assert report["runs"][-1]["events"] == 200
    for stop in report["stops"]:
        assert stop["status"] == "Stopped.", stop["transport"]
        assert stop["meta"] == "finish: — (stopped)", stop["transport"]
        assert "In Lisbon" not in stop["text"], stop["transport"]  # it did stop early
        assert stop["newestEventInView"], stop["transport"]
    assert report["scrolledUp"] < 50  # a reader who scrolled up keeps their place
    # The server keeps the runs: a reloaded page attaches to the one it showed, a second tab
    # follows one the first started (over HTTP, and resumed over the WebSocket a run was started
    # on), and Stop in the second stops it for the first too.
    resume = report["resume"]
    for name in ("reloaded", "secondTab", "reloadedWs", "secondTabWs"):
        case = resume[name]
        assert case["status"] == "Done.", (name, case)
        assert "In Lisbon it is 21 °C" in case["text"], (name, case)
    # The reloaded page and the second tab resumed the WebSocket runs by id, over the WebSocket.
    resumed = resume["resumeFrames"]
    assert len(resumed) == 2, resumed
    assert all(frame["runId"].startswith("run_") for frame in resumed), resumed
    stopped = resume["stoppedElsewhere"]
    assert stopped["second"]["status"] == "Stopped."
    # The tab that did not press Stop hears it from its stream: the protocol's stopped end.
    assert stopped["first"]["status"] == "Stopped.", stopped["first"]
    assert stopped["first"]["meta"].startswith("finish: cancelled"), stopped["first"]
    assert "In Lisbon" not in stopped["first"]["text"]  # its run ended early, on the server


# -- the demo with a model -------------------------------------------------------------------


def test_the_environment_picks_the_demo_s_model_server() -> None:
    assert ModelServer.from_environ({}) is None
    assert ModelServer.from_environ(NO_MODEL) is None
    assert ModelServer.from_environ({"OPENAI_API_KEY": "k"}) == ModelServer(
        None, "k", DEFAULT_MODEL
    )
    local = {"OPENAI_BASE_URL": "http://127.0.0.1:8080/v1", "OPENAI_MODEL": "qwen3"}
    assert ModelServer.from_environ(local) == ModelServer("http://127.0.0.1:8080/v1", None, "qwen3")
    assert ModelServer.from_environ(local).describe() == "qwen3 at http://127.0.0.1:8080/v1"  # type: ignore[union-attr]


def test_a_model_without_the_openai_package_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)  # import openai raises ImportError
    with pytest.raises(RuntimeError, match=r"pip install 'streambridge\[openai\]'"):
        model_run(ModelServer(None, "k"))


@pytest.fixture(scope="module")
def model_server() -> Iterator[Upstream]:
    """A local OpenAI-compatible server answering with a recorded completion (tests/bridges)."""
    upstream, server, thread = start_upstream()
    yield upstream
    server.should_exit = True
    thread.join(10)


RECORDED_TEXT = "Héllo 🌍, 世界 — \u2028done"  # tests/bridges/recordings/chat_reasoning.sse


@pytest.mark.anyio
@SDK_ASYNCGEN_LEAK  # the openai SDK's, on trio (see tests/bridges/support.py)
@pytest.mark.parametrize("protocol", ["data-stream", "ui-message-stream", "openai-chat"])
async def test_the_demo_answers_with_the_model_the_environment_names(
    model_server: Upstream, protocol: str
) -> None:
    server = ModelServer.from_environ({"OPENAI_BASE_URL": model_server.url("chat_reasoning")})
    assert server is not None
    app = demo_app(assistant=model_run(server))
    body = request_body(protocol)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://demo") as c:
        response = await c.post(f"/api/chat?protocol={protocol}", json=body, timeout=10)
    assert response.status_code == 200, response.text
    message = accumulate(decode(response.content, protocol))
    assert message.text == RECORDED_TEXT
    assert message.finish_reason == "stop"


def test_the_demo_command_talks_to_a_model_server(model_server: Upstream) -> None:
    env = {"OPENAI_BASE_URL": model_server.url("chat_reasoning"), "OPENAI_MODEL": "recorded"}
    with _server("demo", env=env) as (url, _):
        response = httpx.post(url + "/api/chat", json={"messages": [USER]}, timeout=10)
        assert response.status_code == 200
        assert accumulate(decode(response.content, "data-stream")).text == RECORDED_TEXT
