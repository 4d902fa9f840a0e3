"""What every recipe shares: the docs' ``user_of`` (docs/guide/serving.md, "Who is calling"),
and :func:`noted`, which the test adds around each run."""

from __future__ import annotations

import functools

import anyio

import streambridge as sb

DOC = ("docs/guide/serving.md", "def user_of(authorization: str | None) -> str | None:")
PATH = "/api/chat"

TOKENS = {"token-of-ada": "ada", "token-of-grace": "grace"}  # your user store


def user_of(authorization: str | None) -> str | None:
    """The user an ``Authorization: Bearer <token>`` header names, or None."""
    scheme, _, token = (authorization or "").partition(" ")
    return TOKENS.get(token) if scheme.lower() == "bearer" else None


def noted(run: sb.RunFunction) -> sb.RunFunction:
    """``run``, which first writes the file named by the body's ``"marker"``: the test's sign,
    on the server's side, that a run started."""

    @functools.wraps(run)  # Flask names the endpoint after the run
    async def started(controller: sb.RunController) -> None:
        raw = controller.input.raw if isinstance(controller.input.raw, dict) else {}
        if isinstance(raw.get("marker"), str):
            await anyio.Path(raw["marker"]).write_text("started", encoding="utf-8")
        await run(controller)

    return started
