"""One Django configuration for every in-process test module that needs Django (the Django and
Channels adapter tests share a process, and Django can be configured only once)."""

from __future__ import annotations

import django
from django.conf import settings


def configure_django() -> None:
    if settings.configured:
        return
    settings.configure(
        SECRET_KEY="streambridge tests",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF="test_django_adapter",  # its urlpatterns
        MIDDLEWARE=[
            "django.middleware.gzip.GZipMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
        ],
        INSTALLED_APPS=["channels"],
        DATABASES={},
        USE_TZ=True,
    )
    django.setup()
