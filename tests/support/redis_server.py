"""A real Redis for the tests: the one at ``REDIS_URL`` (default ``redis://127.0.0.1:6379``), else
a private ``redis-server`` started here; without either, a skip (a failure under CI).

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

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            skip_or_fail("redis-server is not installed: the Redis store cannot be tested")
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.directory]  # fmt: skip
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


def stop_private() -> None:
    """Stop the private server, if this session started one."""
    global _private
    if _private is not None:
        _private.stop()
        _private = None
