"""The host table: which app each real server serves, and the pool that starts them.

A :class:`Host` is an app (an import path into ``support/behaviour/app.py`` or any module on
``tests/``) on a :class:`Server` (a command line).  Every ASGI app in ``ASGI_APPS`` runs on every
server in ``ASGI_SERVERS``; a host of another kind (WSGI, say) is one more ``Host(...)`` line in
``HOSTS``.  Servers are real processes on 127.0.0.1, each started once per test session, on first
use, and stopped at its end; their logs are checked for server-side errors then.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from ..ports import free_port
from .app import BODY_TIMEOUT_PATH, OPTIONS, PATH

TESTS = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Server:
    name: str
    argv: Callable[[str, int], list[str]]
    """The command serving ``module:attribute`` on 127.0.0.1 at a port."""
    sends_connection: bool = False
    """Whether the server adds a ``Connection`` header itself (WSGI servers do; no app may)."""


def _uvicorn(app: str, port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", "--lifespan", "on"]  # fmt: skip


def _hypercorn(worker: str) -> Callable[[str, int], list[str]]:
    def argv(app: str, port: int) -> list[str]:
        return [sys.executable, "-m", "hypercorn", app, "--bind", f"127.0.0.1:{port}",
                "--worker-class", worker, "--workers", "0",  # serve in this process
                "--keep-alive", "1",
                "--log-level", "warning"]  # fmt: skip

    return argv


def _daphne(app: str, port: int) -> list[str]:
    return [sys.executable, "-m", "daphne", "--bind", "127.0.0.1", "--port", str(port),
            "--verbosity", "0", app]  # fmt: skip


def _uvicorn_no_lifespan(app: str, port: int) -> list[str]:
    return [*_uvicorn(app, port)[:-2], "--lifespan", "off"]  # Django speaks no lifespan


def _gunicorn_gthread(app: str, port: int) -> list[str]:
    return [sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}",
            "--worker-class", "gthread", "--workers", "1", "--threads", "16",
            "--graceful-timeout", "5", "--no-control-socket", "--log-level", "warning"]  # fmt: skip


FEW_THREADS = 4
"""The request threads of the gunicorn that test_body_timeout.py fills with slow clients."""


def _gunicorn_gthread_few(app: str, port: int) -> list[str]:
    argv = _gunicorn_gthread(app, port)
    argv[argv.index("--threads") + 1] = str(FEW_THREADS)
    return argv


def _werkzeug(app: str, port: int) -> list[str]:
    return [sys.executable, "-m", "support.behaviour.serve_werkzeug", app, str(port)]


def _runserver(app: str, port: int) -> list[str]:
    return [sys.executable, "-m", "support.behaviour.serve_runserver", app, str(port)]


UVICORN = Server("uvicorn", _uvicorn)
HYPERCORN_ASYNCIO = Server("hypercorn-asyncio", _hypercorn("asyncio"))
HYPERCORN_TRIO = Server("hypercorn-trio", _hypercorn("trio"))
DAPHNE = Server("daphne", _daphne)
UVICORN_NO_LIFESPAN = Server("uvicorn", _uvicorn_no_lifespan)
GUNICORN_GTHREAD = Server("gunicorn-gthread", _gunicorn_gthread, sends_connection=True)
GUNICORN_GTHREAD_FEW = Server(
    f"gunicorn-gthread-{FEW_THREADS}", _gunicorn_gthread_few, sends_connection=True
)
WERKZEUG = Server("werkzeug", _werkzeug, sends_connection=True)
# Two worker processes behind one port, as the Redis guide deploys them.
UVICORN_TWO_WORKERS = Server(
    "uvicorn-2-workers", lambda app, port: [*_uvicorn(app, port), "--workers", "2"]
)
GUNICORN_GTHREAD_TWO_WORKERS = Server(
    "gunicorn-gthread-2-workers",
    lambda app, port: [*_gunicorn_gthread(app, port), "--workers", "2"],  # the last one counts
    sends_connection=True,
)
RUNSERVER = Server("runserver", _runserver, sends_connection=True)


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


WSGI_CANCEL_WITHIN = OPTIONS["heartbeat"] + 0.1
"""DESIGN §5 on WSGI: by the next heartbeat (a write is WSGI's disconnect signal), plus 100 ms.
(On gunicorn and werkzeug streambridge also watches the socket, and does as well as on ASGI.)"""


@dataclass(frozen=True)
class ASGIApp:
    app: str
    request_type: str = "dict"
    websocket_request_type: str = "dict"


ASGI_SERVERS = (UVICORN, HYPERCORN_ASYNCIO, HYPERCORN_TRIO)

ASGI_APPS = {
    "stream-app": ASGIApp("support.behaviour.app:stream_app"),
    "middleware": ASGIApp("support.behaviour.app:middleware_app"),
    "starlette": ASGIApp("support.behaviour.app:starlette_app", "Request", "WebSocket"),
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
    Host("channels-daphne", "support.behaviour.channels_host.asgi:application", DAPHNE),
    Host(
        "quart-hypercorn-asyncio",
        "support.behaviour.quart_host:served_app",
        HYPERCORN_ASYNCIO,
        request_type="Request",
        websocket_request_type="Websocket",
    ),
    Host(
        "quart-trio-hypercorn-trio",
        "support.behaviour.quart_host:served_trio_app",
        HYPERCORN_TRIO,
        request_type="TrioRequest",
        websocket_request_type="TrioWebsocket",
    ),
]
HOSTS += [
    Host("django-uvicorn", "support.behaviour.django_app:asgi_application", UVICORN_NO_LIFESPAN,
         websocket=False, request_type="ASGIRequest"),
    Host("django-gunicorn-gthread", "support.behaviour.django_app:application", GUNICORN_GTHREAD,
         websocket=False, request_type="WSGIRequest", cancel_within=WSGI_CANCEL_WITHIN),
    *(
        Host(f"{name}-{server.name}", app, server, websocket=False, request_type=request_type,
             cancel_within=WSGI_CANCEL_WITHIN)
        for name, app, request_type in [
            ("wsgi-app", "support.behaviour.wsgi_apps:wsgi_app", "dict"),
            ("flask", "support.behaviour.wsgi_apps:flask_app", "Request"),
        ]
        for server in (GUNICORN_GTHREAD, WERKZEUG)
    ),
]  # fmt: skip

WRITE_PATH_HOSTS = [
    Host("django-runserver", "support.behaviour.django_app", RUNSERVER, websocket=False,
         request_type="WSGIRequest", cancel_within=WSGI_CANCEL_WITHIN),
    Host("wsgi-app-gunicorn-gthread-no-socket",
         "support.behaviour.wsgi_apps:wsgi_app_without_socket", GUNICORN_GTHREAD, websocket=False,
         cancel_within=WSGI_CANCEL_WITHIN),
]  # fmt: skip
"""WSGI hosts whose disconnects only a failed write shows (test_write_path.py): TCP takes the
first write after the client left, so streambridge sends keepalives every half heartbeat there,
and the second write, the one that fails, still comes within one heartbeat."""

BODY_TIMEOUT_HOSTS = [
    *(
        Host(f"{name}-body-timeout-{server.name}", app, server, path=BODY_TIMEOUT_PATH,
             websocket=False, cancel_within=WSGI_CANCEL_WITHIN)
        for name, app in [
            ("wsgi-app", "support.behaviour.wsgi_apps:body_timeout_wsgi_app"),
            ("flask", "support.behaviour.wsgi_apps:body_timeout_flask_app"),
        ]
        for server in (GUNICORN_GTHREAD_FEW, WERKZEUG)
    ),
    Host(f"django-body-timeout-{GUNICORN_GTHREAD_FEW.name}",
         "support.behaviour.django_app:application",
         GUNICORN_GTHREAD_FEW, path=BODY_TIMEOUT_PATH, websocket=False,
         cancel_within=WSGI_CANCEL_WITHIN),
]  # fmt: skip
"""WSGI hosts with a short ``body_timeout`` (test_body_timeout.py), gunicorn with only
:data:`FEW_THREADS` threads, so that a few slow clients fill it."""

SERVER_ERRORS = (
    "Exception in ASGI application",  # uvicorn: the app raised
    "Error in ASGI Framework",  # hypercorn: the app raised
    "ASGI callable returned without",  # uvicorn: an unfinished response or handshake
    "Unexpected ASGI message",
    "Exception inside application",  # daphne: the app raised
    "Error handling request",  # gunicorn: the app raised
    "Socket error processing request",  # gunicorn: an unexpected socket error
    "Exception in worker process",  # gunicorn: the app failed to load
    "Error on request",  # werkzeug: the app raised
    "Internal Server Error",  # Django: a view raised
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


BOOT_SECONDS = 90.0
"""How long the pool waits for a server to answer.  It starts every server at once, and side by
side the twenty of them take about 40 s on 2 cores; whichever host the session's first test
happens to use (tests run in a random order) may be among the last to be ready."""


class ServerPool:
    """Starts each host's server once and keeps it for the session."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self._env = env or {}
        """Set in every server's environment, over this process's."""
        self._live: dict[str, LiveHost] = {}
        self._ready: set[str] = set()
        self._ports: set[int] = set()
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
        port = free_port(self._ports)
        log_path = self._logs / f"{host.name}.log"
        path = os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
        env = {**os.environ, **self._env, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                host.server.argv(host.app, port), stdout=log, stderr=subprocess.STDOUT, env=env
            )
        return LiveHost(host, port, process, log_path)

    def _wait_ready(self, live: LiveHost) -> None:
        deadline = time.monotonic() + BOOT_SECONDS
        while time.monotonic() < deadline:
            if live.process.poll() is not None:
                raise RuntimeError(f"{live.host.name} exited at startup:\n{live.log()}")
            try:
                # Connection: close, or the server keeps this probe's connection open until its
                # keep-alive timeout (hypercorn: 5 s), and the leak check would count it.
                httpx.head(live.url, headers={"Connection": "close"}, timeout=1)
            except httpx.TransportError:
                time.sleep(0.05)
            else:
                return
        live.process.kill()
        raise RuntimeError(
            f"{live.host.name} did not answer within {BOOT_SECONDS:.0f} s:\n{live.log()}"
        )

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
