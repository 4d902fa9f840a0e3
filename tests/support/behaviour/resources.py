"""What a server process holds: its threads, its open file descriptors and its event loop's tasks,
reported at ``GET /_resources`` by every host, so the leak check (test_leaks.py) can compare them
before and after many clients that come and go.

Threads and descriptors are the kernel's count (``/proc/self``), so a thread or socket that Python
lost track of still shows.  Tasks are those of the loop the host's runs run in: the server's own
loop for an ASGI host, streambridge's shared loop for a WSGI host (which the report starts, if no
request has yet).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import json
import os
from collections.abc import Iterable
from typing import Any

import sniffio

from streambridge.asgi import ASGIApp, Receive, Scope, Send
from streambridge.run import _RunCore
from streambridge.transport import shared_portal
from streambridge.wsgi import Environ, StartResponse

REPORT_PATH = "/_resources"


def _count(path: str) -> int:
    return len(os.listdir(path))


def resident_bytes() -> int:
    """The process's resident memory (the kernel's count, as ``ps`` shows it)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def trimmed_resident_bytes() -> int:
    """Resident memory once the C allocator has handed back what it holds free (glibc keeps
    freed heap up to its trim threshold, so ``rss`` alone can show memory nothing uses)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return resident_bytes()


def live_runs() -> int:
    """Runs whose state Python still holds (their buffers with them), after a collection."""
    return sum(type(thing) is _RunCore for thing in gc.get_objects())


def process_resources() -> dict[str, Any]:
    # listdir opens the directory: the fd count includes that one descriptor, every time.
    return {
        "threads": _count("/proc/self/task"),
        "fds": _count("/proc/self/fd"),
        # (the slow-reader test's; the leak check leaves them out)
        "rss": resident_bytes(),
        "rss_trimmed": trimmed_resident_bytes(),
        "live_runs": live_runs(),
    }


def current_loop_tasks() -> int:
    """Tasks of the running event loop (asyncio or trio), this one included."""
    if sniffio.current_async_library() == "trio":
        import trio

        def count(task: trio.lowlevel.Task) -> int:
            return 1 + sum(count(t) for n in task.child_nurseries for t in n.child_tasks)

        return count(trio.lowlevel.current_root_task())
    return len(asyncio.all_tasks())


async def _shared_loop_tasks() -> int:
    return current_loop_tasks()


def shared_loop_tasks() -> int:
    """Tasks of streambridge's shared WSGI loop (the count's own task included)."""
    return shared_portal().call(_shared_loop_tasks)


async def async_report() -> dict[str, Any]:
    return {**process_resources(), "tasks": current_loop_tasks()}


def sync_report() -> dict[str, Any]:
    return {**process_resources(), "tasks": shared_loop_tasks()}


def _json(report: dict[str, Any]) -> tuple[bytes, list[tuple[str, str]]]:
    body = json.dumps(report).encode()
    return body, [("content-type", "application/json"), ("content-length", str(len(body)))]


async def asgi_report(scope: Scope, receive: Receive, send: Send) -> None:
    body, headers = _json(await async_report())
    raw = [(k.encode(), v.encode()) for k, v in headers]
    await send({"type": "http.response.start", "status": 200, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def with_asgi_report(app: ASGIApp) -> ASGIApp:
    """``app``, with ``GET /_resources`` answered before it (every other scope goes through
    untouched, lifespan included)."""

    async def reported(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == REPORT_PATH:
            await asgi_report(scope, receive, send)
        else:
            await app(scope, receive, send)

    return reported


def wsgi_report(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    body, headers = _json(sync_report())
    start_response("200 OK", headers)
    return [body]


def with_wsgi_report(app: Any) -> Any:
    """The WSGI ``app``, with ``GET /_resources`` answered before it."""

    def reported(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == REPORT_PATH:
            return wsgi_report(environ, start_response)
        result: Iterable[bytes] = app(environ, start_response)
        return result

    return reported
