"""The ASGI examples run as their docstrings and examples/README.md say: each is started with its
one command on a real server, answers one POST and serves one WebSocket run, so none can rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from httpx_ws import connect_ws

from streambridge.client import Message, accumulate, decode
from support.behaviour.client import envelope_message
from support.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
QUESTION = "What is the weather in Oslo?"


@dataclass(frozen=True)
class Example:
    command: list[str]
    """The documented command, after ``uv run`` (examples/README.md has it verbatim)."""
    port: Callable[[int], list[str]]
    """The options that put it on another port than the documented 8000."""
    env: dict[str, str] = field(default_factory=dict)
    ws_path: str = "/api/ws"

    def documented(self) -> str:
        env = [f"{name}={value}" for name, value in self.env.items()]
        return " ".join([*env, "uv run", *self.command])


def _on_port(port: int) -> list[str]:
    return ["--port", str(port)]


EXAMPLE_COMMANDS = {
    "starlette_app": Example(["uvicorn", "--app-dir", "examples", "starlette_app:app"], _on_port),
    "asgi_mount": Example(["uvicorn", "--app-dir", "examples", "asgi_mount:app"], _on_port),
    "quart_app": Example(
        ["hypercorn", "examples/quart_app.py:app"], lambda port: ["--bind", f"127.0.0.1:{port}"]
    ),
    "channels_project": Example(
        ["daphne", "chat_project.asgi:application"],
        _on_port,
        {"PYTHONPATH": "examples/channels_project"},
    ),
}


@dataclass
class Running:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def _start(name: str, example: Example, logs: Path) -> Running:
    port = free_port()
    log = logs / f"{name}.log"
    # `uv run X` runs the environment's X: here, the console script beside this interpreter.
    script, *options = example.command
    command = [str(Path(sys.executable).with_name(script)), *options, *example.port(port)]
    env = {**os.environ, **example.env, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Running(port, process, log)


def _wait_ready(running: Running) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise AssertionError(f"the example exited at startup:\n{running.text()}")
        try:
            httpx.get(f"http://127.0.0.1:{running.port}/", timeout=1)
        except httpx.TransportError:
            time.sleep(0.05)
        else:
            return
    raise AssertionError(f"the example did not answer within 30 s:\n{running.text()}")


@pytest.fixture(scope="module")
def examples() -> Iterator[dict[str, Running]]:
    logs = Path(tempfile.mkdtemp(prefix="streambridge-examples-"))
    running = {name: _start(name, example, logs) for name, example in EXAMPLE_COMMANDS.items()}
    try:
        yield running
    finally:
        for each in running.values():
            each.process.terminate()
        for each in running.values():
            try:
                each.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                each.process.kill()
                each.process.wait()


def post_chat(port: int) -> Message:
    body = {
        "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": QUESTION}]}]
    }
    url = f"http://127.0.0.1:{port}/api/chat"
    with httpx.Client(timeout=30) as client:
        response = client.post(url, params={"protocol": "ui-message-stream"}, json=body)
    assert response.status_code == 200, response.text
    assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
    return accumulate(decode(response.content, "ui-message-stream"))


def websocket_run(port: int, path: str) -> Message:
    send = {"type": "send", "requestId": "r1", "messages": [{"role": "user", "content": QUESTION}]}
    with (
        httpx.Client(timeout=30) as client,
        connect_ws(f"ws://127.0.0.1:{port}{path}", client) as ws,
    ):
        ws.send_text(json.dumps(send))
        frames = [ws.receive_json(timeout=30)]
        while frames[-1]["type"] not in ("end", "error"):
            frames.append(ws.receive_json(timeout=30))
    assert frames[0] == {"type": "start", "requestId": "r1"}
    assert frames[-1] == {"type": "end", "requestId": "r1"}
    return envelope_message(frames[1:-1])


@pytest.mark.parametrize("name", list(EXAMPLE_COMMANDS))
def test_example_serves_a_post_and_a_websocket_run(name: str, examples: dict[str, Running]) -> None:
    running = examples[name]
    _wait_ready(running)
    with ThreadPoolExecutor(2) as pool:  # the demo is paced like a model: both at once
        posted = pool.submit(post_chat, running.port)
        streamed = pool.submit(websocket_run, running.port, EXAMPLE_COMMANDS[name].ws_path)
        for message in (posted.result(timeout=60), streamed.result(timeout=60)):
            assert "In Oslo it is 21 °C" in message.text
            assert [call.tool_name for call in message.tool_calls] == ["get_weather"]
            assert not message.errors
    assert "Traceback" not in running.text()


def test_every_example_is_documented_with_the_command_tested_here() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    for name, example in EXAMPLE_COMMANDS.items():
        assert (EXAMPLES / name).is_dir() or (EXAMPLES / f"{name}.py").is_file(), name
        assert example.documented() in readme, name
