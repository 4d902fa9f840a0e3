"""Plain WSGI: a middleware sets ``REMOTE_USER``, or refuses."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

import streambridge as sb
from streambridge.wsgi import Environ, StartResponse, StreamWSGIApp

from .common import noted, user_of

DOC = ("docs/guide/frameworks.md", "def require_remote_user(app: WSGIApp) -> WSGIApp:")

WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


def require_remote_user(app: WSGIApp) -> WSGIApp:
    """``app`` for requests with a known token (``environ["REMOTE_USER"]``); a 401 for the
    others."""

    def guarded(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        user = user_of(environ.get("HTTP_AUTHORIZATION"))
        if user is None:
            body = json.dumps({"error": {"message": "sign in first"}}).encode()
            start_response(
                "401 Unauthorized",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        environ["REMOTE_USER"] = user
        return app(environ, start_response)

    return guarded


async def run(controller: sb.RunController) -> None:
    controller.append_text(f"Hello, {controller.request['REMOTE_USER']}")


app = require_remote_user(StreamWSGIApp(noted(run)))
