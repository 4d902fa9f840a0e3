"""A minimal Channels project with the plugin's ``StreamConsumer``, for daphne."""

from __future__ import annotations

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="streambridge benchmark",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    INSTALLED_APPS=["channels"],
    DATABASES={},
    USE_TZ=True,
)
django.setup()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (after setup)
from django.urls import path  # noqa: E402

from streambridge_channels import StreamConsumer  # noqa: E402

from .run import PATH, run  # noqa: E402

application = ProtocolTypeRouter(
    {"http": URLRouter([path(PATH.lstrip("/"), StreamConsumer.as_asgi(run=run))])}
)
