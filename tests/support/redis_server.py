"""A real Redis for the tests: the one at ``REDIS_URL`` (default ``redis://127.0.0.1:6379``), else
a private ``redis-server`` started here; without either, a skip (a failure under CI).  A Redis
Cluster is always a private one: three ``redis-server`` nodes joined by ``redis-cli``.

Tests share a Redis but never a key: each builds its store with :func:`unique_prefix`, so they
run in any order and side by side.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streambridge.runs.redis import _BUFFERS, _closing_buffers

from .ci import skip_or_fail
from .ports import free_port

DEFAULT_URL = "redis://127.0.0.1:6379"


def unique_prefix(name: str = "t") -> str:
    """A key prefix no other test (or run of the suite) uses."""
    return f"sbtest-{name}-{os.urandom(6).hex()}"


def answers(url: str, timeout: float = 0.5) -> bool:
    """Whether a Redis answers PING at ``url`` (checked without the client under test)."""
    parts = urllib.parse.urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 6379), timeout=timeout
        ) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class PrivateRedis:
    """A ``redis-server`` of the tests' own, without persistence: stop and start it at will."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    directory: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="sb-redis-"))

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self, *options: str) -> PrivateRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            skip_or_fail("redis-server is not installed: the Redis store cannot be tested")
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.directory, *options]  # fmt: skip
        with Path(self.directory, "redis.log").open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not answers(self.url, 0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


_private: PrivateRedis | None = None


def redis_url() -> str:
    """The Redis the tests use (started on first need); skips (fails under CI) without one."""
    global _private
    url = os.environ.get("REDIS_URL", DEFAULT_URL)
    if answers(url):
        return url
    if _private is None:
        if shutil.which("redis-server") is None:
            skip_or_fail(
                f"no Redis answers at {url} (set REDIS_URL) and redis-server is not installed: "
                "the Redis store cannot be tested"
            )
        _private = PrivateRedis().start()
    return _private.url


CLUSTER_NODES = 3


@dataclass
class PrivateCluster:
    """A Redis Cluster of the tests' own: three primaries, the 16,384 slots split among them."""

    nodes: list[PrivateRedis] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Any node's address: a cluster client finds the others from it."""
        return self.nodes[0].url

    def start(self) -> PrivateCluster:
        if shutil.which("redis-cli") is None:
            skip_or_fail("redis-cli is not installed: a Redis Cluster cannot be built")
        taken: set[int] = set()
        for _ in range(CLUSTER_NODES):
            node = PrivateRedis(free_port(taken))
            # The bus port is given too: port + 10,000, its default, is in the kernel's range
            # for outgoing connections, where a client socket may hold it.
            self.nodes.append(node.start("--cluster-enabled", "yes", "--cluster-port",
                                         str(free_port(taken)), "--cluster-config-file",
                                         f"{node.directory}/nodes.conf"))  # fmt: skip
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "0",
             "--cluster-yes"],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not all(_cluster_ok(node.port) for node in self.nodes):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Redis Cluster on {addresses} did not become ready")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.nodes = []


def _cluster_ok(port: int) -> bool:
    info = subprocess.run(
        ["redis-cli", "-p", str(port), "cluster", "info"], capture_output=True, timeout=5
    )
    return b"cluster_state:ok" in info.stdout


_cluster: PrivateCluster | None = None


def cluster_url() -> str:
    """A node of this session's private Redis Cluster (started on first need)."""
    global _cluster
    if _cluster is None:
        _cluster = PrivateCluster().start()
    return _cluster.url


_cluster_clients: list[tuple[Any, list[Any]]] = []  # each client given out, its connections


def cluster_client() -> Any:
    """A ``coredis.RedisCluster`` client of this session's private cluster, for a store (give it
    back with :func:`release_cluster_clients` once the store is closed)."""
    import coredis

    port = urllib.parse.urlsplit(cluster_url()).port
    client = coredis.RedisCluster("127.0.0.1", port, decode_responses=True)
    # What the store does to the client it builds from a URL (a connection's buffers are
    # closed only once it has connected; see _closing_buffers), and each connection noted.
    pool = client.connection_pool
    built: list[Any] = []

    class Noted(_closing_buffers(pool.connection_class)):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            built.append(self)

    pool.connection_class = Noted
    _cluster_clients.append((client, built))
    return client


def release_cluster_clients() -> None:
    """Close what coredis 6.9 leaves open of closed cluster clients, which the garbage
    collector would warn of in whichever test it happens to collect them: each one's layout
    error stream, made with the client and never closed, and the buffers of each connection it
    built for a command cancelled before it connected (the store's close cancels its blocking
    reads).  Closing twice is harmless."""
    while _cluster_clients:
        client, built = _cluster_clients.pop()
        for end in client.connection_pool.cluster_layout._error_stream:
            end.close()
        for connection in built:
            for name in _BUFFERS:
                for end in ("_in", "_out"):
                    getattr(connection, name + end).close()


async def close_store(store: Any) -> None:
    """Close a ``RedisStore``, and the cluster clients given out (see above)."""
    await store.aclose()
    release_cluster_clients()


def stop_private() -> None:
    """Stop the private servers this session started, if any."""
    global _private, _cluster
    for server in (_private, _cluster):
        if server is not None:
            server.stop()
    _private = _cluster = None
