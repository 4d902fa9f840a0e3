"""``free_port()``: a port for a test server to listen on."""

from __future__ import annotations

import random
import socket
from pathlib import Path


def free_port(taken: set[int] | None = None) -> int:
    """A port free now and below the kernel's range for outgoing connections (``taken``: ports
    given out already, not to give again; the new one is added).

    A port the kernel hands out for ``bind(0)`` comes from that range, where any client socket
    opened before the server binds it (the suite opens hundreds) may take it first.
    """
    low = _ephemeral_low()
    for _ in range(1_000):
        port = random.randrange(max(1024, low - 10_000), low)
        if taken is not None and port in taken:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        if taken is not None:
            taken.add(port)
        return port
    raise RuntimeError(f"no free port below {low} for a test server")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default; elsewhere a guess below the usual ranges
