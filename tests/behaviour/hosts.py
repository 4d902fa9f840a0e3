"""The host table: which app each real server serves, and the pool that starts them.

A :class:`Host` is an app (an import path into ``behaviour/app.py`` or any module on
``tests/``) on a :class:`Server` (a command line).  Every ASGI app in ``ASGI_APPS`` runs on every
server in ``ASGI_SERVERS``; a host of another kind (WSGI, say) is one more ``Host(...)`` line in
``HOSTS``.  Servers are real processes on 127.0.0.1, each started once per test session, on first
use, and stopped at its end; their logs are checked for server-side errors then.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from .app import PATH

TESTS = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Server:
    name: str
    argv: Callable[[str, int], list[str]]
    """The command serving ``module:attribute`` on 127.0.0.1 at a port."""


def _uvicorn(app: str, port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", "--lifespan", "on"]  # fmt: skip


def _hypercorn(worker: str) -> Callable[[str, int], list[str]]:
    def argv(app: str, port: int) -> list[str]:
        return [sys.executable, "-m", "hypercorn", app, "--bind", f"127.0.0.1:{port}",
                "--worker-class", worker, "--workers", "0",  # serve in this process
                "--log-level", "warning"]  # fmt: skip

    return argv


def _daphne(app: str, port: int) -> list[str]:
    return [sys.executable, "-m", "daphne", "--bind", "127.0.0.1", "--port", str(port),
            "--verbosity", "0", app]  # fmt: skip


UVICORN = Server("uvicorn", _uvicorn)
HYPERCORN_ASYNCIO = Server("hypercorn-asyncio", _hypercorn("asyncio"))
HYPERCORN_TRIO = Server("hypercorn-trio", _hypercorn("trio"))
DAPHNE = Server("daphne", _daphne)


@dataclass(frozen=True)
class Host:
    name: str
    app: str
    """``module:attribute`` the server imports (``tests/`` is on its path)."""
    server: Server
    path: str = PATH
    websocket: bool = True
    """Whether the host serves the WebSocket envelope on ``path``."""
    request_type: str = "dict"
    """What ``controller.request`` is over HTTP (its type's name): the ASGI scope by default."""
    websocket_request_type: str = "dict"
    cancel_within: float = 0.1
    """How soon after a disconnect the run must be cancelled (DESIGN §5: 100 ms on ASGI)."""


@dataclass(frozen=True)
class ASGIApp:
    app: str
    request_type: str = "dict"
    websocket_request_type: str = "dict"


ASGI_SERVERS = (UVICORN, HYPERCORN_ASYNCIO, HYPERCORN_TRIO)

ASGI_APPS = {
    "stream-app": ASGIApp("behaviour.app:stream_app"),
    "middleware": ASGIApp("behaviour.app:middleware_app"),
    "starlette": ASGIApp("behaviour.app:starlette_app", "Request", "WebSocket"),
}

HOSTS = [
    Host(
        f"{name}-{server.name}",
        spec.app,
        server,
        request_type=spec.request_type,
        websocket_request_type=spec.websocket_request_type,
    )
    for name, spec in ASGI_APPS.items()
    for server in ASGI_SERVERS
]

# Framework plugins on the servers their frameworks are run on.  Quart's own ASGI layer is built
# on asyncio tasks and queues; on trio it is QuartTrio, from the quart-trio extension.
HOSTS += [
    Host("channels-daphne", "behaviour.channels_host.asgi:application", DAPHNE),
    Host(
        "quart-hypercorn-asyncio",
        "behaviour.quart_host:app",
        HYPERCORN_ASYNCIO,
        request_type="Request",
        websocket_request_type="Websocket",
    ),
    Host(
        "quart-trio-hypercorn-trio",
        "behaviour.quart_host:trio_app",
        HYPERCORN_TRIO,
        request_type="TrioRequest",
        websocket_request_type="TrioWebsocket",
    ),
]

SERVER_ERRORS = (
    "Exception in ASGI application",  # uvicorn: the app raised
    "Error in ASGI Framework",  # hypercorn: the app raised
    "ASGI callable returned without",  # uvicorn: an unfinished response or handshake
    "Unexpected ASGI message",
    "Exception inside application",  # daphne: the app raised
)
"""Lines a server logs when an app misbehaves; none may appear in a session's logs."""


@dataclass
class LiveHost:
    host: Host
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.host.path}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{self.host.path}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerPool:
    """Starts each host's server once and keeps it for the session."""

    def __init__(self) -> None:
        self._live: dict[str, LiveHost] = {}
        self._ready: set[str] = set()
        self._logs = Path(tempfile.mkdtemp(prefix="streambridge-hosts-"))

    def start(self, hosts: list[Host]) -> None:
        """Launch these servers without waiting, so they boot side by side."""
        for host in hosts:
            if host.name not in self._live:
                self._live[host.name] = self._launch(host)

    def get(self, host: Host) -> LiveHost:
        """The host's running server, launched now if it was not."""
        self.start([host])
        live = self._live[host.name]
        if host.name not in self._ready:
            self._wait_ready(live)
            self._ready.add(host.name)
        return live

    def _launch(self, host: Host) -> LiveHost:
        port = _free_port()
        log_path = self._logs / f"{host.name}.log"
        path = os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
        env = {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                host.server.argv(host.app, port), stdout=log, stderr=subprocess.STDOUT, env=env
            )
        return LiveHost(host, port, process, log_path)

    def _wait_ready(self, live: LiveHost) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if live.process.poll() is not None:
                raise RuntimeError(f"{live.host.name} exited at startup:\n{live.log()}")
            try:
                httpx.head(live.url, timeout=1)
            except httpx.TransportError:
                time.sleep(0.05)
            else:
                return
        live.process.kill()
        raise RuntimeError(f"{live.host.name} did not answer within 30 s:\n{live.log()}")

    def close(self) -> list[str]:
        """Stop every server; the server-side errors their logs show, one line each."""
        problems: list[str] = []
        for live in self._live.values():
            live.process.terminate()
        for live in self._live.values():
            try:
                live.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                live.process.kill()
                live.process.wait()
                problems.append(f"{live.host.name}: did not stop within 10 s of SIGTERM")
            for line in live.log().splitlines():
                if any(marker in line for marker in SERVER_ERRORS):
                    problems.append(f"{live.host.name}: {line} (log: {live.log_path})")
        return problems
