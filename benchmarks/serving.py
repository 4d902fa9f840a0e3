"""Serving benchmarks: streambridge's ``StreamApp`` against assistant-stream 0.0.36's
``DataStreamResponse`` on Starlette, both on uvicorn, over real HTTP on 127.0.0.1.

Each library's app (``serving_apps.py``) runs in its own server process, started with the same
command: ``python -m uvicorn serving_apps:<app> --host 127.0.0.1 --port <port> --log-level
warning --no-access-log`` (one process; uvicorn's default loop and HTTP parser, which are
asyncio's and h11 when uvloop and httptools are not installed: the table says which).  The client
is this process, on raw sockets: it writes one POST and de-chunks the body itself, so its cost per
delta stays well below the servers' (its CPU use is printed next to each figure).  Four figures,
the two libraries interleaved in each (each round runs both):

(1) burst: one response of 200,000 ``append_text("x")`` calls that yields every 1,000 calls
    (``await controller.drain()`` / ``await asyncio.sleep(0)``, as ``core_throughput.py``),
    read by a blocking socket into one buffer.  Deltas per second from writing the request to
    the body's last byte, best of 3 after a warm-up; both bodies are checked first (200,000
    ``0:"x"`` lines).
(2) memory: 2,000 idle open streams (one delta, then the run waits on a 1-hour sleep without
    looking at cancellation; heartbeats at each library's default).  Server RSS
    (``/proc/<pid>/status`` VmRSS) with them open minus its RSS before, after a warm-up, divided
    by 2,000; median of 2 rounds, each on fresh servers.  The same is measured for a bare ASGI
    app on uvicorn (no library), the floor that uvicorn itself costs per open response.
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
    machine runs, where the largest N does.

Servers for (1), (3) and (4) start once and are warmed up; (3) runs last, since it leaves
assistant-stream's abandoned runs behind.

    uv run python benchmarks/serving.py          # ~3.5 min; writes docs/_static/serving.svg
    uv run python benchmarks/serving.py --quick  # ~1.5 min, no plot (--plot PATH for one)
    uv run python benchmarks/serving.py --quick --profile DIR  # servers under cProfile
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
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from serving_apps import PATH, TOKEN_INTERVAL

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_PLOT = ROOT / "docs" / "_static" / "serving.svg"

LIBRARIES = ("streambridge", "assistant-stream")
BARE = "no library"  # the memory figure's floor: uvicorn and a bare ASGI app
APPS = {
    "streambridge": "serving_apps:streambridge_app",
    "assistant-stream": "serving_apps:assistant_stream_app",
    BARE: "serving_apps:bare_app",
}
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


def server_argv(app: str, port: int, profile: Path | None) -> list[str]:
    python = [sys.executable] if profile is None else [sys.executable, "-m", "cProfile", "-o",
                                                       str(profile)]  # fmt: skip
    return [*python, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", "--no-access-log"]  # fmt: skip


def launch(library: str, logs: Path, profile_dir: Path | None = None) -> Server:
    port = free_port()
    name = f"{library.replace(' ', '-')}-{port}"
    log_path = logs / f"{name}.log"
    profile = None if profile_dir is None else profile_dir / f"{name}.prof"
    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            server_argv(APPS[library], port, profile),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": path},
            cwd=HERE,
            preexec_fn=raise_open_files_limit,
        )
    return Server(library, port, process, log_path, profiled=profile is not None)


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
    if server.library == BARE:  # it only serves idle streams
        transports = asyncio.run(open_idle_streams(server.port, 3, close=True))
        expect(not transports, "the warm-up streams were not closed")
        return
    for _ in range(3):
        burst_once(server.port, 5_000)
    asyncio.run(paced_trial(server, streams=5, tokens=3, ramp=0.05))


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
    libraries: tuple[str, ...], logs: Path, problems: list[str], profile_dir: Path | None = None
) -> Iterator[dict[str, Server]]:
    """One fresh server per library, started side by side, warmed up, stopped at the end."""
    started: dict[str, Server] = {}
    try:
        for library in libraries:
            started[library] = launch(library, logs, profile_dir)
        for server in started.values():
            wait_ready(server)
            warm_up(server)
        yield dict(started)  # the caller may drop some; all are stopped
    finally:
        for server in started.values():
            stop_server(server, problems)


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


def burst_once(port: int, calls: int) -> tuple[float, float, bytes]:
    """(wall seconds, client CPU seconds, body) of one burst response read to its end."""
    request = request_bytes(port, {"scenario": "burst", "calls": calls})
    received = bytearray()
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
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
    results = {library: Burst() for library in LIBRARIES}
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


async def memory_round(server: Server, count: int, settle: float, result: Memory) -> None:
    await asyncio.sleep(settle / 2)
    result.idle_kib.append(server.rss_kib())
    transports = await open_idle_streams(server.port, count)
    await asyncio.sleep(settle)
    result.open_kib.append(server.rss_kib())
    for transport in transports:
        transport.close()
    await asyncio.sleep(0.2)


def measure_memory(live: dict[str, Server], sizes: Sizes, results: dict[str, Memory]) -> None:
    """One round of RSS per idle stream on every server in ``live``: servers that have served
    nothing but their warm-up (RSS does not shrink back after a round)."""
    for library, server in live.items():
        result = results.setdefault(library, Memory(streams=sizes.idle_streams))
        asyncio.run(memory_round(server, sizes.idle_streams, sizes.settle, result))


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
    results = {library: Disconnects(wait=sizes.disconnect_wait) for library in LIBRARIES}
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
        if self.failed is None:
            n = self.sizes.start_n if self.passed == 0 else self.passed * 2
            return n if self.passed < self.sizes.max_n else None
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
        if self.failed is None:
            return f"≥ {self.passed:,}"
        return f"{self.passed:,}"

    def cpu_per_token_us(self) -> float:
        """The server's CPU per token, median over the trials of at least ``CPU_TRIALS_FROM``
        streams (fewer amortise the process's own idle work badly), or over all of them."""
        trials = [t for t in self.trials if t.n >= CPU_TRIALS_FROM and t.received] or [
            t for t in self.trials if t.received
        ]
        return statistics.median(t.cpu_per_token_us for t in trials) if trials else 0.0


def measure_concurrency(live: dict[str, Server], sizes: Sizes) -> dict[str, Search]:
    searches = {library: Search(sizes) for library in LIBRARIES}
    while True:
        progressed = False
        for library, search in searches.items():  # one trial of each library per turn
            n = search.next_n()
            if n is None:
                continue
            progressed = True
            trial = asyncio.run(paced_trial(live[library], n, sizes.tokens, sizes.ramp))
            search.record(trial)
            print(f"    (4) {library:<17}{trial.describe()}", flush=True)
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
    memory: dict[str, Memory]
    burst: dict[str, Burst]
    concurrency: dict[str, Search]
    disconnects: dict[str, Disconnects]
    problems: list[str]
    load_before: str
    load_after: str
    seconds: float


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


def table(results: Results) -> list[str]:
    sizes = results.sizes
    sb, anchor = LIBRARIES

    def yes(condition: bool) -> str:
        return "yes" if condition else "**no**"

    burst_sb = results.burst[sb].rate(sizes.burst_calls)
    burst_as = results.burst[anchor].rate(sizes.burst_calls)
    mem_sb, mem_as = (results.memory[name].per_stream_kib() for name in LIBRARIES)
    floor = results.memory[BARE].per_stream_kib()
    dis_sb, dis_as = results.disconnects[sb], results.disconnects[anchor]
    dis_met = dis_sb.still_running == 0 and bool(dis_sb.latencies) and max(dis_sb.latencies) <= 0.1
    if dis_as.latencies and not dis_as.still_running:
        dis_ratio = ratio(statistics.median(dis_sb.latencies), statistics.median(dis_as.latencies))
    else:
        dis_ratio = "n/a (never cancelled)" if not dis_as.latencies else ""
    conc_sb, conc_as = results.concurrency[sb], results.concurrency[anchor]
    cpu_sb, cpu_as = conc_sb.cpu_per_token_us(), conc_as.cpu_per_token_us()
    return [
        f"Serving: uvicorn {version('uvicorn')} (uvloop {installed('uvloop')}, httptools "
        f"{installed('httptools')}: asyncio's default loop and h11), starlette "
        f"{version('starlette')}, assistant-stream {version('assistant-stream')}; one server "
        f"process per library on 127.0.0.1, a raw-socket client in this process; load average "
        f"{results.load_before} before, {results.load_after} after; {results.seconds:.0f} s.",
        "",
        "| figure | streambridge | assistant-stream 0.0.36 | streambridge / assistant-stream "
        "| target | met? |",
        "|---|---:|---:|---:|---|---|",
        f"| (1) burst: {sizes.burst_calls:,} deltas in one response, best of "
        f"{sizes.burst_repeats} | {burst_sb:,.0f} deltas/s | {burst_as:,.0f} deltas/s "
        f"| {ratio(burst_sb, burst_as, 1)} | ≥ 10x | {yes(burst_sb >= 10 * burst_as)} |",
        f"| (2) server RSS per idle open stream, {sizes.idle_streams:,} streams (uvicorn "
        f"alone: {floor:.1f} KiB) | {mem_sb:.1f} KiB | {mem_as:.1f} KiB | {ratio(mem_sb, mem_as)} "
        f"| ≤ 0.5x | {yes(mem_sb <= 0.5 * mem_as)} |",
        f"| (3) client closes → run's finally ran, median / max of {sizes.disconnects} "
        f"| {disconnect_cell(dis_sb)} | {disconnect_cell(dis_as)} | {dis_ratio} | ≤ 100 ms "
        f"| {yes(dis_met)} |",
        f"| (4) streams of 20 tokens/s one server process sustains (p99 added latency < 50 ms) "
        f"| {conc_sb.label()} | {conc_as.label()} | {ratio(conc_sb.passed, conc_as.passed)} "
        f"| | |",
        f"| (4) server CPU per token delivered, median of the trials with ≥ {CPU_TRIALS_FROM} "
        f"streams | {cpu_sb:.0f} µs | {cpu_as:.0f} µs | {ratio(cpu_sb, cpu_as)} | | |",
    ]


def details(results: Results) -> list[str]:
    sizes = results.sizes
    lines = []
    for library in LIBRARIES:
        burst = results.burst[library]
        runs = ", ".join(f"{sizes.burst_calls / s:,.0f}" for s in burst.seconds)
        lines.append(
            f"(1) {library:<17}runs {runs} deltas/s; client CPU {burst.client_share():.0%} of the "
            f"best run's wall time"
        )
    for library, memory in results.memory.items():
        lines.append(
            f"(2) {library:<17}RSS {memory.idle_kib} KiB idle, {memory.open_kib} KiB with "
            f"{memory.streams:,} streams open: {memory.per_stream_kib():.1f} KiB per stream"
        )
    for library in LIBRARIES:
        lines.append(f"(3) {library:<17}{disconnect_cell(results.disconnects[library])}")
    for library in LIBRARIES:
        lines.append(f"(4) {library}:")
        lines.extend(f"      {trial.describe()}" for trial in results.concurrency[library].trials)
    lines.extend(f"server log: {problem}" for problem in results.problems)
    return lines


def plot(results: Results, path: Path) -> None:
    """A small SVG: p99 latency against N, and a bar per library for the other figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "streambridge", "font.size": 8})
    colours = {"streambridge": "#1f77b4", "assistant-stream": "#d62728"}
    sizes = results.sizes
    figure, axes = plt.subplots(1, 4, figsize=(12, 3.4), gridspec_kw={"width_ratios": [2, 1, 1, 1]})
    left, burst_ax, memory_ax, disconnect_ax = axes
    for library in LIBRARIES:
        trials = sorted(results.concurrency[library].trials, key=lambda t: t.n)
        left.plot(
            [t.n for t in trials],
            [min(t.p(0.99), 1.0) * 1e3 for t in trials],
            "o",
            color=colours[library],
            label=f"{library} (sustains {results.concurrency[library].label()})",
            markersize=3,
        )
    left.axhline(LATENCY_BUDGET * 1e3, color="grey", linestyle="--", linewidth=0.8)
    left.annotate("50 ms", (0.99, LATENCY_BUDGET * 1e3), xycoords=("axes fraction", "data"),
                  ha="right", va="bottom", color="grey")  # fmt: skip
    left.set_xscale("log")
    tried = sorted({t.n for name in LIBRARIES for t in results.concurrency[name].trials})
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
    floor = results.memory[BARE].per_stream_kib()
    memory_ax.axhline(floor, color="grey", linestyle="--", linewidth=0.8)
    memory_ax.annotate("uvicorn alone", (0.5, floor), xycoords=("axes fraction", "data"),
                       ha="center", va="bottom", color="grey")  # fmt: skip
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


def measure(sizes: Sizes, profile_dir: Path | None = None) -> Results:
    raise_open_files_limit()
    started = time.perf_counter()
    load_before = load_average()
    problems: list[str] = []

    def phase(text: str) -> None:
        print(f"[{time.perf_counter() - started:5.1f} s] {text}", flush=True)

    with tempfile.TemporaryDirectory(prefix="streambridge-serving-") as scratch:
        logs = Path(scratch)
        phase(f"load average {load_before}")
        memory: dict[str, Memory] = {}
        with servers((*LIBRARIES, BARE), logs, problems, profile_dir) as live:
            phase("(2) memory, round 1: first, while the servers are fresh")
            measure_memory(live, sizes, memory)
            del live[BARE]  # stopped at the end of the block; idle until then
            phase("(1) burst")
            burst = measure_burst(live, sizes)
            phase("(4) concurrency")
            concurrency = measure_concurrency(live, sizes)
            phase("(3) disconnect (last: it leaves the anchor's runs going)")
            markers = logs / "markers"
            markers.mkdir()
            disconnects = measure_disconnects(live, sizes, markers)
            phase("stopping the servers")
        for round_ in range(2, sizes.memory_rounds + 1):
            with servers((*LIBRARIES, BARE), logs, problems) as fresh:
                phase(f"(2) memory, round {round_}, on fresh servers")
                measure_memory(fresh, sizes, memory)
    phase("done")
    return Results(
        sizes=sizes,
        memory=memory,
        burst=burst,
        concurrency=concurrency,
        disconnects=disconnects,
        problems=problems,
        load_before=load_before,
        load_after=load_average(),
        seconds=time.perf_counter() - started,
    )


def run(
    sizes: Sizes = FULL, plot_path: Path | None = DEFAULT_PLOT, profile_dir: Path | None = None
) -> list[str]:
    """Measure, print the details and the table, save the plot; return the table."""
    print(
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs; {sizes}",
        flush=True,
    )
    results = measure(sizes, profile_dir)
    print("\n".join(details(results)))
    print()
    lines = table(results)
    print("\n".join(lines))
    if plot_path is not None:
        plot(results, plot_path)
        print(f"\nplot: {plot_path} ({plot_path.stat().st_size:,} bytes)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes: about a minute")
    size.add_argument("--smoke", action="store_true", help="tiny sizes: only checks it runs")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--plot", type=Path, help=f"save the plot here (default: {DEFAULT_PLOT}"
                       " for a full run, none for --quick and --smoke)")  # fmt: skip
    where.add_argument("--no-plot", action="store_true")
    profile_help = "run the servers under cProfile (not those of memory rounds 2+): DIR/*.prof"
    parser.add_argument("--profile", type=Path, metavar="DIR", help=profile_help)
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else QUICK if args.quick else FULL
    plot_path: Path | None = args.plot
    if plot_path is None and not (args.no_plot or args.quick or args.smoke):
        plot_path = DEFAULT_PLOT
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    run(sizes, plot_path, args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
