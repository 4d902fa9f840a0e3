"""Hosts that keep their runs in Redis (``RedisStore``): the stored hosts of ``stored_app.py``
again, any number of processes of each sharing runs.

Every process of a test session uses the Redis at ``REDIS_URL`` (the behaviour suite's
``servers`` fixture sets it before it starts them) and the key prefix ``SB_TEST_REDIS_PREFIX``, so
a run started on one process is read and stopped on another.  Their lease is short
(``SB_TEST_REDIS_LEASE``, 1 s), so a killed process's runs fail within the test's patience.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from streambridge.asgi import ASGIApp, Message, Receive, Scope, Send, StreamApp
from streambridge.wsgi import Environ, StartResponse, StreamWSGIApp

from .app import run
from .resources import with_asgi_report
from .stored_app import redis_store, stored_options


def redis_options() -> dict[str, Any]:
    """:func:`stored_options` with this session's Redis for a store."""
    return {**stored_options(), "store": redis_store()}


redis_app = with_asgi_report(StreamApp(run, **redis_options()))
redis_wsgi_app = StreamWSGIApp(run, **redis_options())


WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
WORKER_HEADER = "x-worker-pid"
"""Which worker process answered: the two-worker tests read it from every response."""


def _with_worker_pid_asgi(app: ASGIApp) -> ASGIApp:
    async def tagged(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                pid = (WORKER_HEADER.encode(), str(os.getpid()).encode())
                message = {**message, "headers": [*message.get("headers", []), pid]}
            await send(message)

        await app(scope, receive, send_tagged)

    return tagged


def _with_worker_pid_wsgi(app: WSGIApp) -> WSGIApp:
    def tagged(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        def start_tagged(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            return start_response(status, [*headers, (WORKER_HEADER, str(os.getpid()))], *exc_info)

        return app(environ, start_tagged)

    return tagged


# What several workers behind one port serve (uvicorn --workers 2, gunicorn --workers 2): the
# Redis hosts again, each response naming the worker that answered it.
redis_app_workers = _with_worker_pid_asgi(redis_app)
redis_wsgi_app_workers = _with_worker_pid_wsgi(redis_wsgi_app)
