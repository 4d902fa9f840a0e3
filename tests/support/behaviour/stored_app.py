"""Hosts that keep their runs (``store=``): what the resume tests attach to, stop and resume.

The ASGI ones are here; every other kind of host has its stored variant next to its plain one
(``wsgi_apps.py``, ``django_app.py``, ``quart_host.py``, ``channels_host``), built with
:func:`stored_options` and mounted the way that framework's users are told to.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import anyio
from starlette.applications import Starlette

import streambridge as sb
from streambridge.asgi import StreamApp, StreamMiddleware
from streambridge_starlette import stream_view

from .app import OPTIONS, PATH, RUNS, fallback, run
from .resources import with_asgi_report

STORED_PATH = "/api/stored"
"""Where the Django and Channels projects, which serve one urlconf, mount their stored view."""
ORM_KEPT_PATH = "/api/orm-kept"
"""Where the Django project mounts its kept run that queries the ORM after its client has gone
(here, not in django_app.py: importing that module configures Django in the importing process)."""

LONG_PIECES = 60
LONG_INTERVAL = 0.01
LONGER_PIECES = 400
LONGER_INTERVAL = 0.005


def numbered(pieces: int, interval: float) -> sb.RunFunction:
    """A run of ``pieces`` numbered tokens, ``interval`` seconds apart."""

    async def run(controller: sb.RunController) -> None:
        for index in range(pieces):
            controller.append_text(f"{index} ")
            await anyio.sleep(interval)

    return run


async def until_stopped(controller: sb.RunController) -> None:
    """Numbered tokens, ``LONG_INTERVAL`` seconds apart, until the run is stopped: what a test
    that stops a run starts, so that a slow machine cannot let the run end first."""
    for index in itertools.count():
        controller.append_text(f"{index} ")
        await anyio.sleep(LONG_INTERVAL)


# "long": a minute of tokens squeezed into 0.6 s, to attach to and resume; "longer": enough
# events for a few hundred cuts and resumes while it runs.
RUNS["long"] = numbered(LONG_PIECES, LONG_INTERVAL)
RUNS["longer"] = numbered(LONGER_PIECES, LONGER_INTERVAL)
RUNS["until_stopped"] = until_stopped


def owner_header(request: Any) -> str:
    """The request's ``X-Owner`` header, whatever the host made ``controller.request``."""
    if isinstance(request, dict):
        if "headers" in request:  # an ASGI scope (StreamApp, Channels)
            return str(dict(request["headers"]).get(b"x-owner", b"").decode())
        return str(request.get("HTTP_X_OWNER", ""))  # a WSGI environ
    headers = getattr(request, "headers", None)  # Starlette, Flask, Quart, Django requests
    return str(headers.get("x-owner", "")) if headers is not None else ""


def _refuse_strangers(request: object, record: sb.runs.RunRecord, action: str) -> bool:
    """Only a request carrying the run's owner header may read or stop it."""
    owner = record.input.raw.get("owner") if isinstance(record.input.raw, dict) else None
    return owner is None or owner_header(request) == owner


PREFIX_VARIABLE = "SB_TEST_REDIS_PREFIX"
LEASE_VARIABLE = "SB_TEST_REDIS_LEASE"


def redis_store() -> sb.RedisStore:
    """A store on this session's Redis, under the session's prefix, with its short lease."""
    return sb.RedisStore(
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"),
        prefix=os.environ.get(PREFIX_VARIABLE, "sbtest-hosts"),
        lease=float(os.environ.get(LEASE_VARIABLE, "1.0")),
        idle_ttl=120,
    )


STORE_VARIABLE = "SB_TEST_STORE"
"""Set to ``redis`` in a server's environment, every stored host of that server keeps its runs
in the session's Redis (:func:`redis_store`) instead of its own memory."""


def stored_options() -> dict[str, Any]:
    """The options of a host that keeps its runs: its store, the owner check."""
    if os.environ.get(STORE_VARIABLE) == "redis":
        store: sb.runs.RunStore = redis_store()
    else:
        store = sb.MemoryStore()
    return {"store": store, "authorize": _refuse_strangers, **OPTIONS}


stored_app = with_asgi_report(StreamApp(run, **stored_options()))
stored_cancel_app = with_asgi_report(
    StreamApp(run, store=sb.MemoryStore(), on_disconnect="cancel", **OPTIONS)
)
stored_middleware_app = StreamMiddleware(fallback, routes={PATH: run}, **stored_options())
stored_starlette_app = Starlette(routes=stream_view(run, **stored_options()).routes(PATH))
