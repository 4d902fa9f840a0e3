"""What every bridge shares: reading an upstream stream the way a run must, and reading fields of
SDK objects and plain dicts alike.

The rules a bridge keeps, whatever its upstream:

- the upstream is read in order, one event at a time, and nothing is buffered beyond the run's
  own buffer (``controller.drain()`` between events is the backpressure);
- a cancelled run, or a client that went away, closes the upstream stream (so the model stops
  generating) and the bridge returns;
- an upstream error ends the run through the run engine's own error path: the client sees the
  generic message and the upstream's text stays in the server log.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, Callable, Iterable, Iterator
from typing import Any, Protocol, cast

import anyio
import anyio.to_thread

from ..run import RunController

__all__ = ["Fields", "UpstreamError", "close_upstream", "field", "fields", "pump", "require"]


class UpstreamError(Exception):
    """The upstream model or agent reported an error inside its stream (an ``error`` event, a
    failed response).

    Not a :class:`~streambridge.RunError`: its text is the upstream's, so the run engine logs it
    and the client gets the generic message.
    """


def require(module: str, extra: str) -> None:
    """Import ``module`` or say which extra installs it."""
    try:
        __import__(module)
    except ImportError as exc:
        raise ImportError(
            f"this bridge needs the {module!r} package: pip install 'streambridge[{extra}]'"
        ) from exc


def field(obj: Any, name: str) -> Any:
    """``obj[name]`` for a dict, ``obj.name`` for anything else; ``None`` when absent.

    SDK models (pydantic, with extra fields allowed) keep the fields a compatible server adds,
    such as ``reasoning_content``, as attributes: ``getattr`` finds them as well.  (``getattr``
    of a name a model lacks goes through pydantic's ``__getattr__`` and an exception: a bridge
    that asks for absent names on every event reads them with :func:`fields`.)
    """
    if type(obj) is dict:
        return obj.get(name)
    return getattr(obj, name, None)


class Fields(Protocol):
    def get(self, name: str, /) -> Any: ...


class _Attributes:
    """An object's attributes, read as :func:`field` reads them."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def get(self, name: str, /) -> Any:
        return getattr(self.obj, name, None)


def fields(obj: Any) -> Fields:
    """``obj``'s data fields, to read many of them with ``.get(name)`` (``None`` when absent):
    a dict as it is, a model's fields and extras as one dict, anything else by attribute.  For
    the hot path of a bridge that reads most of an event's fields (a model's properties are not
    among them: use :func:`field` for those).  The chat bridge reads each delta's
    ``reasoning_content``, absent from most: with ``getattr`` it ran at 0.38x a
    ``model_dump()`` per event (``benchmarks/bridges.py``), with this at 1.4x."""
    cls = type(obj)
    if cls is dict:
        return cast(Fields, obj)
    if _is_model(cls):
        extra = obj.__pydantic_extra__
        return cast(Fields, {**obj.__dict__, **extra} if extra else obj.__dict__)
    return _Attributes(obj)


_MODELS: dict[type, bool] = {}


def _is_model(cls: type) -> bool:
    """Whether ``cls`` is a pydantic model (the SDKs' event types), known without importing
    pydantic (and remembered: a stream's events are of a few types)."""
    known = _MODELS.get(cls)
    if known is None:
        known = _MODELS[cls] = any("__pydantic_fields__" in vars(base) for base in cls.__mro__)
    return known


async def pump(stream: Any, controller: RunController, on_event: Callable[[Any], None]) -> bool:
    """Feed the upstream's events to ``on_event``, in order, from an async or a sync iterable
    (or a context manager that opens one, such as the SDKs' ``.stream(...)`` helpers).

    Returns ``True`` when the upstream ended, ``False`` when the run was cancelled first.  The
    upstream is closed either way, and when ``on_event`` raises.  A sync SDK stream blocks on its
    socket, so each of its events is read in a worker thread; a list or tuple (recorded events)
    is read in place.  Backpressure: after each event the bridge waits while the client is
    behind.
    """
    if not isinstance(stream, AsyncIterable | Iterable):
        if hasattr(stream, "__aenter__"):
            async with stream as opened:
                return await pump(opened, controller, on_event)
        if hasattr(stream, "__enter__"):
            with stream as opened:
                return await pump(opened, controller, on_event)
        raise TypeError(
            "expected a stream of events (an async or sync iterable, or the SDK's stream "
            f"manager), got {type(stream).__name__}"
        )
    drain = controller.drain
    try:
        if isinstance(stream, AsyncIterable):
            async for event in stream:
                if controller.is_cancelled:
                    return False
                on_event(event)
                await drain()
        elif isinstance(stream, list | tuple):
            for event in stream:
                if controller.is_cancelled:
                    return False
                on_event(event)
                await drain()
        else:
            iterator = iter(stream)
            while True:
                event = await anyio.to_thread.run_sync(_next_or_end, iterator)
                if event is _END:
                    break
                if controller.is_cancelled:
                    return False
                on_event(event)
                await drain()
        return not controller.is_cancelled
    finally:
        await close_upstream(stream)


_END = object()


def _next_or_end(iterator: Iterator[Any]) -> Any:
    return next(iterator, _END)


async def close_upstream(stream: Any) -> None:
    """Close the upstream stream, so the model stops generating (shielded: it runs when the run
    is being cancelled)."""
    with anyio.CancelScope(shield=True):
        close = getattr(stream, "aclose", None)
        if close is None:
            close = getattr(stream, "close", None)
        if close is None:
            return
        if inspect.iscoroutinefunction(close):
            await close()
        elif isinstance(stream, AsyncIterable):
            result = close()
            if inspect.isawaitable(result):
                await result
        else:
            # A sync SDK stream closes its HTTP response, which may block briefly.
            await anyio.to_thread.run_sync(close)
