"""Per-host serving benchmark: the same two runs on every framework streambridge plugs into,
each on the server it is run on, side by side over real HTTP on 127.0.0.1.

Hosts (apps in ``host_apps/``, every streambridge option at its default; one server process
each, gunicorn with one gthread worker):

    StreamApp, Starlette plugin, Django (ASGI)     on uvicorn (--loop asyncio --http h11)
    StreamApp                                      on uvicorn-standard (--loop uvloop --http
                                                   httptools), when uvloop and httptools are
                                                   installed (``--group uvicorn-standard``)
    Channels                                       on daphne
    Quart                                          on hypercorn (asyncio worker)
    Django (WSGI), Flask, StreamWSGIApp            on gunicorn gthread, --threads 256

Two figures, measured with ``serving.py``'s client (raw sockets, imported from there):

(1) burst: one response of 200,000 ``append_text("x")`` calls with ``await controller.drain()``
    every 1,000; deltas per second from writing the request to the body's last byte, best of 3
    rounds, each round running every host in turn (interleaved), after a check of each body.
(2) server RSS per idle open stream: N streams (one delta, then ``await anyio.sleep(3600)``)
    opened and their first delta read; (RSS with them open - RSS before) / N, measured first,
    on freshly warmed servers.  RSS is the server's whole process tree (gunicorn: master and
    worker).  N = 500 on ASGI hosts; on WSGI hosts each open stream holds one of the worker's
    threads, so N = 200 there, with 256 threads.

    uv run python benchmarks/hosts.py          # ~35 s on 2 cores
    uv run python benchmarks/hosts.py --quick  # ~30 s: 100,000 calls, 300 / 100 streams, 1 round
    uv run --isolated --group uvicorn-standard python benchmarks/hosts.py  # + uvicorn-standard

A host whose warm-up fails is left out of the figures and its row says so (the others measure).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from serving import (
    TEXT_FRAME,
    Server,
    burst_once,
    expect,
    free_port,
    load_average,
    open_idle_streams,
    raise_open_files_limit,
    server_argv,
    stop_server,
    wait_ready,
)

HERE = Path(__file__).resolve().parent
WSGI_THREADS = 256


def _uvicorn(app: str, port: int) -> list[str]:
    return server_argv(app, port, None)  # --loop asyncio --http h11


def _uvicorn_standard(app: str, port: int) -> list[str]:
    return server_argv(app, port, None, "uvicorn-standard")  # --loop uvloop --http httptools


def _daphne(app: str, port: int) -> list[str]:
    return [sys.executable, "-m", "daphne", "--bind", "127.0.0.1", "--port", str(port),
            "--verbosity", "0", app]  # fmt: skip


def _hypercorn(app: str, port: int) -> list[str]:
    return [sys.executable, "-m", "hypercorn", app, "--bind", f"127.0.0.1:{port}",
            "--worker-class", "asyncio", "--workers", "0",  # serve in this process
            "--log-level", "warning"]  # fmt: skip


def _gunicorn(app: str, port: int) -> list[str]:
    return [sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}",
            "--worker-class", "gthread", "--workers", "1", "--threads", str(WSGI_THREADS),
            "--graceful-timeout", "5", "--no-control-socket", "--log-level", "warning"]  # fmt: skip


@dataclass(frozen=True)
class Host:
    name: str
    server: str
    app: str
    argv: Callable[[str, int], list[str]]
    wsgi: bool = False


STANDARD = all(importlib.util.find_spec(name) for name in ("uvloop", "httptools"))
HOSTS = (
    Host("StreamApp", "uvicorn", "host_apps.asgi_apps:stream_app", _uvicorn),
    *([Host("StreamApp", "uvicorn-standard", "host_apps.asgi_apps:stream_app",
            _uvicorn_standard)] if STANDARD else []),
    Host("Starlette plugin", "uvicorn", "host_apps.asgi_apps:starlette_app", _uvicorn),
    Host("Django (ASGI)", "uvicorn", "host_apps.django_app:asgi_application", _uvicorn),
    Host("Channels", "daphne", "host_apps.channels_app:application", _daphne),
    Host("Quart", "hypercorn", "host_apps.quart_app:app", _hypercorn),
    Host("Django (WSGI)", "gunicorn gthread", "host_apps.django_app:application", _gunicorn,
         wsgi=True),
    Host("Flask", "gunicorn gthread", "host_apps.wsgi_apps:flask_app", _gunicorn, wsgi=True),
    Host("StreamWSGIApp", "gunicorn gthread", "host_apps.wsgi_apps:wsgi_app", _gunicorn,
         wsgi=True),
)  # fmt: skip


@dataclass(frozen=True)
class Sizes:
    burst_calls: int = 200_000
    burst_repeats: int = 3
    asgi_streams: int = 500
    wsgi_streams: int = 200
    settle: float = 1.0


FULL = Sizes()
QUICK = Sizes(burst_calls=100_000, burst_repeats=1, asgi_streams=300, wsgi_streams=100)


def tree_rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` and its descendants (gunicorn serves from a forked worker)."""
    total = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total += int(line.split()[1])
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            total += tree_rss_kib(int(child))
    return total


def launch(host: Host, logs: Path) -> Server:
    port = free_port()
    log_path = logs / f"{host.name.replace(' ', '-')}-{host.server.replace(' ', '-')}-{port}.log"
    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            host.argv(host.app, port),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"},
            cwd=HERE,
            preexec_fn=raise_open_files_limit,
        )
    return Server(host.name, port, process, log_path)


@dataclass
class Result:
    host: Host
    streams: int
    seconds: list[float] = field(default_factory=list)
    before_kib: int = 0
    open_kib: int = 0
    failed: str = ""  # why its warm-up failed; nothing else was measured then

    def rate(self, calls: int) -> float:
        return calls / min(self.seconds)

    def per_stream_kib(self) -> float:
        return (self.open_kib - self.before_kib) / self.streams


async def memory_round(server: Server, result: Result, settle: float) -> None:
    await asyncio.sleep(settle / 2)
    result.before_kib = tree_rss_kib(server.process.pid)
    transports = await open_idle_streams(server.port, result.streams)
    await asyncio.sleep(settle)
    result.open_kib = tree_rss_kib(server.process.pid)
    for transport in transports:
        transport.close()
    await asyncio.sleep(0.5)  # WSGI: let the threads see the disconnects


def measure(sizes: Sizes) -> tuple[list[Result], list[str]]:
    raise_open_files_limit()
    problems: list[str] = []
    started = time.perf_counter()

    def phase(text: str) -> None:
        print(f"[{time.perf_counter() - started:5.1f} s] {text}", flush=True)

    results = [
        Result(host, sizes.wsgi_streams if host.wsgi else sizes.asgi_streams) for host in HOSTS
    ]
    with tempfile.TemporaryDirectory(prefix="streambridge-hosts-") as scratch:
        live: list[Server] = []
        try:
            for host in HOSTS:
                live.append(launch(host, Path(scratch)))
            phase("starting and warming up the servers")
            for server, result in zip(live, results, strict=True):
                wait_ready(server)
                try:
                    for _ in range(3):
                        burst_once(server.port, 5_000, timeout=10)
                    transports = asyncio.run(open_idle_streams(server.port, 3, close=True))
                    expect(not transports, "not closed")
                except (OSError, AssertionError) as error:  # a socket timeout is an OSError
                    said = [line.strip() for line in server.log().splitlines() if line.strip()]
                    result.failed = f"{type(error).__name__}: {error}" + (
                        f"; its log's last line: {said[-1]}" if said else ""
                    )
                    print(f"{host_label(result.host)}: warm-up failed: {result.failed}")
            measured = [(s, r) for s, r in zip(live, results, strict=True) if not r.failed]
            phase("(2) RSS per idle stream, first, on fresh servers")
            for server, result in measured:
                asyncio.run(memory_round(server, result, sizes.settle))
            phase("(1) burst: checking the bodies")
            frames = TEXT_FRAME * sizes.burst_calls
            for server, _ in measured:
                _, _, body = burst_once(server.port, sizes.burst_calls)
                expect(
                    body.startswith(frames), f"{server.library}: not {sizes.burst_calls:,} lines"
                )
                rest = body[len(frames) :]
                expect(
                    rest == b"" or rest.startswith(b"d:"), f"{server.library}: tail {rest[:40]!r}"
                )
            for round_ in range(1, sizes.burst_repeats + 1):
                phase(f"(1) burst, round {round_}")
                for server, result in measured:
                    result.seconds.append(burst_once(server.port, sizes.burst_calls)[0])
        finally:
            for server in live:
                stop_server(server, problems)
    phase("done")
    return results, problems


def host_label(host: Host) -> str:
    return f"{host.name} on {host.server}"


def header(sizes: Sizes) -> str:
    servers = ", ".join(
        f"{name} {version(name)}" for name in ("uvicorn", "daphne", "hypercorn", "gunicorn")
    )
    if STANDARD:
        servers += f" (uvicorn-standard: uvloop {version('uvloop')}, httptools "
        servers += f"{version('httptools')})"
    frameworks = ", ".join(
        f"{name} {version(name)}" for name in ("starlette", "django", "channels", "quart", "flask")
    )
    return (
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {load_average()}; streambridge "
        f"{version('streambridge')}; {servers}; {frameworks}; {sizes}"
    )


def table(results: list[Result], sizes: Sizes) -> list[str]:
    lines = [
        f"| host | server | burst deltas/s ({sizes.burst_calls:,} deltas, best of "
        f"{sizes.burst_repeats}) | server RSS per idle open stream | N |",
        "|---|---|---:|---:|---|",
    ]
    for result in results:
        host = result.host
        n = f"{result.streams:,}"
        if host.wsgi:
            n += f" (one thread each; --threads {WSGI_THREADS})"
        if result.failed:
            lines.append(f"| {host.name} | {host.server} | failed: {result.failed} | | {n} |")
            continue
        lines.append(
            f"| {host.name} | {host.server} | {result.rate(sizes.burst_calls):,.0f} "
            f"| {result.per_stream_kib():.1f} KiB | {n} |"
        )
    return lines


def run(sizes: Sizes = FULL) -> list[str]:
    """Measure, print the header, the details and the table; return the header and table."""
    head = header(sizes)
    print(head, flush=True)
    results, problems = measure(sizes)
    for result in results:
        if result.failed:
            continue
        runs = ", ".join(f"{sizes.burst_calls / s:,.0f}" for s in result.seconds)
        print(
            f"{host_label(result.host)}: burst runs {runs} deltas/s; RSS "
            f"{result.before_kib} KiB before, {result.open_kib} KiB with {result.streams} open"
        )
    for problem in problems:
        print(f"server log: {problem}")
    print()
    lines = [head, "", *table(results, sizes)]
    print("\n".join(lines[2:]))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer calls and streams")
    args = parser.parse_args(argv)
    run(QUICK if args.quick else FULL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
