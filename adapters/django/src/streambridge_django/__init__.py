"""Serve a streambridge run from a Django view, under ASGI and under WSGI.

>>> from django.urls import path
>>> from django.views.decorators.csrf import csrf_exempt
>>> urlpatterns = [path("api/chat", csrf_exempt(stream_view(run)))]

With ``store=``, the routes of its runs (attach, status, stop: see
:mod:`streambridge.transport.attach`) sit below that path; :func:`stream_urls` gives the
patterns for both::

    urlpatterns = [*stream_urls("api/chat", csrf_exempt(stream_view(run, store=sb.MemoryStore())))]

or, as a decorator on the run::

    @csrf_exempt
    @stream_view(heartbeat=10)
    async def chat(controller): ...

``controller.request`` is Django's :class:`~django.http.HttpRequest`.  The view is async.  Under
ASGI it returns a :class:`~django.http.StreamingHttpResponse` over an async iterator, which
Django's ASGI handler pulls and cancels when the client disconnects; the run is delivered by
:func:`streambridge.transport.pull_stream`, with the send timeout and clean shutdown of every host.
Under WSGI, where Django
would collect an async iterator whole before sending it, it returns one over a sync iterator that
the server's request thread pulls from streambridge's shared event loop
(:class:`streambridge.transport.BlockingStream`), after reading the request body within
``body_timeout`` (a 408 after it).  Every behaviour (protocols, heartbeats, disconnects, errors)
is streambridge's own: this package only hands Django's objects over.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Callable
from typing import Any, overload

import anyio
from asgiref.sync import (
    AsyncToSync,
    SyncToAsync,
    ThreadSensitiveContext,
    markcoroutinefunction,
    sync_to_async,
)
from django.core.handlers.asgi import ASGIRequest
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path

from streambridge import RunController, RunFunction
from streambridge.encoding import EncodedStream
from streambridge.run import check_run_function
from streambridge.transport import (
    RUN_PATH_PARAM,
    Reply,
    StreamEndpoint,
    StreamHead,
    StreamOptions,
    pull_stream,
)
from streambridge.wsgi import end_streams, respond, wsgi_socket

__all__ = ["StreamView", "stream_urls", "stream_view"]

NOT_COMPRESSED = ("Content-Encoding", "identity")
"""Set on every stream, so GZipMiddleware (and any middleware or proxy that compresses only
responses with no content encoding yet) leaves it alone: Django's gzip collects a sync stream
until it has a sizeable block to send, which holds a chat stream back for its whole length."""


class StreamView:
    """An async Django view that streams ``run`` back to a POST (HEAD: the headers; other
    methods: a JSON 405).  Mount it with ``path(route, view)``; wrap it in ``csrf_exempt`` or
    have the client send the CSRF token (see the README)."""

    def __init__(self, run: RunFunction, **options: Any) -> None:
        check_run_function(run)  # before it is wrapped: a plain def is refused here, clearly
        options_ = StreamOptions.from_kwargs(**options)
        self.endpoint = StreamEndpoint(_with_own_sync_thread(run), options_)
        # Django names views after their function: in error pages, logs and ``reverse()``.
        self.__name__ = self.__qualname__ = getattr(run, "__name__", type(self).__name__)
        self.__module__ = getattr(run, "__module__", __name__)
        self.__doc__ = getattr(run, "__doc__", None)
        markcoroutinefunction(self)  # Django calls it as the async view it is

    async def __call__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        below = RUN_PATH_PARAM in kwargs  # routed here by stream_urls' sub-route
        if isinstance(request, ASGIRequest):
            return await self._asgi_response(request, below)
        return self._wsgi_response(request, below)

    async def _asgi_response(self, request: ASGIRequest, below: bool) -> HttpResponseBase:
        endpoint = self.endpoint
        method = request.method or "GET"
        head = method == "HEAD"
        meta = request.META
        answer = await endpoint.respond(
            method,
            request.path,
            query_string=meta.get("QUERY_STRING", ""),
            content_length=meta.get("CONTENT_LENGTH") or None,
            body=_read_body(request),
            last_event_id=meta.get("HTTP_LAST_EVENT_ID"),
            request=request,
            below=below,
        )
        if isinstance(answer, Reply):
            return _reply_response(answer, head=head)
        if isinstance(answer, StreamHead):
            headers = [*answer.headers, NOT_COMPRESSED]
            return StreamingHttpResponse(_no_body(), headers=dict(headers))
        headers = [*endpoint.stream_headers(answer), NOT_COMPRESSED]
        return StreamingHttpResponse(_async_body(endpoint, answer), headers=dict(headers))

    def _wsgi_response(self, request: HttpRequest, below: bool) -> HttpResponseBase:
        meta = request.META
        read: Callable[[int], bytes] = request.read
        content_length = meta.get("CONTENT_LENGTH") or None
        if content_length is None and meta.get("wsgi.input_terminated"):
            # A chunked body, which Django's WSGIRequest does not read (it reads only
            # CONTENT_LENGTH bytes): the server has framed it, read it from the server.
            read = meta["wsgi.input"].read
        # The run's context is this request's, less asgiref's note that it is inside
        # async_to_sync (see _outside_async_to_sync).
        answer = _outside_async_to_sync().run(
            respond,
            self.endpoint,
            method=request.method or "GET",
            query_string=meta.get("QUERY_STRING", ""),
            content_length=content_length,
            read=read,
            request=request,
            connection=wsgi_socket(meta),
            path=request.path,
            last_event_id=meta.get("HTTP_LAST_EVENT_ID"),
            below=below,
        )
        if not answer.streams:
            body = b"".join(answer.body)
            return HttpResponse(body, status=answer.status, headers=dict(answer.headers))
        # StreamingHttpResponse registers the stream's close(), so the WSGI server's close()
        # of the response reaches it.
        headers = dict([*answer.headers, NOT_COMPRESSED])
        return StreamingHttpResponse(answer.body, headers=headers)

    def shutdown(self, timeout: float | None = None) -> None:
        """End the streams this view serves to WSGI threads cleanly (the protocol's error event
        and end), waiting at most ``timeout`` seconds; new requests get a 503 from then on.
        (Under ASGI, Django has no lifespan: from the server's event loop,
        ``await view.endpoint.shutdown()`` ends the view's streams the same way.)"""
        end_streams(self.endpoint, timeout)


def _outside_async_to_sync() -> contextvars.Context:
    """A copy of this context without asgiref's record of the ``async_to_sync`` it runs in.

    Under WSGI Django calls this async view through ``async_to_sync``, which records the request
    thread's executor in the context, and the run inherits the context.  The run lives on in
    streambridge's loop thread after the view returns and that executor quits; asgiref moves its
    records into whichever thread a ``sync_to_async`` call returns to, so the run's second
    ``sync_to_async`` call (``await request.auser()``, an async ORM query) went to the quit
    executor: "CurrentThreadExecutor already quit or is broken"."""
    context = contextvars.copy_context()
    context.run(setattr, AsyncToSync.executors, "current", None)
    return context


def _with_own_sync_thread(run: RunFunction) -> RunFunction:
    """``run``, with its ``sync_to_async`` calls (the async ORM's) on a thread of its own.

    As Django's ASGI handler gives each request one: under WSGI runs would otherwise queue
    behind one another's queries on asgiref's single process-wide thread, and a run that
    outlives its request (a run store's) would find the request's thread gone.  The thread's
    database connections are closed when the run ends, as Django closes a request's."""

    async def run_with_own_sync_thread(controller: RunController) -> None:
        async with ThreadSensitiveContext() as context:
            try:
                await run(controller)
            finally:
                # Only a run that made the thread (asgiref's record) has connections there:
                # the others cost no thread.
                if context in SyncToAsync.context_to_thread_executor:
                    with anyio.CancelScope(shield=True):
                        await sync_to_async(close_old_connections)()

    return run_with_own_sync_thread


@overload
def stream_view(run: RunFunction, /, **options: Any) -> StreamView: ...


@overload
def stream_view(run: None = None, /, **options: Any) -> Callable[[RunFunction], StreamView]: ...


def stream_view(
    run: RunFunction | None = None, /, **options: Any
) -> StreamView | Callable[[RunFunction], StreamView]:
    """A Django view streaming ``run``; ``options`` as for ``streambridge.asgi.StreamApp``.

    ``stream_view(run, heartbeat=10)``, or as a decorator: ``@stream_view`` or
    ``@stream_view(heartbeat=10)`` on ``async def run(controller)``.
    """
    if run is None:
        StreamOptions.from_kwargs(**options)  # a mistake raises here, at the decorator

        def decorate(run: RunFunction) -> StreamView:
            return StreamView(run, **options)

        return decorate
    return StreamView(run, **options)


def stream_urls(route: str, view: Callable[..., Any]) -> list[URLPattern]:
    """The URL patterns of a stream view: ``route`` itself and, below it, the routes of its
    stored runs (``route/<path:run_path>``).  ``view`` is the view as routed (wrapped in
    ``csrf_exempt``, say)."""
    return [path(route, view), path(f"{route.rstrip('/')}/<path:{RUN_PATH_PARAM}>", view)]


def _reply_response(reply: Reply, *, head: bool) -> HttpResponse:
    headers = dict(reply.headers())
    return HttpResponse(b"" if head else reply.body(), status=reply.status, headers=headers)


async def _async_body(endpoint: StreamEndpoint, source: EncodedStream) -> AsyncIterator[bytes]:
    # Django's ASGI handler cancels the task iterating this when the client disconnects; the
    # run is then cancelled (after its grace) and its finally blocks run before Django goes on.
    async with pull_stream(endpoint, source) as body:
        async for data in body:
            yield data


_READ_SIZE = 64 * 1024


async def _read_body(request: ASGIRequest) -> AsyncIterator[bytes]:
    """The body Django's ASGI handler has read already (into memory, or a file when large)."""
    while chunk := request.read(_READ_SIZE):
        yield chunk


async def _no_body() -> AsyncIterator[bytes]:
    return
    yield
