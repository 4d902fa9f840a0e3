"""Hosts that keep their runs (``store=``): what the resume tests attach to, stop and resume."""

from __future__ import annotations

import anyio

import streambridge as sb
from streambridge.asgi import StreamApp, StreamMiddleware

from .app import OPTIONS, PATH, RUNS, fallback, run
from .resources import with_asgi_report

LONG_PIECES = 60
LONG_INTERVAL = 0.02


async def long(controller: sb.RunController) -> None:
    """A minute of tokens squeezed into a second: long enough to attach to, resume and stop."""
    for index in range(LONG_PIECES):
        controller.append_text(f"{index} ")
        await anyio.sleep(LONG_INTERVAL)


RUNS["long"] = long

LONGER_PIECES = 400
LONGER_INTERVAL = 0.005


async def longer(controller: sb.RunController) -> None:
    """Enough events for a few hundred cuts and resumes while it runs."""
    for index in range(LONGER_PIECES):
        controller.append_text(f"{index} ")
        await anyio.sleep(LONGER_INTERVAL)


RUNS["longer"] = longer


def _refuse_strangers(request: object, record: sb.runs.RunRecord, action: str) -> bool:
    """Only a request carrying the run's owner header may read or stop it."""
    headers = dict(getattr(request, "get", lambda *_: None)("headers") or [])
    owner = record.input.raw.get("owner") if isinstance(record.input.raw, dict) else None
    return owner is None or headers.get(b"x-owner", b"").decode() == owner


stored_app = with_asgi_report(
    StreamApp(run, store=sb.MemoryStore(), authorize=_refuse_strangers, **OPTIONS)
)
stored_cancel_app = with_asgi_report(
    StreamApp(run, store=sb.MemoryStore(), on_disconnect="cancel", **OPTIONS)
)
stored_middleware_app = StreamMiddleware(
    fallback, routes={PATH: run}, store=sb.MemoryStore(), authorize=_refuse_strangers, **OPTIONS
)
