"""``daphne support.behaviour.channels_host.asgi:application``."""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "support.behaviour.channels_host.settings")
django.setup()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (after setup)
from django.urls import path  # noqa: E402

from streambridge_channels import (  # noqa: E402
    StreamConsumer,
    StreamWebsocketConsumer,
    stream_urls,
)

from ..app import OPTIONS, PATH, run  # noqa: E402
from ..resources import with_asgi_report  # noqa: E402
from ..stored_app import STORED_PATH, stored_options  # noqa: E402

route = PATH.lstrip("/")
# GET /_resources answers the leak check (resources.py), as on every host.
application = with_asgi_report(
    ProtocolTypeRouter(
        {
            "http": URLRouter(
                [
                    path(route, StreamConsumer.as_asgi(run=run, **OPTIONS)),
                    # A consumer that keeps its runs, with their routes below (test_resume.py).
                    *stream_urls(
                        STORED_PATH.lstrip("/"),
                        StreamConsumer.as_asgi(run=run, **stored_options()),
                    ),
                ]
            ),
            "websocket": URLRouter(
                [path(route, StreamWebsocketConsumer.as_asgi(run=run, **OPTIONS))]
            ),
        }
    )
)
