"""The demo assistant on Django Channels: POST /api/chat (any protocol via ?protocol=) and the
WebSocket /api/ws.

    PYTHONPATH=examples/channels_project uv run daphne chat_project.asgi:application

    curl -N localhost:8000/api/chat -d '{"messages": [{"role": "user", "content": "Hi"}]}'
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat_project.settings")
django_app = get_asgi_application()  # sets Django up before the routers import anything of it

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path, re_path  # noqa: E402

from streambridge.demo import demo_run  # noqa: E402
from streambridge_channels import StreamConsumer, StreamWebsocketConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": URLRouter(
            [
                path("api/chat", StreamConsumer.as_asgi(run=demo_run)),
                re_path(r"", django_app),  # everything else: the project's Django views
            ]
        ),
        "websocket": URLRouter([path("api/ws", StreamWebsocketConsumer.as_asgi(run=demo_run))]),
    }
)
