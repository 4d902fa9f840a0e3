"""Starlette: AuthenticationMiddleware, ``request.user``, an endpoint that refuses."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser, SimpleUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import streambridge as sb
from streambridge_starlette import stream_view

from .common import noted, user_of

DOC = ("docs/guide/serving.md", "class BearerTokens(AuthenticationBackend):")


class BearerTokens(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        user = user_of(conn.headers.get("authorization"))
        if user is None:
            return None  # request.user is then an UnauthenticatedUser
        return AuthCredentials(["authenticated"]), SimpleUser(user)


async def run(controller: sb.RunController) -> None:
    controller.append_text(f"Hello, {controller.request.user.display_name}")


chat = stream_view(noted(run))


async def chat_endpoint(request: Request) -> Response:
    if not request.user.is_authenticated:
        return JSONResponse({"error": {"message": "sign in first"}}, status_code=401)
    return chat.response(request)


app = Starlette(
    routes=[Route("/api/chat", chat_endpoint, methods=["POST"])],
    middleware=[Middleware(AuthenticationMiddleware, backend=BearerTokens())],
)
