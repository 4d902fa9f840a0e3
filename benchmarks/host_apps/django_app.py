"""A minimal Django project with the plugin's ``stream_view(run)``: ``asgi_application`` for
uvicorn, ``application`` (WSGI) for gunicorn gthread.  No middleware: the library's cost, not
Django's middleware stack's."""

from __future__ import annotations

import django
from django.conf import settings
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from streambridge_django import stream_view

from .run import PATH, run

settings.configure(
    DEBUG=False,
    SECRET_KEY="streambridge benchmark",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    DATABASES={},
    USE_TZ=True,
)
django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402  (needs the settings)
from django.core.wsgi import get_wsgi_application  # noqa: E402

urlpatterns = [path(PATH.lstrip("/"), csrf_exempt(stream_view(run)))]

application = get_wsgi_application()
asgi_application = get_asgi_application()
