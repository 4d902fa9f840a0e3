"""Serve a streambridge run from a Flask view.

>>> app.add_url_rule("/api/chat", view_func=stream_view(run))

With ``store=``, the routes of its runs (attach, status, stop: see
:mod:`streambridge.transport.attach`) sit below that path; :func:`add_stream_rules` routes both::

    add_stream_rules(app, "/api/chat", stream_view(run, store=sb.MemoryStore()))

``controller.request`` is Flask's :class:`~flask.Request`, and inside the run ``flask.request``,
``current_app`` and ``g`` work too: the run gets the view's context variables, as a run on an
ASGI host gets its request task's.  As with any streamed Flask response, the request context is
torn down when the view returns, before the stream: open what the run needs (a database session)
in the run.  The run streams from streambridge's shared event loop, pulled by the server's
request thread (:class:`streambridge.transport.BlockingStream`); every behaviour (protocols,
heartbeats, disconnects, errors, the request body's ``body_timeout``) is streambridge's own.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, Flask, Response, current_app, request

from streambridge import RunFunction
from streambridge.transport import RUN_PATH_PARAM, StreamEndpoint, StreamOptions
from streambridge.wsgi import end_streams, respond, wsgi_socket

__all__ = ["StreamView", "add_stream_rules", "stream_view"]

ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
"""What the view is routed for when ``add_url_rule`` names no methods: it answers a wrong method
itself, with a JSON 405 (Flask's own 405 is an HTML page)."""


class StreamView:
    """A Flask view function that streams ``run`` back to a POST (HEAD: the headers).

    ``app.add_url_rule(rule, view_func=view)``; the endpoint is named after the run, unless
    ``endpoint=`` says otherwise.
    """

    methods = ANY_METHOD

    def __init__(self, run: RunFunction, **options: Any) -> None:
        self.endpoint = StreamEndpoint(run, StreamOptions.from_kwargs(**options))
        self.__name__ = getattr(run, "__name__", "stream_view")  # Flask's endpoint name
        self.__doc__ = getattr(run, "__doc__", None)

    def __call__(self, *args: Any, **kwargs: Any) -> Response:
        # The request itself, not the context-local proxy: the run may read it from the loop.
        current = cast(Any, request)._get_current_object()
        environ = current.environ
        answer = respond(
            self.endpoint,
            method=current.method,
            query_string=current.query_string,
            content_length=environ.get("CONTENT_LENGTH") or None,
            read=current.stream.read,
            request=current,
            connection=wsgi_socket(environ),
            path=current.path,
            last_event_id=current.headers.get("Last-Event-ID"),
            below=RUN_PATH_PARAM in kwargs,
        )
        # direct_passthrough: the server gets the stream itself, and calls its close().
        response_class: type[Response] = current_app.response_class
        return response_class(
            answer.body, status=answer.status, headers=answer.headers, direct_passthrough=True
        )

    def shutdown(self, timeout: float | None = None) -> None:
        """End this view's open streams cleanly (the protocol's error event and end), waiting at
        most ``timeout`` seconds; new requests get a 503 from then on."""
        end_streams(self.endpoint, timeout)


def stream_view(run: RunFunction, **options: Any) -> StreamView:
    """A Flask view function streaming ``run``; ``options`` as for ``StreamWSGIApp``."""
    return StreamView(run, **options)


def add_stream_rules(app: Flask | Blueprint, rule: str, view: StreamView) -> None:
    """Route ``view`` at ``rule`` and the routes of its stored runs below it
    (``rule/<path:run_path>``) on a Flask app or blueprint."""
    app.add_url_rule(rule, view_func=view)
    app.add_url_rule(f"{rule.rstrip('/')}/<path:{RUN_PATH_PARAM}>", view_func=view)
