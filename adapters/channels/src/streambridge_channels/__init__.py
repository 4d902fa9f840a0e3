"""Serve a streambridge run from Django Channels.

>>> from channels.routing import ProtocolTypeRouter, URLRouter
>>> from django.urls import path
>>> application = ProtocolTypeRouter({
...     "http": URLRouter([path("api/chat", StreamConsumer.as_asgi(run=run))]),
...     "websocket": URLRouter([path("api/chat", StreamWebsocketConsumer.as_asgi(run=run))]),
... })

With ``store=``, the routes of its runs (attach, status, stop: see
:mod:`streambridge.transport.attach`) sit below the consumer's path; :func:`stream_urls` gives
the patterns for both::

    "http": URLRouter(stream_urls("api/chat", StreamConsumer.as_asgi(run=run, store=store)))

``controller.request`` is the consumer's scope: the ASGI scope as Channels' routers and
middleware leave it (``scope["url_route"]``, ``scope["user"]`` under ``AuthMiddlewareStack``,
...).  Every behaviour (protocols, heartbeats, disconnects, errors, shutdown) is streambridge's
own: this package only hands the connection over.

Why the consumers drive the connection themselves: ``AsyncHttpConsumer`` reads the whole body,
calls ``handle()`` and stops when it returns, and while ``handle()`` runs it does not dispatch
``http.disconnect``, so a stream written from ``handle()`` would never learn that its client
left.  These consumers instead hand the connection's ``receive`` and ``send`` to streambridge's
ASGI host, which watches for the disconnect while it streams and cancels the run at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Protocol, cast

# Channels ships no type information: its base classes are Any to mypy.
from channels.db import aclose_old_connections  # type: ignore[import-untyped]
from channels.generic.http import AsyncHttpConsumer  # type: ignore[import-untyped]
from channels.generic.websocket import AsyncWebsocketConsumer  # type: ignore[import-untyped]
from django.urls import URLPattern, path

from streambridge import RunFunction
from streambridge.asgi import Receive, Scope, Send, serve_http, serve_websocket
from streambridge.transport import RUN_PATH_PARAM, StreamEndpoint, StreamOptions

__all__ = ["ConsumerApp", "StreamConsumer", "StreamWebsocketConsumer", "stream_urls"]


class ConsumerApp(Protocol):
    """What ``as_asgi()`` returns: an ASGI app that runs one consumer per connection."""

    consumer_class: type[Any]
    consumer_initkwargs: dict[str, Any]
    endpoint: StreamEndpoint
    """The run and its options, shared by every connection of this app."""
    shutdown: Callable[[], Awaitable[None]]
    """End this app's open streams cleanly (see ``StreamApp.shutdown``)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


class _Serve(Protocol):
    def __call__(
        self, endpoint: StreamEndpoint, scope: Scope, receive: Receive, send: Send, /
    ) -> Awaitable[None]: ...


async def _serve_http(
    endpoint: StreamEndpoint, scope: Scope, receive: Receive, send: Send, /
) -> None:
    # Routed by stream_urls' sub-route: only a request about a stored run belongs there.
    below = RUN_PATH_PARAM in scope.get("url_route", {}).get("kwargs", {})
    await serve_http(endpoint, scope, receive, send, below=below)


class _ServesEndpoint:
    """What both consumers share: built with an endpoint, they hand the connection to the core.

    ``serve`` is the core's host for the consumer's scope type (``serve_http`` or
    ``serve_websocket``).
    """

    serve: ClassVar[_Serve]

    def __init__(self, endpoint: StreamEndpoint, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.endpoint = endpoint

    @classmethod
    def as_asgi(cls, *, run: RunFunction, **options: Any) -> ConsumerApp:
        """The ASGI app to route: a consumer per connection, all serving ``run`` with
        ``options`` (those of :class:`~streambridge.asgi.StreamApp`)."""
        # Built once per as_asgi() and shared by its consumers, so the options are checked at
        # startup (like a StreamApp's) and one shutdown() reaches every open stream.
        endpoint = StreamEndpoint(run, StreamOptions.from_kwargs(**options))
        app = cast(ConsumerApp, super().as_asgi(endpoint=endpoint))  # type: ignore[misc]
        app.endpoint = endpoint
        app.shutdown = endpoint.shutdown
        return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.base_send = send
        await aclose_old_connections()  # as Channels does before each handler
        await type(self).serve(self.endpoint, scope, receive, send)


class StreamConsumer(_ServesEndpoint, AsyncHttpConsumer):  # type: ignore[misc]  # untyped base
    """An HTTP consumer that streams ``run`` back to a POST (HEAD: the headers; any other
    method: a JSON 405).

    Route it with ``StreamConsumer.as_asgi(run=run, **options)``; the options are those of
    :class:`~streambridge.asgi.StreamApp`.  It joins no channel layer group: a run that wants the
    layer calls ``channels.layers.get_channel_layer()``.
    """

    serve = staticmethod(_serve_http)


class StreamWebsocketConsumer(_ServesEndpoint, AsyncWebsocketConsumer):  # type: ignore[misc]
    """A WebSocket consumer serving ``run`` in streambridge's envelope (several runs, one at a
    time, each cancellable with an ``abort`` frame; closing the socket cancels the current one).

    Route it with ``StreamWebsocketConsumer.as_asgi(run=run, **options)``.
    """

    serve = staticmethod(serve_websocket)


def stream_urls(route: str, app: ConsumerApp) -> list[URLPattern]:
    """The ``URLRouter`` patterns of an HTTP consumer app: ``route`` itself and, below it, the
    routes of its stored runs (``route/<path:run_path>``)."""
    consumer = cast(Any, app)  # Django's stubs know views only; URLRouter routes ASGI apps
    below = f"{route.rstrip('/')}/<path:{RUN_PATH_PARAM}>"
    return [path(route, consumer), path(below, consumer)]
