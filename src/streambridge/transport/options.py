"""``StreamOptions``: the one set of options every host takes, checked when the host is built.

A mistake here (an unknown protocol, a negative timeout) is a programming error, so it raises at
startup with a message that names the option, never at the first request.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any, Literal

from ..protocols import get_protocol, protocol_names
from ..run import (
    DEFAULT_GRACE,
    DEFAULT_HIGH_WATER,
    DEFAULT_MAX_BUFFERED,
    DEFAULT_MAX_BUFFERED_BYTES,
    FinishHook,
    check_finish_hook,
)
from ..runs import RunRecord, RunStore

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_HEARTBEAT",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_PROTOCOL",
    "DEFAULT_SEND_TIMEOUT",
    "Authorize",
    "StreamOptions",
]

# Every host's defaults, here once (the run engine's are in ..run): StreamOptions and the
# signatures of the host classes read them.
DEFAULT_PROTOCOL = "data-stream"
"""The wire protocol of a request that asks for none (``protocol=``)."""
DEFAULT_HEARTBEAT = 15.0
"""Idle seconds before a keepalive (``heartbeat=``)."""
DEFAULT_MAX_BODY_BYTES = 1_000_000
"""The largest request body read (``max_body_bytes=``); a larger one gets a 413."""
DEFAULT_SEND_TIMEOUT = 30.0
"""Seconds one write to the client may take (``send_timeout=``) before the stream ends."""
DEFAULT_BODY_TIMEOUT = 10.0
"""Seconds a host reading on a thread waits for the request body (``body_timeout=``): a 408."""

Authorize = Callable[[Any, RunRecord, str], "bool | Awaitable[bool]"]
"""``authorize(request, record, action)``: may this request ``"read"`` or ``"stop"`` the run?"""


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """How a host serves a run.

    ``protocol``
        The wire protocol a request gets when it does not ask for one.
    ``protocols``
        The protocols a client may pick with ``?protocol=NAME`` (or ``"protocol"`` in a
        WebSocket ``send`` frame); ``None`` offers every registered protocol.
    ``heartbeat``
        Seconds of idleness after which the protocol's keepalive is sent; ``None`` for never.
    ``max_body_bytes``
        The largest request body (or WebSocket frame) accepted; larger ones get a 413.
    ``send_timeout``
        Seconds one write may wait for a client that stopped reading before the stream is
        given up and its run cancelled; ``None`` waits forever.
    ``body_timeout``
        Seconds a WSGI host (``StreamWSGIApp``, the Flask view, the Django view under WSGI)
        waits for the whole request body, from its first read: a body still incomplete then is
        answered 408 and its thread is free again (a client that trickles its body would hold
        one of the server's few threads for as long as it liked).  Enforced where the server
        exposes the client's socket (gunicorn, werkzeug); elsewhere, only between reads, and
        the server's own timeout bounds each read.  ``None`` waits as long as the server does.
        ASGI hosts read a body without holding a thread, and leave its pace to the server.
    ``grace``
        Seconds a run whose client went away may take to stop by itself before it is cancelled.
    ``max_buffered``
        Unread chunks a run may pile up before it fails (bounded memory per stream).
    ``max_buffered_bytes``
        Bytes a stream may hold unsent before its run fails (its buffer and the batch being
        sent; counted as in :func:`~streambridge.create_run`); ``controller.drain()`` waits
        above an eighth of it.
    ``store``
        Where runs are kept so they outlive their connection (e.g. ``MemoryStore()``): any
        request may then attach to a run by id, resume it after the events it has, or stop it
        (see :mod:`streambridge.transport.attach` for the routes).
    ``on_disconnect``
        What a client that goes away does to the run it started: ``"cancel"`` it (the default
        without a store) or let it ``"continue"`` for readers to come back (the default with one).
    ``authorize``
        ``authorize(request, record, action)``, sync or async: whether ``request`` may
        ``"read"`` or ``"stop"`` a stored run; by default any request that names the run may.
    ``on_finish``
        ``on_finish(message)``, called once each run has ended with its final message (see
        :func:`~streambridge.create_run`).
    """

    protocol: str = DEFAULT_PROTOCOL
    protocols: Collection[str] | None = None
    heartbeat: float | None = DEFAULT_HEARTBEAT
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    send_timeout: float | None = DEFAULT_SEND_TIMEOUT
    body_timeout: float | None = DEFAULT_BODY_TIMEOUT
    grace: float = DEFAULT_GRACE
    max_buffered: int = DEFAULT_MAX_BUFFERED
    max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES
    store: RunStore | None = None
    on_disconnect: Literal["cancel", "continue"] | None = None
    authorize: Authorize | None = None
    on_finish: FinishHook | None = None

    def __post_init__(self) -> None:
        _known_protocol("protocol", self.protocol)
        if self.protocols is not None:
            if isinstance(self.protocols, str):
                raise TypeError("protocols= takes a collection of names, e.g. ['data-stream']")
            for name in self.protocols:
                _known_protocol("protocols", name)
            if self.protocol not in self.protocols:
                raise ValueError(
                    f"protocol={self.protocol!r} must be one of protocols={sorted(self.protocols)}"
                )
            # A frozen copy: the host's offer cannot change behind its back.
            object.__setattr__(self, "protocols", frozenset(self.protocols))
        _seconds("heartbeat", self.heartbeat, allow_none=True)
        _seconds("send_timeout", self.send_timeout, allow_none=True)
        _seconds("body_timeout", self.body_timeout, allow_none=True)
        _seconds("grace", self.grace, allow_none=False, allow_zero=True)
        _count("max_body_bytes", self.max_body_bytes, minimum=1)
        _count("max_buffered", self.max_buffered, minimum=2)
        _count("max_buffered_bytes", self.max_buffered_bytes, minimum=1024)
        self._check_runs()

    def _check_runs(self) -> None:
        if self.store is not None and not all(
            callable(getattr(self.store, name, None)) for name in ("create", "read", "get")
        ):
            raise TypeError(f"store= takes a run store such as MemoryStore(), got {self.store!r}")
        if self.on_disconnect is None:
            object.__setattr__(
                self, "on_disconnect", "cancel" if self.store is None else "continue"
            )
        elif self.on_disconnect not in ("cancel", "continue"):
            raise ValueError(
                f"on_disconnect= is 'cancel' or 'continue', got {self.on_disconnect!r}"
            )
        elif self.on_disconnect == "continue" and self.store is None:
            raise ValueError(
                "on_disconnect='continue' needs store=: a run that outlives its connection is "
                "kept there for readers to come back to (e.g. store=streambridge.MemoryStore())"
            )
        if self.authorize is not None and not callable(self.authorize):
            raise TypeError(f"authorize= takes a function, got {self.authorize!r}")
        check_finish_hook(self.on_finish)

    @classmethod
    def from_kwargs(cls, **options: Any) -> StreamOptions:
        """Build from a host's keyword arguments, naming the valid ones on a typo."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(options) - set(names))
        if unknown:
            raise TypeError(f"unknown option(s) {unknown}; the options are: {', '.join(names)}")
        return cls(**options)

    def offers(self, name: str) -> bool:
        """Whether a client may pick protocol ``name`` here."""
        return self.protocols is None or name in self.protocols

    def offered(self) -> list[str]:
        """The names a client may pick, for error messages."""
        return [name for name in protocol_names() if self.offers(name)]

    @property
    def high_water(self) -> int:
        """Where ``controller.drain()`` starts waiting: the run engine's default, or half the cap
        when the cap is lower."""
        return min(DEFAULT_HIGH_WATER, self.max_buffered // 2)


def _known_protocol(option: str, name: object) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{option}= takes protocol names (str), got {name!r}")
    try:
        get_protocol(name)
    except ValueError as exc:
        raise ValueError(f"{option}=: {exc}") from None


def _seconds(option: str, value: object, *, allow_none: bool, allow_zero: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "a number of seconds or None" if allow_none else "a number of seconds"
        raise TypeError(f"{option}= must be {kind}, got {value!r}")
    if math.isnan(value) or value < 0 or (value == 0 and not allow_zero) or math.isinf(value):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{option}= must be finite and {bound}, got {value!r}")


def _count(option: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{option}= must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{option}= must be at least {minimum}, got {value}")
