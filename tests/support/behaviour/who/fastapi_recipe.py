"""FastAPI: a dependency that refuses, ``request.state`` for the run."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response

import streambridge as sb
from streambridge_starlette import stream_view

from .common import noted, user_of

DOC = ("docs/guide/serving.md", "async def current_user(")


async def current_user(authorization: Annotated[str | None, Header()] = None) -> str:
    user = user_of(authorization)
    if user is None:
        raise HTTPException(401, "sign in first", headers={"WWW-Authenticate": "Bearer"})
    return user


async def run(controller: sb.RunController) -> None:
    controller.append_text(f"Hello, {controller.request.state.user}")


chat = stream_view(noted(run))
api = FastAPI()


@api.post("/api/chat")
async def chat_endpoint(request: Request, user: Annotated[str, Depends(current_user)]) -> Response:
    request.state.user = user
    return chat.response(request)
