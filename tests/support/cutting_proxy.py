"""A TCP proxy that cuts connections for real, so a client sees true drops.

Each connection it accepts takes the next :class:`Cut` from its plan (none left: it passes the
bytes through untouched).  A cut lets the response headers and ``body_bytes`` bytes of the
response body through, then ends the connection one of three ways:

``"reset"``  an RST (the client's read fails: a transport error);
``"close"``  a FIN in the middle of the chunked body (httpx: an incomplete chunked read);
``"end"``    the chunked body's last-chunk marker right there (the chunk it falls in cut
             short), then a FIN: a well-formed HTTP response whose stream stops before the
             protocol's end, often in the middle of an event.

It runs on threads, so sync tests and tests on any event loop use it alike.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from .ports import free_port

How = Literal["reset", "close", "end"]


@dataclass(frozen=True)
class Cut:
    body_bytes: int
    how: How = "close"


class CuttingProxy:
    def __init__(self, upstream_port: int, plan: Iterable[Cut] = ()) -> None:
        self.upstream_port = upstream_port
        self._plan = list(plan)
        self._lock = threading.Lock()
        self.connections = 0
        self.cuts = 0
        self.cut_bytes: list[bytes] = []
        """What each cut connection passed to the client, as sent (headers, chunked body)."""
        self.run_ids: list[str] = []
        """The runs the responses that came through named (``x-resumable-stream-id``)."""
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.1)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> CuttingProxy:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._acceptor.join()
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            with self._lock:
                self.connections += 1
                cut = self._plan.pop(0) if self._plan else None
            thread = threading.Thread(target=self._serve, args=(client, cut), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket, cut: Cut | None) -> None:
        with client, socket.create_connection(("127.0.0.1", self.upstream_port)) as upstream:
            response = _Response(cut)
            passed = b""
            sockets = [client, upstream]
            while not self._stopping.is_set():
                ready, _, _ = select.select(sockets, [], [], 0.1)
                if client in ready:
                    data = client.recv(65536)
                    if not data:
                        return
                    upstream.sendall(data)
                if upstream in ready:
                    data = upstream.recv(65536)
                    if not data:
                        return
                    out, done = response.feed(data)
                    passed += out
                    if response.run_id is not None:
                        with self._lock:
                            self.run_ids.append(response.run_id)
                        response.run_id = None
                    with contextlib.suppress(OSError):
                        client.sendall(out)
                    if done:
                        assert cut is not None
                        with self._lock:
                            self.cuts += 1
                            self.cut_bytes.append(passed)
                        if cut.how == "reset":  # SO_LINGER 0: close() sends an RST
                            client.setsockopt(
                                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                            )
                        return


class _Response:
    """Counts a response's body bytes and says where to cut (HTTP/1.1, chunked body)."""

    def __init__(self, cut: Cut | None) -> None:
        self._cut = cut
        self.run_id: str | None = None
        self._head = b""
        self._in_body = False
        self._sent = 0  # body bytes let through
        self._chunks = b""  # body bytes not yet parsed into whole chunks ("end" cuts)

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """The bytes to pass on and whether to end the connection after them."""
        cut = self._cut
        head = b""
        if not self._in_body:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return b"", False
            head, data = self._head[: end + 4], self._head[end + 4 :]
            self._in_body = True
            for line in head.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.lower() == "x-resumable-stream-id":
                    self.run_id = value.strip()
        if cut is None:
            return head + data, False
        if cut.how != "end":
            room = cut.body_bytes - self._sent
            if len(data) < room:
                self._sent += len(data)
                return head + data, False
            return head + data[: max(room, 0)], True
        # "end": the body's first body_bytes bytes as chunks, then the last-chunk marker.
        self._chunks += data
        out = b""
        while True:
            line_end = self._chunks.find(b"\r\n")
            if line_end < 0:
                return head + out, False
            size = int(self._chunks[:line_end].split(b";")[0], 16)
            whole = line_end + 2 + size + 2
            if size == 0 or len(self._chunks) < whole:
                return head + out, False
            payload = self._chunks[line_end + 2 : line_end + 2 + size]
            self._chunks = self._chunks[whole:]
            room = cut.body_bytes - self._sent
            if size < room:
                out += b"%x\r\n%s\r\n" % (size, payload)
                self._sent += size
                continue
            if room > 0:
                out += b"%x\r\n%s\r\n" % (room, payload[:room])
            return head + out + b"0\r\n\r\n", True
