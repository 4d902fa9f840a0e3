"""Django (under WSGI: ``gunicorn support.behaviour.who.django_recipe:application``; under
ASGI: ``uvicorn ...:asgi_application``): a view decorator reads the user from the bearer token,
or refuses before the view, and so the run, is called."""

from __future__ import annotations

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="streambridge: who is calling",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
    ],
)
django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402  (after setup)
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402

import streambridge as sb  # noqa: E402
from streambridge_django import stream_view  # noqa: E402

from .common import noted, user_of  # noqa: E402

DOC = ("docs/guide/frameworks.md", "def signed_in(view):")


def signed_in(view):
    """``view`` for requests with a known token (``request.bearer_user``); a 401 for the
    others, before ``view`` is called."""

    async def guarded(request, *args, **kwargs):
        request.bearer_user = user_of(request.headers.get("Authorization"))
        if request.bearer_user is None:
            return JsonResponse({"error": {"message": "sign in first"}}, status=401)
        return await view(request, *args, **kwargs)

    return guarded


async def run(controller: sb.RunController) -> None:
    controller.append_text(f"Hello, {controller.request.bearer_user}")


urlpatterns = [path("api/chat", csrf_exempt(signed_in(stream_view(noted(run)))))]

application = get_wsgi_application()
asgi_application = get_asgi_application()
