"""Every server example in examples/README.md starts with its documented command and streams one
answer of the demo assistant, so the examples and their commands cannot rot."""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import anyio
import httpx
import pytest

from streambridge.client import Message, fetch_message
from support.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "examples" / "README.md"

EXAMPLES = {
    "flask-gunicorn": (
        "gunicorn -k gthread --threads 8 --chdir examples flask_app:app",
        "ui-message-stream",
    ),
    "django-uvicorn": (
        "uvicorn --app-dir examples/django_project --lifespan off chatsite.asgi:application",
        "openai-chat",
    ),
    "django-gunicorn": (
        "gunicorn -k gthread --threads 8 --chdir examples/django_project chatsite.wsgi:application",
        "data-stream",
    ),
    "wsgi-app-gunicorn": (
        "gunicorn -k gthread --threads 8 --chdir examples wsgi_app:app",
        "ag-ui",
    ),
}
"""Each example: its command as the README gives it (after ``uv run``), and the protocol the
test asks it for (``?protocol=``), a different one each."""

QUESTION = "What is the weather in Oslo?"
BODIES: dict[str, dict[str, Any]] = {
    "ui-message-stream": {
        "id": "chat-1",
        "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": QUESTION}]}],
    },
    "ag-ui": {
        "threadId": "t1",
        "runId": "r1",
        "messages": [{"id": "m1", "role": "user", "content": QUESTION}],
    },
}
"""What each protocol's client sends; the others send ``{"messages": [...]}`` with content."""


def _body(protocol: str) -> dict[str, Any]:
    return BODIES.get(protocol, {"messages": [{"role": "user", "content": QUESTION}]})


def _argv(command: str, port: int) -> list[str]:
    """The README's command, on a free port (and, for gunicorn, without the control socket that
    several gunicorns at once would share)."""
    argv = [sys.executable, "-m", *shlex.split(command)]
    if argv[2] == "gunicorn":
        return [*argv, "--bind", f"127.0.0.1:{port}", "--no-control-socket"]
    return [*argv, "--host", "127.0.0.1", "--port", str(port)]


def test_the_readme_gives_every_tested_command() -> None:
    readme = " ".join(README.read_text().split())
    for command, _ in EXAMPLES.values():
        assert f"uv run {command}" in readme, command


@dataclass
class Example:
    server: subprocess.Popen[bytes]
    log: IO[bytes]
    answer: Future[Message]

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")


@pytest.fixture(scope="module")
def examples() -> Iterator[dict[str, Example]]:
    """Every example's server, started side by side, each already asked its question (the demo
    paces its answer over about three seconds: asked at once, they take three in all)."""
    started: dict[str, Example] = {}
    with ExitStack() as stack:
        pool = stack.enter_context(ThreadPoolExecutor(len(EXAMPLES)))
        for name, (command, protocol) in EXAMPLES.items():
            port = free_port()
            log = stack.enter_context(tempfile.TemporaryFile())
            server = subprocess.Popen(_argv(command, port), cwd=ROOT, stdout=log, stderr=log)
            stack.callback(_stop, server)
            answer = pool.submit(anyio.run, _ask, port, protocol, server)
            started[name] = Example(server, log, answer)
        yield started


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_the_example_starts_and_streams_an_answer(examples: dict[str, Example], name: str) -> None:
    example = examples[name]
    try:
        message = example.answer.result(timeout=60)
    except Exception:
        print(example.output())
        raise
    assert "Oslo" in message.text
    assert "21 °C" in message.text
    assert [call.tool_name for call in message.tool_calls] == ["get_weather"]
    assert message.finish_reason == "stop"


async def _ask(port: int, protocol: str, server: subprocess.Popen[bytes]) -> Message:
    url = f"http://127.0.0.1:{port}/api/chat?protocol={protocol}"
    deadline = time.monotonic() + 30
    while True:  # until the server answers
        assert server.poll() is None, "the server exited"
        try:
            async with httpx.AsyncClient(timeout=1) as client:
                await client.head(url)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "the server did not answer within 30 s"
            await anyio.sleep(0.1)
    with anyio.fail_after(30):
        return await fetch_message(url, protocol=protocol, json=_body(protocol))
