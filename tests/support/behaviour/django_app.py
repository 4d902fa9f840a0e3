"""The Django host of the behaviour suite: one project, served under ASGI (``asgi_application``,
uvicorn) and under WSGI (``application``, gunicorn), with the same run (app.py).

Its middleware is a realistic stack: GZipMiddleware (the suite's client accepts gzip, so the
streaming tests show that gzip does not hold the stream back) and CsrfViewMiddleware (the view is
``csrf_exempt``, as an API view would be; test_django_adapter.py shows the refusal without it).
"""

from __future__ import annotations

from typing import Any

import django
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from streambridge_django import stream_urls, stream_view

from .app import BODY_TIMEOUT_OPTIONS, BODY_TIMEOUT_PATH, OPTIONS, PATH, run
from .resources import REPORT_PATH, async_report, sync_report
from .stored_app import STORED_PATH, stored_options

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
    ],
    INSTALLED_APPS=[],
    DATABASES={},
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

from django.core.asgi import get_asgi_application  # noqa: E402  (needs the settings)
from django.core.wsgi import get_wsgi_application  # noqa: E402


async def report(request: HttpRequest) -> JsonResponse:
    """The resources; under WSGI, of streambridge's shared loop (asked from the request thread,
    where the WSGI streams live), under ASGI of the server's loop."""
    if isinstance(request, ASGIRequest):
        return JsonResponse(await async_report())
    found: dict[str, Any] = await sync_to_async(sync_report)()
    return JsonResponse(found)


urlpatterns = [
    path(PATH.lstrip("/"), csrf_exempt(stream_view(run, **OPTIONS))),
    path(REPORT_PATH.lstrip("/"), report),
    # The same view with a short body timeout (test_body_timeout.py).
    path(BODY_TIMEOUT_PATH.lstrip("/"), csrf_exempt(stream_view(run, **BODY_TIMEOUT_OPTIONS))),
    # A view that keeps its runs, with their routes below its path (test_resume.py).
    *stream_urls(STORED_PATH.lstrip("/"), csrf_exempt(stream_view(run, **stored_options()))),
]

application = get_wsgi_application()
asgi_application = get_asgi_application()
