"""The Django host of the behaviour suite: one project, served under ASGI (``asgi_application``,
uvicorn) and under WSGI (``application``, gunicorn), with the same run (app.py).

Its middleware is a realistic stack: GZipMiddleware (the suite's client accepts gzip, so the
streaming tests show that gzip does not hold the stream back), CsrfViewMiddleware (the view is
``csrf_exempt``, as an API view would be; test_django_adapter.py shows the refusal without it),
and sessions and authentication over a real database (an SQLite file per server process, made
and migrated at import), for the run at ``/api/orm`` that reads the user and queries the ORM
(test_django_orm.py).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import anyio
import django
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

import streambridge as sb
from streambridge_django import stream_urls, stream_view

from .app import BODY_TIMEOUT_OPTIONS, BODY_TIMEOUT_PATH, OPTIONS, PATH, run
from .resources import REPORT_PATH, async_report, sync_report
from .stored_app import ORM_KEPT_PATH, STORED_PATH, stored_options

_DATABASE_DIR = Path(tempfile.mkdtemp(prefix="streambridge-django-"))
atexit.register(shutil.rmtree, _DATABASE_DIR, ignore_errors=True)
DATABASE = str(_DATABASE_DIR / "db.sqlite3")

settings.configure(
    DEBUG=False,
    SECRET_KEY="streambridge behaviour suite",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.gzip.GZipMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ],
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DATABASE}},
    SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
    USE_TZ=True,
    # A view that raises is logged where the suite reads it ("Internal Server Error: ...").
    LOGGING={
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"stderr": {"class": "logging.StreamHandler"}},
        "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR"}},
    },
)
django.setup()

from django.contrib.auth.models import User  # noqa: E402  (needs the settings)
from django.core.asgi import get_asgi_application  # noqa: E402  (needs the settings)
from django.core.management import call_command  # noqa: E402  (needs the settings)
from django.core.wsgi import get_wsgi_application  # noqa: E402


async def report(request: HttpRequest) -> JsonResponse:
    """The resources; under WSGI, of streambridge's shared loop (asked from the request thread,
    where the WSGI streams live), under ASGI of the server's loop."""
    if isinstance(request, ASGIRequest):
        return JsonResponse(await async_report())
    found: dict[str, Any] = await sync_to_async(sync_report)()
    return JsonResponse(found)


call_command("migrate", verbosity=0)  # this process's database: auth's tables


async def orm(controller: sb.RunController) -> None:
    """Who is calling, and the async ORM, several calls in one run: under WSGI the second
    ``sync_to_async`` call used to fail ("CurrentThreadExecutor already quit or is broken")."""
    user = await controller.request.auser()
    name = f"user-{uuid.uuid4().hex}"
    await User.objects.acreate(username=name)
    mine = await User.objects.filter(username=name).acount()
    users = await User.objects.acount()
    seen = await sync_to_async(User.objects.filter(username=name).exists)()  # plain sync_to_async
    controller.append_text(f"{type(user).__name__} {mine} {seen and users >= mine}")


async def orm_after_its_client(controller: sb.RunController) -> None:
    """A kept run that queries the ORM once its client has gone (the test hangs up after
    ``started``): under ASGI the request's thread for ``sync_to_async`` has ended by then."""
    controller.append_text("started ")
    await anyio.sleep(0.5)
    before = await User.objects.acount()
    await User.objects.acreate(username=f"late-{uuid.uuid4().hex}")
    after = await User.objects.acount()
    controller.append_text(f"queried {after - before}")


urlpatterns = [
    path("api/orm", csrf_exempt(stream_view(orm))),
    *stream_urls(
        ORM_KEPT_PATH.lstrip("/"),
        csrf_exempt(stream_view(orm_after_its_client, store=sb.MemoryStore())),
    ),
    path(PATH.lstrip("/"), csrf_exempt(stream_view(run, **OPTIONS))),
    path(REPORT_PATH.lstrip("/"), report),
    # The same view with a short body timeout (test_body_timeout.py).
    path(BODY_TIMEOUT_PATH.lstrip("/"), csrf_exempt(stream_view(run, **BODY_TIMEOUT_OPTIONS))),
    # A view that keeps its runs, with their routes below its path (test_resume.py).
    *stream_urls(STORED_PATH.lstrip("/"), csrf_exempt(stream_view(run, **stored_options()))),
]

application = get_wsgi_application()
asgi_application = get_asgi_application()
