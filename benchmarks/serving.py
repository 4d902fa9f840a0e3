"""Serving benchmarks: streambridge's ``StreamApp`` against assistant-stream 0.0.36's
``DataStreamResponse`` on Starlette and against bare ASGI apps, over real HTTP on 127.0.0.1.

Each row's app (``serving_apps.py``) runs in its own server process, all started with the same
command.  ``--server`` picks it (the output names the server, loop and HTTP parser used):

- ``uvicorn`` (the default): ``python -m uvicorn serving_apps:<app> --host 127.0.0.1 --port
  <port> --loop asyncio --http h11 --log-level warning --no-access-log`` (one process; asyncio's
  loop and h11, said explicitly: uvicorn's "auto" takes uvloop and httptools where installed);
- ``uvicorn-standard``: the same with ``--loop uvloop --http httptools`` (what
  ``uvicorn[standard]`` serves with; they come from the ``uvicorn-standard`` dependency group,
  which is not synced by default: ``uv run --isolated --group uvicorn-standard python ...``
  runs with them in a throwaway environment and leaves ``.venv`` as it was);
- ``hypercorn-trio``: ``python -m hypercorn serving_apps:<app> --bind 127.0.0.1:<port>
  --worker-class trio --workers 0 --log-level warning`` (one process, trio's loop).
  assistant-stream is asyncio-only, so its row is left out there (the output says so).

The rows: ``streambridge`` (the checkout this script is in, as installed), ``assistant-stream``
and, where they apply, ``no library``: bare ASGI apps that send what the others send with nothing
in between, the floor of (2) and (4).  ``--baseline REV`` adds ``streambridge@REV``: the same
app, served with the ``src/`` of the git revision ``REV`` (``git archive`` into a temporary
directory) first on the server's ``PYTHONPATH``, so ``import streambridge`` there is REV's code
while ``serving_apps.py`` is this one (it uses only ``StreamApp(run)``); the output prints where
each server's ``streambridge`` was imported from.  The client is this process, on raw sockets:
it writes one POST and de-chunks the body itself, so its cost per delta stays well below the
servers' (its CPU use is printed next to each figure).  Four figures (``--figures`` picks some),
the rows interleaved in each (each round runs every row):

(1) burst: one response of 200,000 ``append_text("x")`` calls that yields every 1,000 calls
    (``await controller.drain()`` / ``await asyncio.sleep(0)``, as ``core_throughput.py``),
    read by a blocking socket into one buffer.  Deltas per second from writing the request to
    the body's last byte, best of 3 after a warm-up; both bodies are checked first (200,000
    ``0:"x"`` lines).
(2) memory: 2,000 idle open streams (one delta, then the run waits on a 1-hour sleep without
    looking at cancellation; heartbeats at each library's default).  Server RSS
    (``/proc/<pid>/status`` VmRSS) with them open minus its RSS before, after a warm-up,
    divided by 2,000; median of 2 rounds, each on fresh servers.  The same is measured
    for a bare ASGI app (no library), the floor that the server itself costs per open response.
(3) disconnect: the client reads the first delta of such a stream and closes its socket; the
    run's ``finally`` writes ``time.monotonic()`` (one clock for every process on Linux) to a
    file.  That time minus the client's time just before ``close()``, median and max of 50; a
    run whose file is not there 5 s after the close counts as still running.
(4) concurrency: N streams of 20 tokens/s: each run sleeps until 50 ms after its previous token
    was due (``asyncio.sleep(0.05)`` less the time the loop took to wake it, so a loaded server
    is still offered 20 tokens/s), and each token carries the ``time.monotonic()`` taken just
    before its ``append_text``.  The N requests start evenly over 1 s; a token's added latency
    is its arrival in the client minus that timestamp, over the tokens sent after the ramp (each
    stream lasts 4 s).  N is sustained when the p99 is under 50 ms and the streams keep 90 % of 20
    tokens/s.  The largest N is searched by doubling from 50, then bisecting to within 15 %; a
    failing N is tried once more before it counts (the machine is shared).  The client is one
    asyncio ``Protocol`` per connection in this process.  The server's CPU time per token
    delivered (``/proc/<pid>/stat``) is reported too: it does not depend on what else the
    machine runs, where the largest N does.  The ``no library`` row runs the same loop in a bare
    ASGI app that sends each token as one data-stream frame with one ``await send(...)``; every
    row's largest N and CPU per token are given against it too (streambridge's targets: at least
    0.8x its streams, at most 1.3x its CPU per token).  That CPU per token is the median over
    the N every row tried (from 200 streams up): a token costs less at a larger N, so a median
    over each row's own trials would favour the row that got further.  The ``no library,
    listening`` row (asyncio only) is that app with a second task per stream that waits for the
    client's disconnect and cancels the run: the least that guarantee costs (the bare app skips
    it; streambridge keeps it).

Servers for (1), (3) and (4) start once and are warmed up; (3) runs last, since it leaves
assistant-stream's abandoned runs behind.

    uv run python benchmarks/serving.py          # ~4 min; writes docs/_static/serving.svg
    uv run python benchmarks/serving.py --quick  # ~2 min, no plot (--plot PATH for one)
    uv run --isolated --group uvicorn-standard python benchmarks/serving.py --quick \\
        --figures 4 --server uvicorn-standard
    uv run python benchmarks/serving.py --quick --figures 4 --baseline main
    uv run python benchmarks/serving.py --quick --profile DIR  # servers under cProfile
    uv run python benchmarks/serving.py --figures 4 --no-gc    # servers without the collector
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import platform
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

from serving_apps import PATH, TOKEN_INTERVAL

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_PLOT = ROOT / "docs" / "_static" / "serving.svg"

STREAMBRIDGE = "streambridge"
ANCHOR = "assistant-stream"
LIBRARIES = (STREAMBRIDGE, ANCHOR)
IDLE_FLOOR = "no library (idle)"  # (2)'s floor: the server and a bare ASGI app, per open stream
BARE = "no library"  # (4)'s floor: a bare ASGI app that sends each token itself
# The same app, with a task listening for the client's disconnect to cancel the run: what that
# guarantee alone costs, against the floor.
BARE_LISTENING = "no library, listening"
BARE_APPS = {BARE, BARE_LISTENING}  # they serve paced streams only
FIGURES = frozenset({1, 2, 3, 4})
SERVERS = ("uvicorn", "uvicorn-standard", "hypercorn-trio")
UVICORN_LOOP_HTTP = {"uvicorn": ("asyncio", "h11"), "uvicorn-standard": ("uvloop", "httptools")}
ASYNCIO_ONLY = {ANCHOR, BARE_LISTENING}  # rows left out on hypercorn-trio
TEXT_FRAME = b'0:"x"\n'
END_OF_BODY = b"\r\n0\r\n\r\n"  # the last chunk of a chunked body
LATENCY_BUDGET = 0.050  # p99 added latency for a sustained N
RATE_FLOOR = 0.9  # share of 20 tokens/s a sustained N must keep
CPU_TRIALS_FROM = 200  # streams: the trials (4)'s CPU per token is the median of


@dataclass(frozen=True)
class Sizes:
    """How much of everything one run measures: ``FULL`` (the default), ``QUICK``, ``SMOKE``."""

    burst_calls: int = 200_000
    burst_repeats: int = 3
    idle_streams: int = 2_000
    memory_rounds: int = 1
    disconnects: int = 50
    disconnect_wait: float = 5.0
    tokens: int = 80  # per stream in (4): 4 s at 20 tokens/s
    ramp: float = 1.0
    start_n: int = 50
    max_n: int = 4_096
    precision: float = 0.15
    confirm_failures: bool = True
    settle: float = 1.0  # seconds a server is left alone before its RSS is read


FULL = Sizes(memory_rounds=2)
QUICK = Sizes(
    burst_repeats=1,
    idle_streams=1_000,
    disconnects=20,
    disconnect_wait=2.0,
    tokens=40,
    precision=0.3,
    confirm_failures=False,
)
SMOKE = Sizes(
    burst_calls=2_000,
    burst_repeats=1,
    idle_streams=10,
    disconnects=2,
    disconnect_wait=0.3,
    tokens=4,
    ramp=0.1,
    start_n=2,
    max_n=4,
    precision=1.0,
    confirm_failures=False,
    settle=0.1,
)


def expect(condition: bool, message: str) -> None:
    """Like ``assert``, but not stripped by ``python -O``."""
    if not condition:
        raise AssertionError(message)


# -- servers -------------------------------------------------------------------------------------


def raise_open_files_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65_536 if hard == resource.RLIM_INFINITY else hard
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SERVER_PROBLEMS = ("Traceback", "ERROR", "Exception in ASGI", "Task was destroyed")


@dataclass
class Server:
    library: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    profiled: bool = False

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS in /proc/<pid>/status")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


NO_GC = "SERVING_NO_GC"
"""Set (by ``--no-gc``): every server runs with Python's garbage collector disabled."""
WITHOUT_GC = (
    "import gc, runpy, sys; gc.disable(); "
    "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)"
)


def server_argv(app: str, port: int, profile: Path | None, server: str = "uvicorn") -> list[str]:
    """The command serving ``module:attribute`` on 127.0.0.1 at ``port`` (one process)."""
    python = [sys.executable, "-m"] if profile is None else [sys.executable, "-m", "cProfile",
                                                             "-o", str(profile), "-m"]  # fmt: skip
    if os.environ.get(NO_GC):
        python = [sys.executable, "-c", WITHOUT_GC]  # then the module, as -m would take it
    if server == "hypercorn-trio":
        return [*python, "hypercorn", app, "--bind", f"127.0.0.1:{port}",
                "--worker-class", "trio", "--workers", "0",  # serve in this process
                "--log-level", "warning"]  # fmt: skip
    loop, http = UVICORN_LOOP_HTTP[server]  # explicit: uvicorn's "auto" takes uvloop if it can
    return [*python, "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
            "--loop", loop, "--http", http,
            "--log-level", "warning", "--no-access-log"]  # fmt: skip


def describe_server(server: str) -> str:
    """The server, its event loop and its HTTP parser, with their versions."""
    if server == "hypercorn-trio":
        described = (
            f"hypercorn {version('hypercorn')} --worker-class trio --workers 0 (trio "
            f"{version('trio')}'s loop, h11 {version('h11')})"
        )
    else:
        loop, http = UVICORN_LOOP_HTTP[server]
        used = (
            f"asyncio's loop, h11 {version('h11')}"
            if loop == "asyncio"
            else f"uvloop {version('uvloop')}, httptools {version('httptools')}"
        )
        described = f"uvicorn {version('uvicorn')} --loop {loop} --http {http} ({used})"
    if os.environ.get(NO_GC):
        described += ", the garbage collector disabled (--no-gc: a diagnosis, not a figure)"
    return described


@dataclass(frozen=True)
class Row:
    """One server process: a library, the baseline or a bare app, and the figures it is in."""

    name: str
    app: str
    figures: frozenset[int]
    src: Path | None = None  # a checkout's src/, first on the server's PYTHONPATH


def make_rows(
    server: str, figures: frozenset[int], baseline: Checkout | None = None
) -> tuple[list[Row], list[str]]:
    """The rows a run measures, and a note for each row left out."""
    library = frozenset({1, 2, 3, 4})
    rows = [Row(STREAMBRIDGE, "serving_apps:streambridge_app", library)]
    if baseline is not None:
        rows.append(Row(baseline.label, "serving_apps:streambridge_app", library, baseline.src))
    rows += [
        Row(ANCHOR, "serving_apps:assistant_stream_app", library),
        Row(IDLE_FLOOR, "serving_apps:bare_app", frozenset({2})),
        Row(BARE, "serving_apps:bare_paced_app", frozenset({4})),
        Row(BARE_LISTENING, "serving_apps:bare_listening_app", frozenset({4})),
    ]
    notes = []
    if server == "hypercorn-trio":
        notes = [f"{name}: left out, it runs on asyncio only" for name in sorted(ASYNCIO_ONLY)]
        rows = [row for row in rows if row.name not in ASYNCIO_ONLY]
    return [row for row in rows if row.figures & figures], notes


def server_env(row: Row) -> dict[str, str]:
    parts = [str(HERE), os.environ.get("PYTHONPATH", "")]
    if row.src is not None:
        parts.insert(0, str(row.src))
    return {**os.environ, "PYTHONPATH": os.pathsep.join(part for part in parts if part)}


def launch(row: Row, server: str, logs: Path, profile_dir: Path | None = None) -> Server:
    port = free_port()
    name = f"{re.sub(r'[^A-Za-z0-9.@-]+', '-', row.name)}-{port}"
    log_path = logs / f"{name}.log"
    profile = None if profile_dir is None else profile_dir / f"{name}.prof"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            server_argv(row.app, port, profile, server),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=server_env(row),
            cwd=HERE,
            preexec_fn=raise_open_files_limit,
        )
    return Server(row.name, port, process, log_path, profiled=profile is not None)


# -- the baseline: another revision's streambridge ------------------------------------------------


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()


@dataclass(frozen=True)
class Checkout:
    rev: str
    commit: str  # short hash
    src: Path

    @property
    def label(self) -> str:
        return f"{STREAMBRIDGE}@{self.rev}"


@contextlib.contextmanager
def checkout(rev: str) -> Iterator[Checkout]:
    """``src/`` of the git revision ``rev``, unpacked into a temporary directory."""
    try:
        commit = git("rev-parse", "--verify", "--short", f"{rev}^{{commit}}")
    except subprocess.CalledProcessError as error:
        message = f"--baseline {rev}: not a git revision here ({error.stderr.strip()})"
        raise SystemExit(message) from None
    with tempfile.TemporaryDirectory(prefix="streambridge-baseline-") as scratch:
        archive = subprocess.Popen(["git", "archive", commit, "src"], cwd=ROOT,
                                   stdout=subprocess.PIPE)  # fmt: skip
        assert archive.stdout is not None
        subprocess.run(["tar", "-x", "-C", scratch], stdin=archive.stdout, check=True)
        archive.stdout.close()
        expect(archive.wait() == 0, f"git archive {commit} src failed")
        src = Path(scratch) / "src"
        expect((src / "streambridge" / "asgi.py").is_file(), f"{rev} has no streambridge.asgi")
        yield Checkout(rev, commit, src)


def revision() -> str:
    """This checkout's commit, and whether ``src/`` differs from it."""
    try:
        commit = git("rev-parse", "--short", "HEAD")
        changes = git("status", "--porcelain", "--", "src")
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    return commit + (" with uncommitted changes in src/" if changes else "")


def imported_from(row: Row) -> str:
    """Where ``import streambridge`` resolves in ``row``'s server process (same env and cwd)."""
    code = "import streambridge; print(streambridge.__file__)"
    found = subprocess.run([sys.executable, "-c", code], cwd=HERE, env=server_env(row),
                           capture_output=True, text=True, check=True, timeout=60)  # fmt: skip
    path = Path(found.stdout.strip()).parent
    if row.src is not None:
        expect(path.is_relative_to(row.src), f"{row.name} imports streambridge from {path}")
    return str(path)


def wait_ready(server: Server) -> None:
    deadline = time.monotonic() + 30
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.library} server exited at startup:\n{server.log()}")
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.library} server did not listen within 30 s") from None
            time.sleep(0.05)
        else:
            return


def warm_up(server: Server) -> None:
    """Run every code path once, with complete streams only (nothing is left running)."""
    if server.library == IDLE_FLOOR:  # it only serves idle streams
        transports = asyncio.run(open_idle_streams(server.port, 3, close=True))
        expect(not transports, "the warm-up streams were not closed")
        return
    if server.library not in BARE_APPS:
        for _ in range(3):
            burst_once(server.port, 5_000, timeout=10)
    trial = asyncio.run(paced_trial(server, streams=5, tokens=3, ramp=0.05))
    expect(trial.errors == 0 and trial.received == 15, f"paced warm-up: {trial.describe()}")


def stop_server(server: Server, problems: list[str]) -> None:
    """Stop it (SIGTERM, then SIGKILL after 5 s); note what its log says went wrong.

    A profiled server gets SIGINT instead: uvicorn re-raises the signal it stopped on, and only
    a KeyboardInterrupt lets cProfile write its file on the way out.
    """
    if server.profiled:
        server.process.send_signal(signal.SIGINT)
    else:
        server.process.terminate()
    try:
        server.process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
        problems.append(f"{server.library}: did not stop within 5 s of SIGTERM (killed)")
    log = server.log()
    if server.profiled:  # its log ends with the SIGINT's traceback: show only its first line
        log = log.split("Traceback", 1)[0]
    for line in log.splitlines():
        if any(marker in line for marker in SERVER_PROBLEMS):
            problems.append(f"{server.library}: {line.strip()}")


@contextlib.contextmanager
def servers(
    rows: list[Row],
    server: str,
    logs: Path,
    problems: list[str],
    profile_dir: Path | None = None,
    failed: dict[str, str] | None = None,
) -> Iterator[dict[str, Server]]:
    """One fresh server per row, started side by side, warmed up, stopped at the end.

    A row whose warm-up fails is left out of what is yielded, with the reason in ``failed``
    (its server log is checked at the end like the others), so the other rows still measure.
    """
    started: dict[str, Server] = {}
    live: dict[str, Server] = {}
    try:
        for row in rows:
            started[row.name] = launch(row, server, logs, profile_dir)
        for name, process in started.items():
            wait_ready(process)
            try:
                warm_up(process)
            except (OSError, AssertionError) as error:  # a socket timeout is an OSError
                if failed is None:
                    raise
                said = [line.strip() for line in process.log().splitlines() if line.strip()]
                failed[name] = f"its warm-up failed: {type(error).__name__}: {error}" + (
                    f"; its log's last line: {said[-1]}" if said else ""
                )
                print(f"{name}: {failed[name]}; left out", flush=True)
            else:
                live[name] = process
        yield live  # the caller may drop some; all are stopped
    finally:
        for process in started.values():
            stop_server(process, problems)


# -- raw HTTP/1.1 ---------------------------------------------------------------------------------


def request_bytes(port: int, body: dict[str, object]) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


def dechunk(response: bytes) -> bytes:
    """The body of a complete chunked HTTP/1.1 response with status 200."""
    head, sep, rest = response.partition(b"\r\n\r\n")
    expect(bool(sep) and head.startswith(b"HTTP/1.1 200"), f"not a 200: {head[:80]!r}")
    expect(b"transfer-encoding: chunked" in head.lower(), "not a chunked response")
    parts: list[bytes] = []
    position = 0
    while True:
        line_end = rest.index(b"\r\n", position)
        size = int(rest[position:line_end].split(b";")[0], 16)
        start = line_end + 2
        if size == 0:
            return b"".join(parts)
        parts.append(rest[start : start + size])
        position = start + size + 2


def burst_once(port: int, calls: int, timeout: float = 120) -> tuple[float, float, bytes]:
    """(wall seconds, client CPU seconds, body) of one burst response read to its end."""
    request = request_bytes(port, {"scenario": "burst", "calls": calls})
    received = bytearray()
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cpu = time.process_time()
        start = time.perf_counter()
        sock.sendall(request)
        while True:
            size = sock.recv_into(buffer)
            if size == 0:
                raise ConnectionError("the server closed the connection mid-body")
            received += view[:size]
            if received.endswith(END_OF_BODY):
                break
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
    return elapsed, cpu, dechunk(bytes(received))


# -- (1) burst ------------------------------------------------------------------------------------


@dataclass
class Burst:
    seconds: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)

    def rate(self, calls: int) -> float:
        return calls / min(self.seconds)

    def client_share(self) -> float:
        best = self.seconds.index(min(self.seconds))
        return self.client_cpu[best] / self.seconds[best]


def measure_burst(live: dict[str, Server], sizes: Sizes) -> dict[str, Burst]:
    results = {library: Burst() for library in live}
    for library, server in live.items():  # check the bodies first
        _, _, body = burst_once(server.port, sizes.burst_calls)
        frames = TEXT_FRAME * sizes.burst_calls
        expect(body.startswith(frames), f'{library}: not {sizes.burst_calls:,} 0:"x" lines')
        rest = body[len(frames) :]
        expect(rest == b"" or rest.startswith(b"d:"), f"{library}: unexpected tail {rest[:40]!r}")
    for _ in range(sizes.burst_repeats):
        for library, server in live.items():
            seconds, cpu, _ = burst_once(server.port, sizes.burst_calls)
            results[library].seconds.append(seconds)
            results[library].client_cpu.append(cpu)
    return results


# -- (2) memory -----------------------------------------------------------------------------------


class IdleReader(asyncio.Protocol):
    """Sends the request and notes when the first delta arrives; reads and drops the rest."""

    def __init__(self, request: bytes, first_delta: asyncio.Future[None]) -> None:
        self.request = request
        self.first_delta = first_delta
        self.seen = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if not self.first_delta.done():
            self.seen += data
            if b'0:"' in self.seen:
                self.first_delta.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.first_delta.done():
            self.first_delta.set_exception(ConnectionError(f"closed before the first delta: {exc}"))


async def open_idle_streams(
    port: int, count: int, *, close: bool = False
) -> list[asyncio.Transport]:
    """Open ``count`` idle streams and wait for each one's first delta (closed then if
    ``close``)."""
    loop = asyncio.get_running_loop()
    request = request_bytes(port, {"scenario": "hang"})
    gate = asyncio.Semaphore(100)  # connections being opened at once (the listen backlog)
    transports: list[asyncio.Transport] = []

    async def open_one() -> None:
        async with gate:
            first_delta: asyncio.Future[None] = loop.create_future()
            transport, _ = await loop.create_connection(
                lambda: IdleReader(request, first_delta), "127.0.0.1", port
            )
            transports.append(transport)
            await asyncio.wait_for(first_delta, 30)

    try:
        await asyncio.gather(*(open_one() for _ in range(count)))
    except BaseException:
        close = True
        raise
    finally:
        if close:
            for transport in transports:
                transport.close()
            transports.clear()
            await asyncio.sleep(0.1)
    return transports


@dataclass
class Memory:
    streams: int
    idle_kib: list[int] = field(default_factory=list)
    open_kib: list[int] = field(default_factory=list)

    def per_stream_kib(self) -> float:
        return statistics.median(
            (after - before) / self.streams
            for before, after in zip(self.idle_kib, self.open_kib, strict=True)
        )


async def memory_round(server: Server, sizes: Sizes, result: Memory) -> None:
    await asyncio.sleep(sizes.settle / 2)
    result.idle_kib.append(server.rss_kib())
    transports = await open_idle_streams(server.port, sizes.idle_streams)
    await asyncio.sleep(sizes.settle)
    result.open_kib.append(server.rss_kib())
    for transport in transports:
        transport.close()
    await asyncio.sleep(0.2)


def measure_memory(live: dict[str, Server], sizes: Sizes, results: dict[str, Memory]) -> None:
    """One round of RSS per idle stream on every server in ``live``: servers that have served
    nothing but their warm-up (RSS does not shrink back after a round)."""
    for library, server in live.items():
        result = results.setdefault(library, Memory(streams=sizes.idle_streams))
        asyncio.run(memory_round(server, sizes, result))


# -- (3) disconnect -------------------------------------------------------------------------------


def read_marker(path: Path) -> float | None:
    try:
        return float(path.read_text())
    except (OSError, ValueError):  # not there yet, or caught mid-write
        return None


def open_and_close(port: int, marker: Path) -> float:
    """Open a hanging stream, read its first delta, close the socket: the close time."""
    request = request_bytes(port, {"scenario": "hang", "marker": str(marker)})
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        seen = b""
        while b'0:"' not in seen:
            data = sock.recv(65_536)
            if not data:
                raise ConnectionError("the server closed the connection before the first delta")
            seen += data
        closed_at = time.monotonic()
    return closed_at


@dataclass
class Disconnects:
    wait: float
    latencies: list[float] = field(default_factory=list)  # seconds, runs that ended in time
    still_running: int = 0
    trials: int = 0


def measure_disconnects(
    live: dict[str, Server], sizes: Sizes, markers: Path
) -> dict[str, Disconnects]:
    pending: list[tuple[str, Path, float]] = []
    for trial in range(sizes.disconnects):
        for library, server in live.items():
            marker = markers / f"{library}-{trial}"
            closed_at = open_and_close(server.port, marker)
            pending.append((library, marker, closed_at))
            deadline = closed_at + 0.3  # then go on; the final sweep waits the rest
            while read_marker(marker) is None and time.monotonic() < deadline:
                time.sleep(0.002)
    results = {library: Disconnects(wait=sizes.disconnect_wait) for library in live}
    for library, marker, closed_at in pending:
        result = results[library]
        result.trials += 1
        ended_at = read_marker(marker)
        while ended_at is None and time.monotonic() < closed_at + sizes.disconnect_wait:
            time.sleep(0.01)
            ended_at = read_marker(marker)
        if ended_at is None or ended_at - closed_at > sizes.disconnect_wait:
            result.still_running += 1
        else:
            result.latencies.append(ended_at - closed_at)
    return results


# -- (4) concurrency ------------------------------------------------------------------------------

TOKEN = re.compile(rb"t(\d+\.\d+) ")


class TokenReader(asyncio.Protocol):
    """Reads one paced stream: the added latency of every token sent after ``window_start``."""

    def __init__(self, request: bytes, trial: PacedTrial) -> None:
        self.request = request
        self.trial = trial
        self.tail = b""
        self.recent = b""  # the last bytes read, to see the end of the body
        self.first: float | None = None
        self.last = 0.0
        self.count = 0
        self.ended = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buffer = self.tail + data if self.tail else data
        cut = buffer.rfind(b"\n") + 1
        window_start = self.trial.window_start
        latencies = self.trial.latencies
        for match in TOKEN.findall(buffer, 0, cut):
            sent = float(match)
            if self.first is None:
                self.first = sent
            self.last = sent
            self.count += 1
            if sent >= window_start:
                latencies.append(now - sent)
        self.tail = buffer[cut:]
        self.recent = (self.recent + data)[-len(END_OF_BODY) :]
        if self.recent == END_OF_BODY and not self.ended.done():
            self.ended.set_result(None)
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ended.done():
            self.ended.set_exception(ConnectionError(f"closed mid-stream: {exc}"))


@dataclass
class PacedTrial:
    n: int
    tokens: int
    window_start: float = 0.0
    latencies: list[float] = field(default_factory=list)
    rate: float = 0.0  # tokens per second per stream, median over the streams
    errors: int = 0
    server_cpu: float = 0.0  # share of one core over the trial
    client_cpu: float = 0.0
    received: int = 0  # tokens, all streams
    elapsed: float = 0.0

    @property
    def cpu_per_token_us(self) -> float:
        """The server's CPU time per token delivered (the ramp's requests included)."""
        return self.server_cpu * self.elapsed / self.received * 1e6 if self.received else 0.0

    def p(self, quantile: float) -> float:
        if not self.latencies:
            return float("inf")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]

    @property
    def sustained(self) -> bool:
        return (
            self.errors == 0
            and self.p(0.99) < LATENCY_BUDGET
            and self.rate >= RATE_FLOOR / TOKEN_INTERVAL
        )

    def describe(self) -> str:
        return (
            f"N={self.n:>5}  p50 {self.p(0.5) * 1e3:7.1f} ms  p99 {self.p(0.99) * 1e3:7.1f} ms  "
            f"{self.rate:5.1f} tokens/s/stream  server CPU {self.server_cpu:4.0%} "
            f"({self.cpu_per_token_us:3.0f} µs/token)  "
            f"client CPU {self.client_cpu:4.0%}  errors {self.errors}  "
            f"{'sustained' if self.sustained else 'NOT sustained'}"
        )


async def paced_trial(server: Server, streams: int, tokens: int, ramp: float) -> PacedTrial:
    loop = asyncio.get_running_loop()
    trial = PacedTrial(n=streams, tokens=tokens)
    request = request_bytes(server.port, {"scenario": "paced", "tokens": tokens})
    readers: list[TokenReader] = []
    begin = time.monotonic()
    trial.window_start = begin + ramp + min(0.2, tokens * TOKEN_INTERVAL / 4)
    cpu_server, cpu_client = server.cpu_seconds(), time.process_time()

    async def one(index: int) -> None:
        await asyncio.sleep(ramp * index / streams)
        reader = TokenReader(request, trial)
        readers.append(reader)
        try:
            await loop.create_connection(lambda: reader, "127.0.0.1", server.port)
            await asyncio.wait_for(reader.ended, ramp + tokens * TOKEN_INTERVAL * 4 + 10)
        except (OSError, asyncio.TimeoutError):
            trial.errors += 1
            if reader.transport is not None:
                reader.transport.close()

    await asyncio.gather(*(one(i) for i in range(streams)))
    elapsed = trial.elapsed = time.monotonic() - begin
    trial.server_cpu = (server.cpu_seconds() - cpu_server) / elapsed
    trial.client_cpu = (time.process_time() - cpu_client) / elapsed
    trial.received = sum(r.count for r in readers)
    rates = [
        (r.count - 1) / (r.last - r.first)
        for r in readers
        if r.first is not None and r.count > 1 and r.last > r.first
    ]
    trial.rate = statistics.median(rates) if rates else 0.0
    return trial


class Search:
    """The largest sustained N: doubling from ``start``, then bisection to ``precision``."""

    def __init__(self, sizes: Sizes) -> None:
        self.sizes = sizes
        self.passed = 0  # the largest N sustained
        self.failed: int | None = None  # the smallest N not sustained
        self.trials: list[PacedTrial] = []
        self.retried: set[int] = set()

    def next_n(self) -> int | None:
        if self.passed >= self.sizes.max_n:  # as far as it goes: "≥ max_n"
            return None
        if self.failed is None:
            return min(self.passed * 2, self.sizes.max_n) if self.passed else self.sizes.start_n
        if self.failed - self.passed <= max(1, self.passed * self.sizes.precision):
            return None
        return (self.passed + self.failed) // 2

    def record(self, trial: PacedTrial) -> None:
        self.trials.append(trial)
        if trial.sustained:
            self.passed = max(self.passed, trial.n)
        elif self.sizes.confirm_failures and trial.n not in self.retried:
            self.retried.add(trial.n)  # the next call asks for the same N again
        else:
            self.failed = trial.n if self.failed is None else min(self.failed, trial.n)
        self.passed = min(self.passed, self.sizes.max_n)

    def label(self) -> str:
        if self.failed is None or self.passed >= self.sizes.max_n:
            return f"≥ {self.passed:,}"
        return f"{self.passed:,}"

    def cpu_per_token_us(self) -> float:
        """The server's CPU per token, median over the trials of at least ``CPU_TRIALS_FROM``
        streams (fewer amortise the process's own idle work badly), or over all of them."""
        trials = [t for t in self.trials if t.n >= CPU_TRIALS_FROM and t.received] or [
            t for t in self.trials if t.received
        ]
        return statistics.median(t.cpu_per_token_us for t in trials) if trials else 0.0

    def cpu_at(self, ns: frozenset[int]) -> float:
        """The server's CPU per token, median over the trials of these N."""
        trials = [t for t in self.trials if t.n in ns and t.received]
        return statistics.median(t.cpu_per_token_us for t in trials) if trials else 0.0


def common_ns(searches: list[Search]) -> frozenset[int]:
    """The N every search tried (from ``CPU_TRIALS_FROM`` streams up, if there are such).

    A token costs less CPU at a larger N (fixed costs spread, more events per wake-up), and a
    row that sustains more streams has more trials at large N: its median over its own trials
    would flatter it.  Rows are compared on the same N instead.
    """
    tried = [frozenset(t.n for t in search.trials if t.received) for search in searches]
    common = frozenset.intersection(*tried) if tried else frozenset()
    return frozenset(n for n in common if n >= CPU_TRIALS_FROM) or common


def measure_concurrency(live: dict[str, Server], sizes: Sizes) -> dict[str, Search]:
    searches = {library: Search(sizes) for library in live}
    while True:
        progressed = False
        for library, search in searches.items():  # one trial of each library per turn
            n = search.next_n()
            if n is None:
                continue
            progressed = True
            trial = asyncio.run(paced_trial(live[library], n, sizes.tokens, sizes.ramp))
            search.record(trial)
            print(f"    (4) {library:<{NAME_WIDTH}}{trial.describe()}", flush=True)
            time.sleep(sizes.settle / 2)  # let the server finish closing the streams
        if not progressed:
            return searches


# -- reporting ------------------------------------------------------------------------------------


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min) / {five:.2f} (5 min)"


def installed(name: str) -> str:
    return version(name) if importlib.util.find_spec(name) else "not installed"


@dataclass
class Results:
    sizes: Sizes
    server: str
    figures: frozenset[int]
    rows: list[Row]
    notes: list[str]  # the rows left out, and why
    sources: dict[str, str]  # where each streambridge row's server imports streambridge from
    failed: dict[str, str] = field(default_factory=dict)  # rows whose warm-up failed: why
    memory: dict[str, Memory] = field(default_factory=dict)
    burst: dict[str, Burst] = field(default_factory=dict)
    concurrency: dict[str, Search] = field(default_factory=dict)
    disconnects: dict[str, Disconnects] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    load_before: str = ""
    load_after: str = ""
    seconds: float = 0.0

    def names(self, figure: int) -> list[str]:
        """The rows measured in ``figure``, in order."""
        return [row.name for row in self.rows if figure in row.figures and figure in self.figures]

    @property
    def baseline(self) -> str | None:
        return next((row.name for row in self.rows if row.src is not None), None)


def disconnect_cell(result: Disconnects) -> str:
    parts = []
    if result.latencies:
        median = statistics.median(result.latencies) * 1e3
        parts.append(f"{median:.1f} / {max(result.latencies) * 1e3:.1f} ms")
    if result.still_running:
        parts.append(
            f"still running {result.wait:g} s after the close in "
            f"{result.still_running}/{result.trials}"
        )
    return "; ".join(parts)


def ratio(ours: float, theirs: float, digits: int = 2) -> str:
    return f"{ours / theirs:.{digits}f}x" if theirs > 0 else ""


def yes(condition: bool) -> str:
    return "yes" if condition else "**no**"


NAME_WIDTH = 22  # row names in the details


def header(results: Results) -> list[str]:
    """What served, what was measured, and the machine's load."""
    lines = [
        f"Serving: {describe_server(results.server)}; starlette {version('starlette')}, "
        f"assistant-stream {version(ANCHOR)}; one server process per row on 127.0.0.1, a "
        f"raw-socket client in this process; load average {results.load_before} before, "
        f"{results.load_after} after; {results.seconds:.0f} s."
    ]
    lines += [f"{name} imported from {source}" for name, source in results.sources.items()]
    lines += results.notes
    lines += [f"{name}: left out, {reason}" for name, reason in results.failed.items()]
    return lines


def absent(results: Results, name: str) -> str:
    """The cell of a row that was not measured."""
    if name in results.failed:
        return "failed (see above)"
    return "n/a (asyncio only)" if name in ASYNCIO_ONLY else "n/a"


def main_table(results: Results) -> list[str]:
    """streambridge against assistant-stream, one line per figure measured."""
    sizes, figures = results.sizes, results.figures
    sb, anchor = LIBRARIES
    lines = [
        f"| figure | streambridge | assistant-stream {version(ANCHOR)} "
        "| streambridge / assistant-stream | target | met? |",
        "|---|---:|---:|---:|---|---|",
    ]

    def line(
        label: str,
        found: dict[str, float],
        text: str,
        target: str = "",
        met: Callable[[float, float], bool] | None = None,
        digits: int = 2,
    ) -> str:
        """``found``: each row's value, ``text`` formats one; ``met(ours, theirs)``."""
        cells = [text.format(found[n]) if n in found else absent(results, n) for n in LIBRARIES]
        share = verdict = ""
        if sb in found and anchor in found:
            share = ratio(found[sb], found[anchor], digits)
            verdict = "" if met is None else yes(met(found[sb], found[anchor]))
        return f"| {label} | {cells[0]} | {cells[1]} | {share} | {target} | {verdict} |"

    if 1 in figures:
        found = {n: b.rate(sizes.burst_calls) for n, b in results.burst.items()}
        label = f"(1) burst: {sizes.burst_calls:,} deltas in one response, best of "
        label += str(sizes.burst_repeats)
        met_1 = lambda ours, theirs: ours >= 10 * theirs  # noqa: E731
        lines.append(line(label, found, "{:,.0f} deltas/s", "≥ 10x", met_1, digits=1))
    if 2 in figures:
        found = {n: m.per_stream_kib() for n, m in results.memory.items()}
        floor = f"{found[IDLE_FLOOR]:.1f} KiB" if IDLE_FLOOR in found else "failed"
        label = (
            f"(2) server RSS per idle open stream, {sizes.idle_streams:,} streams "
            f"({results.server.split('-')[0]} alone: {floor})"
        )
        met_2 = lambda ours, theirs: ours <= 0.5 * theirs  # noqa: E731
        lines.append(line(label, found, "{:.1f} KiB", "≤ 0.5x", met_2))
    if 3 in figures:
        found_3 = results.disconnects
        cells = [disconnect_cell(found_3[n]) if n in found_3 else absent(results, n)
                 for n in LIBRARIES]  # fmt: skip
        dis_ratio, met = "", ""
        if sb in found_3:
            dis_sb = found_3[sb]
            stopped = dis_sb.still_running == 0 and bool(dis_sb.latencies)
            met = yes(stopped and max(dis_sb.latencies) <= 0.1)
            dis_as = found_3.get(anchor)
            if dis_as is not None and dis_as.latencies and not dis_as.still_running and stopped:
                medians = statistics.median(dis_sb.latencies), statistics.median(dis_as.latencies)
                dis_ratio = ratio(*medians)
            elif dis_as is not None and not dis_as.latencies:
                dis_ratio = "n/a (never cancelled)"
        lines.append(
            f"| (3) client closes → run's finally ran, median / max of {sizes.disconnects} "
            f"| {cells[0]} | {cells[1]} | {dis_ratio} | ≤ 100 ms | {met} |"
        )
    if 4 in figures:
        found_4 = results.concurrency
        labels = [found_4[n].label() if n in found_4 else absent(results, n) for n in LIBRARIES]
        both = sb in found_4 and anchor in found_4
        share = ratio(found_4[sb].passed, found_4[anchor].passed) if both else ""
        lines.append(
            f"| (4) streams of 20 tokens/s one server process sustains (p99 added latency "
            f"< 50 ms) | {labels[0]} | {labels[1]} | {share} | | |"
        )
        cpu = {n: search.cpu_per_token_us() for n, search in found_4.items()}
        label = (
            f"(4) server CPU per token delivered, median of the trials with ≥ {CPU_TRIALS_FROM} "
            f"streams"
        )
        lines.append(line(label, cpu, "{:.0f} µs"))
    return lines


BARE_STREAMS_TARGET = 0.8  # streambridge's largest N against the bare app's, at least
BARE_CPU_TARGET = 1.3  # streambridge's CPU per token against the bare app's, at most


def concurrency_table(results: Results) -> list[str]:
    """(4) for every row, against the bare app: what one way of delivering a stream costs."""
    ns = common_ns(list(results.concurrency.values()))
    at = ", ".join(f"{n:,}" for n in sorted(ns)) or "none"
    bare = results.concurrency.get(BARE)
    bare_n = bare.passed if bare else 0
    bare_cpu = bare.cpu_at(ns) if bare else 0.0
    lines = [
        f"| (4) 20 tokens/s a stream, every row | largest N sustained | server CPU per token, "
        f"median of its trials ≥ {CPU_TRIALS_FROM} | server CPU per token at N = {at} (every row "
        "tried these) | streams / no library | CPU per token at the same N / no library |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in results.names(4):
        label = f"{name} {version(ANCHOR)}" if name == ANCHOR else name
        search = results.concurrency.get(name)
        if search is None:
            lines.append(f"| {label} | {absent(results, name)} | | | | |")
            continue
        cpu = search.cpu_at(ns)
        streams, per_token = ratio(search.passed, bare_n), ratio(cpu, bare_cpu)
        # Each target where its floor was measured (at the smallest sizes the bare app's CPU
        # time can read 0: /proc counts it in clock ticks).
        if name.startswith(STREAMBRIDGE) and bare_n:
            streams += f" (≥ {BARE_STREAMS_TARGET}x: "
            streams += f"{yes(search.passed >= BARE_STREAMS_TARGET * bare_n)})"
        if name.startswith(STREAMBRIDGE) and bare_cpu:
            per_token += f" (≤ {BARE_CPU_TARGET}x: {yes(cpu <= BARE_CPU_TARGET * bare_cpu)})"
        lines.append(
            f"| {label} | {search.label()} | {search.cpu_per_token_us():.0f} µs | {cpu:.0f} µs "
            f"| {streams} | {per_token} |"
        )
    return lines


def baseline_table(results: Results, baseline: str) -> list[str]:
    """streambridge against the baseline revision's, one line per figure measured."""
    sizes, sb = results.sizes, STREAMBRIDGE
    pair = (sb, baseline)
    lines = [f"| figure | {sb} | {baseline} | {sb} / {baseline} |", "|---|---:|---:|---:|"]

    def line(label: str, found: dict[str, float], text: str) -> str:
        cells = [text.format(found[n]) if n in found else absent(results, n) for n in pair]
        share = ratio(found[sb], found[baseline]) if sb in found and baseline in found else ""
        return f"| {label} | {cells[0]} | {cells[1]} | {share} |"

    if 1 in results.figures:
        found = {n: b.rate(sizes.burst_calls) for n, b in results.burst.items()}
        label = f"(1) burst, best of {sizes.burst_repeats}"
        lines.append(line(label, found, "{:,.0f} deltas/s"))
    if 2 in results.figures:
        found = {n: m.per_stream_kib() for n, m in results.memory.items()}
        lines.append(line("(2) server RSS per idle open stream", found, "{:.1f} KiB"))
    if 3 in results.figures:
        gone = results.disconnects
        cells = [disconnect_cell(gone[n]) if n in gone else absent(results, n) for n in pair]
        medians = [statistics.median(gone[n].latencies) for n in pair
                   if n in gone and gone[n].latencies]  # fmt: skip
        share = ratio(medians[0], medians[1]) if len(medians) == 2 else ""
        label = "(3) client closes → run's finally ran, median / max"
        lines.append(f"| {label} | {cells[0]} | {cells[1]} | {share} |")
    if 4 in results.figures:
        found_4 = results.concurrency
        labels = [found_4[n].label() if n in found_4 else absent(results, n) for n in pair]
        both = sb in found_4 and baseline in found_4
        share = ratio(found_4[sb].passed, found_4[baseline].passed) if both else ""
        lines.append(f"| (4) largest N sustained | {labels[0]} | {labels[1]} | {share} |")
        both_4 = [found_4[n] for n in pair if n in found_4]
        ns = common_ns(both_4)
        cpu = {n: found_4[n].cpu_at(ns) for n in pair if n in found_4}
        at = ", ".join(f"{n:,}" for n in sorted(ns)) or "none"
        lines.append(line(f"(4) server CPU per token at N = {at}", cpu, "{:.0f} µs"))
    return lines


def table(results: Results) -> list[str]:
    """The header and the tables: what ``run_all.py`` puts in its summary."""
    lines = [*header(results), "", *main_table(results)]
    if 4 in results.figures:
        lines += ["", *concurrency_table(results)]
    if results.baseline is not None:
        lines += ["", *baseline_table(results, results.baseline)]
    return lines


def details(results: Results) -> list[str]:
    sizes = results.sizes
    lines = []
    for library, burst in results.burst.items():
        runs = ", ".join(f"{sizes.burst_calls / s:,.0f}" for s in burst.seconds)
        lines.append(
            f"(1) {library:<{NAME_WIDTH}}runs {runs} deltas/s; client CPU "
            f"{burst.client_share():.0%} of the best run's wall time"
        )
    for library, memory in results.memory.items():
        lines.append(
            f"(2) {library:<{NAME_WIDTH}}RSS {memory.idle_kib} KiB idle, {memory.open_kib} KiB "
            f"with {memory.streams:,} streams open: {memory.per_stream_kib():.1f} KiB per stream"
        )
    for library, found in results.disconnects.items():
        lines.append(f"(3) {library:<{NAME_WIDTH}}{disconnect_cell(found)}")
    for library, search in results.concurrency.items():
        lines.append(f"(4) {library}:")
        lines.extend(f"      {trial.describe()}" for trial in search.trials)
    lines.extend(f"server log: {problem}" for problem in results.problems)
    return lines


def plottable(results: Results) -> str | None:
    """Why the plot cannot be drawn from ``results``, or None."""
    if results.figures != FIGURES:
        return "the plot needs every figure"
    if results.failed:
        return f"{', '.join(results.failed)} failed"
    if ANCHOR not in results.burst:
        return f"the plot compares with {ANCHOR}, which did not run"
    return None


def plot(results: Results, path: Path) -> None:
    """A small SVG: p99 latency against N, and a bar per library for the other figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "streambridge", "font.size": 8})
    colours = {
        STREAMBRIDGE: "#1f77b4",
        ANCHOR: "#d62728",
        BARE: "#7f7f7f",
        BARE_LISTENING: "#bdbdbd",
    }
    baseline_colour = "#9ecae1"
    sizes = results.sizes
    figure, axes = plt.subplots(1, 4, figsize=(12, 3.4), gridspec_kw={"width_ratios": [2, 1, 1, 1]})
    left, burst_ax, memory_ax, disconnect_ax = axes
    for name, search in results.concurrency.items():
        trials = sorted(search.trials, key=lambda t: t.n)
        left.plot(
            [t.n for t in trials],
            [min(t.p(0.99), 1.0) * 1e3 for t in trials],
            "o",
            color=colours.get(name, baseline_colour),
            label=f"{name} (sustains {search.label()})",
            markersize=3,
        )
    left.axhline(LATENCY_BUDGET * 1e3, color="grey", linestyle="--", linewidth=0.8)
    left.annotate("50 ms", (0.99, LATENCY_BUDGET * 1e3), xycoords=("axes fraction", "data"),
                  ha="right", va="bottom", color="grey")  # fmt: skip
    left.set_xscale("log")
    tried = sorted({t.n for search in results.concurrency.values() for t in search.trials})
    left.set_xticks(tried, [f"{n:,}" for n in tried], rotation=90)
    left.minorticks_off()
    left.set_yscale("log")
    left.set_xlabel("concurrent streams, 20 tokens/s each (the N tried)")
    left.set_ylabel("p99 added latency, ms")
    left.set_title("(4) latency against load, each trial")
    left.legend(frameon=False, loc="upper left")
    short = ["streambridge", "assistant-\nstream"]
    bar_colours = [colours[name] for name in LIBRARIES]

    def bars(axis: Any, values: list[float], labels: list[str], title: str) -> None:
        drawn = axis.bar(short, values, color=bar_colours)
        axis.bar_label(drawn, labels)
        axis.set_title(title)
        axis.set_ylim(0, max(values) * 1.25 or 1)

    rates = [results.burst[n].rate(sizes.burst_calls) / 1e3 for n in LIBRARIES]
    bars(burst_ax, rates, [f"{r:,.0f}k" for r in rates], "(1) burst, k deltas/s")
    kib = [results.memory[n].per_stream_kib() for n in LIBRARIES]
    bars(memory_ax, kib, [f"{k:.1f}" for k in kib], "(2) RSS per idle stream, KiB")
    floor = results.memory[IDLE_FLOOR].per_stream_kib()
    memory_ax.axhline(floor, color="grey", linestyle="--", linewidth=0.8)
    memory_ax.annotate(f"{results.server.split('-')[0]} alone", (0.5, floor),
                       xycoords=("axes fraction", "data"), ha="center", va="bottom",
                       color="grey")  # fmt: skip
    heights, labels = [], []
    for name in LIBRARIES:
        found = results.disconnects[name]
        if found.still_running:
            heights.append(found.wait * 1e3)
            labels.append(f"> {found.wait:g} s ({found.still_running}/{found.trials})")
        else:
            heights.append(statistics.median(found.latencies) * 1e3)
            labels.append(f"{heights[-1]:.0f} ms")
    bars(disconnect_ax, heights, labels, "(3) close → run stopped")
    disconnect_ax.set_yscale("log")
    disconnect_ax.set_ylim(10, max(heights) * 3)
    disconnect_ax.axhline(100, color="grey", linestyle="--", linewidth=0.8)
    disconnect_ax.annotate("100 ms", (0.5, 100), xycoords=("axes fraction", "data"),
                           ha="center", va="bottom", color="grey")  # fmt: skip
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format=path.suffix.lstrip(".") or "svg", metadata={"Date": None})
    plt.close(figure)


def measure(
    sizes: Sizes,
    server: str = "uvicorn",
    figures: frozenset[int] = FIGURES,
    baseline: Checkout | None = None,
    profile_dir: Path | None = None,
) -> Results:
    raise_open_files_limit()
    started = time.perf_counter()
    rows, notes = make_rows(server, figures, baseline)
    by_name = {row.name: row for row in rows}
    sources = {STREAMBRIDGE: f"{imported_from(by_name[STREAMBRIDGE])} ({revision()})"}
    if baseline is not None:
        sources[baseline.label] = f"{imported_from(by_name[baseline.label])} ({baseline.commit})"
    results = Results(sizes, server, figures, rows, notes, sources, load_before=load_average())
    problems = results.problems

    def phase(text: str) -> None:
        print(f"[{time.perf_counter() - started:5.1f} s] {text}", flush=True)

    def serving(live: dict[str, Server], figure: int) -> dict[str, Server]:
        return {name: s for name, s in live.items() if figure in by_name[name].figures}

    with tempfile.TemporaryDirectory(prefix="streambridge-serving-") as scratch:
        logs = Path(scratch)
        phase(f"{describe_server(server)}; load average {results.load_before}")
        for line in header(results)[1:]:
            phase(line)
        with servers(rows, server, logs, problems, profile_dir, results.failed) as live:
            if 2 in figures:
                phase("(2) memory, round 1: first, while the servers are fresh")
                measure_memory(serving(live, 2), sizes, results.memory)
            live.pop(IDLE_FLOOR, None)  # stopped at the end of the block; idle until then
            if 1 in figures:
                phase("(1) burst")
                results.burst = measure_burst(serving(live, 1), sizes)
            if 4 in figures:
                phase("(4) concurrency")
                results.concurrency = measure_concurrency(serving(live, 4), sizes)
            for bare in BARE_APPS:
                live.pop(bare, None)
            if 3 in figures:
                phase("(3) disconnect (last: it leaves the anchor's runs going)")
                markers = logs / "markers"
                markers.mkdir()
                results.disconnects = measure_disconnects(serving(live, 3), sizes, markers)
            phase("stopping the servers")
        memory_rows = [row for row in rows if 2 in row.figures and row.name not in results.failed]
        for round_ in range(2, sizes.memory_rounds + 1 if 2 in figures else 0):
            with servers(memory_rows, server, logs, problems, failed=results.failed) as fresh:
                phase(f"(2) memory, round {round_}, on fresh servers")
                measure_memory(fresh, sizes, results.memory)
    phase("done")
    results.load_after = load_average()
    results.seconds = time.perf_counter() - started
    return results


def run(
    sizes: Sizes = FULL,
    plot_path: Path | None = DEFAULT_PLOT,
    profile_dir: Path | None = None,
    *,
    server: str = "uvicorn",
    figures: frozenset[int] = FIGURES,
    baseline: str | None = None,
) -> list[str]:
    """Measure, print the details and the tables, save the plot; return the tables."""
    print(
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs; figures {', '.join(map(str, sorted(figures)))} on {server}; "
        f"{sizes}",
        flush=True,
    )
    with contextlib.ExitStack() as stack:
        checked_out = None if baseline is None else stack.enter_context(checkout(baseline))
        results = measure(sizes, server, figures, checked_out, profile_dir)
    print("\n".join(details(results)))
    print()
    lines = table(results)
    print("\n".join(lines))
    if plot_path is not None:
        why_not = plottable(results)
        if why_not is None:
            plot(results, plot_path)
            print(f"\nplot: {plot_path} ({plot_path.stat().st_size:,} bytes)")
        else:
            print(f"\nno plot: {why_not}")
    return lines


def parse_figures(text: str) -> frozenset[int]:
    try:
        figures = frozenset(int(part) for part in text.replace(",", " ").split())
    except ValueError:
        figures = frozenset()
    if not figures or not figures <= FIGURES:
        raise argparse.ArgumentTypeError(f"figures are 1 to 4, such as 4 or 1,4; not {text!r}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes: about two minutes")
    size.add_argument("--smoke", action="store_true", help="tiny sizes: only checks it runs")
    server_help = "what serves every row (default: uvicorn, with asyncio's loop and h11)"
    parser.add_argument("--server", choices=SERVERS, default="uvicorn", help=server_help)
    figures_help = "the figures to measure, such as 4 or 1,4 (default: all four)"
    parser.add_argument("--figures", type=parse_figures, default=FIGURES, metavar="LIST",
                        help=figures_help)  # fmt: skip
    baseline_help = "add a row for streambridge at this git revision (its src/), such as main"
    parser.add_argument("--baseline", metavar="REV", help=baseline_help)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--plot", type=Path, help=f"save the plot here (default: {DEFAULT_PLOT}"
                       " for a full run, none for --quick and --smoke)")  # fmt: skip
    where.add_argument("--no-plot", action="store_true")
    precision_help = (
        "(4)'s search stops once the first N not sustained is within this "
        "fraction of the largest sustained (default: 0.15, --quick 0.3)"
    )
    parser.add_argument("--precision", type=float, metavar="F", help=precision_help)
    profile_help = "run the servers under cProfile (not those of memory rounds 2+): DIR/*.prof"
    parser.add_argument("--profile", type=Path, metavar="DIR", help=profile_help)
    no_gc_help = (
        "run every server with Python's garbage collector disabled: a diagnosis of what the "
        "collector costs each row (memory then grows with every cycle left uncollected)"
    )
    parser.add_argument("--no-gc", action="store_true", help=no_gc_help)
    args = parser.parse_args(argv)
    if args.no_gc:
        if args.profile is not None:
            parser.error("--no-gc and --profile cannot be combined")
        os.environ[NO_GC] = "1"  # the servers' command line reads it (server_argv)
    if args.server == "uvicorn-standard":
        lacking = [name for name in ("uvloop", "httptools") if not importlib.util.find_spec(name)]
        if lacking:
            parser.error(
                f"--server uvicorn-standard needs {' and '.join(lacking)}: run it with `uv run "
                "--isolated --group uvicorn-standard python benchmarks/serving.py ...`"
            )
    sizes = SMOKE if args.smoke else QUICK if args.quick else FULL
    if args.precision is not None:
        if not 0 < args.precision <= 1:
            parser.error(f"--precision is a fraction above 0, at most 1; not {args.precision}")
        sizes = replace(sizes, precision=args.precision)
    plot_path: Path | None = args.plot
    if plot_path is None and not (args.no_plot or args.quick or args.smoke):
        plot_path = DEFAULT_PLOT
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    run(sizes, plot_path, args.profile, server=args.server, figures=args.figures,
        baseline=args.baseline)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
