"""``pump`` and ``push``: move an encoded stream to a client, and stop its run the moment nobody
listens.

Each item of the stream is everything the run had ready, so each is written in one send: a burst
goes out in one write, a lone token at once, and nothing waits to be coalesced.  Writing races
three ways to stop, whichever comes first:

- the client goes away (the host's disconnect signal, e.g. ASGI ``http.disconnect``);
- a send fails (``OSError``: the socket is gone) or does not finish within ``send_timeout``
  (the client stopped reading: waiting longer would hold the run and its memory);
- the host shuts down: the protocol's error event and end are sent, so the client sees a clean
  end, not a cut.

However it ends, even by a cancellation from outside (a server cancelling the request task), the
stream is closed under a shield: the run is cancelled after its grace and its ``finally`` blocks
run before ``pump`` or ``push`` returns or re-raises.

Two ways to do the same, for two kinds of host:

- ``pump`` delivers in the caller's task, which waits for the run between sends; a bare task
  waits for the client meanwhile.  For hosts whose body is pulled (WSGI, ``pull``) or whose
  client messages are read elsewhere (the WebSocket session).
- ``push`` leaves the caller's task waiting for the client, as a bare ASGI app does, and writes
  from a task started when the run has something to send (or a heartbeat is due).  For ASGI
  HTTP, where a server holds thousands of mostly idle streams: an idle one holds no delivery task,
  no waiting frames and no watcher, only a timer for its heartbeat (under trio, a sleeping system
  task).  While chunks keep coming, the write task stays for the next one (up to ``LINGER``
  seconds), so a busy stream costs a wake-up per chunk, as with ``pump``, not a new task.

Both keep an open stream cheap: the race costs a small :class:`~.interrupt.Interruptible` and a
callback on the shutdown signal, and no task group or event while it streams; sends are timed by
the event loop's one :mod:`~.watchdog`, so a stuck send is given up within 1.25 times
``send_timeout``.
"""

from __future__ import annotations

import contextvars
import enum
import math
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

import anyio

from .._spawn import spawn_detached
from ..encoding import EncodedStream
from .errors import SHUTDOWN_MESSAGE
from .interrupt import Interruptible
from .shutdown import StopSignal
from .watchdog import unwatch, watch

__all__ = ["LINGER", "Deliver", "Ending", "pump", "push"]

Message = TypeVar("Message")

LINGER = 0.25
"""Seconds a ``push`` write task of a streaming run waits for its next chunk before it leaves the
stream to a callback (see :meth:`_Writer._send_ready`)."""

_NEVER = -math.inf

Deliver = Callable[[bytes], Awaitable[None]]
"""Writes one item to the client (one send); raises ``OSError`` when the client is gone."""


class Ending(enum.Enum):
    """Why a delivered stream stopped."""

    COMPLETE = "complete"
    """The run ended and the protocol's end was delivered."""
    CLIENT_GONE = "client-gone"
    """The client went away (or asked to stop): nothing more is sent."""
    SEND_FAILED = "send-failed"
    """A send raised ``OSError`` or timed out: the connection is no longer usable."""
    SHUTDOWN = "shutdown"
    """The host is shutting down: the protocol's error and end were delivered."""


async def pump(
    body: EncodedStream,
    deliver: Deliver,
    *,
    client_gone: Awaitable[object],
    shutdown: StopSignal,
    send_timeout: float | None,
    opening: Callable[[], Awaitable[object]] | None = None,
) -> Ending:
    """Deliver ``body`` until it ends or one of the ways to stop comes first (see the module).

    ``client_gone`` completes when the client has gone (a coroutine: the pump awaits it in a
    task of its own).  ``opening`` is sent first, with the same timeout and the same ways to
    stop (an HTTP host's response start).
    """
    race = _Race(send_timeout, opening)
    del opening  # sent once: the race lets go of it then, and an open stream holds no copy
    stop_watching = spawn_detached(_watch_client(client_gone, race))
    shutdown.on_set(race.shut_down)
    if send_timeout is not None:
        watch(race)
    try:
        race.ending = await _deliver_all(body, deliver, race)
        return await _after(race, body, deliver)
    finally:
        unwatch(race)
        shutdown.forget(race.shut_down)
        stop_watching()
        with anyio.CancelScope(shield=True):
            await body.aclose()


class _Race:
    """The first way to stop wins: it sets ``ending`` and interrupts the delivery."""

    __slots__ = ("block", "ending", "opening", "send_started", "send_timeout")

    def __init__(
        self, send_timeout: float | None, opening: Callable[[], Awaitable[object]] | None
    ) -> None:
        self.ending: Ending | None = None
        self.opening = opening
        self.block = Interruptible()
        self.send_started: float | None = None
        self.send_timeout = math.inf if send_timeout is None else send_timeout

    def stop(self, ending: Ending) -> None:
        if self.ending is None:
            self.ending = ending
            self.block.interrupt()

    async def open(self) -> None:
        """Send the opening if it has not been: once, even if this send is interrupted (the
        client may have it already, and a second response start is an error)."""
        opening = self.opening
        if opening is None or opening is _opening_begun:
            return
        self.opening = _opening_begun
        self.send_started = anyio.current_time()
        await opening()
        self.opening = self.send_started = None

    def shut_down(self) -> None:
        self.stop(Ending.SHUTDOWN)

    def time_out(self) -> None:
        self.stop(Ending.SEND_FAILED)


async def _watch_client(client_gone: Awaitable[object], race: _Race) -> None:
    try:  # noqa: SIM105 (a try costs nothing while it waits; suppress() would be an object)
        await client_gone
    except Exception:
        # Not hearing from the client means nobody listens any more.  Nothing may escape
        # either: a trio system task that raises ends the whole event loop.
        pass
    race.stop(Ending.CLIENT_GONE)


async def _deliver_all(body: EncodedStream, deliver: Deliver, race: _Race) -> Ending:
    current_time = anyio.current_time
    async with race.block:
        try:
            await race.open()
            async for data in body:
                race.send_started = current_time()  # all the watchdog needs of a send
                await deliver(data)
                race.send_started = None
        except OSError:
            return Ending.SEND_FAILED
        return Ending.COMPLETE
    assert race.ending is not None  # only the race interrupts the block
    return race.ending


async def _after(race: _Race, body: EncodedStream, deliver: Deliver) -> Ending:
    """On shutdown, the protocol's error event and end go out (unless the stream had ended),
    after the opening if the shutdown came before it."""
    ending = race.ending
    assert ending is not None
    if ending is Ending.SHUTDOWN:
        if race.opening is _opening_begun:
            return Ending.SEND_FAILED  # the start was cut midway: nothing can follow it cleanly
        seconds = None if race.send_timeout == math.inf else race.send_timeout
        tail = await body.close_with_error(SHUTDOWN_MESSAGE)
        if race.opening is not None and not await _send(race.opening, seconds):
            return Ending.SEND_FAILED
        if tail and not await _send(partial(deliver, tail), seconds):
            return Ending.SEND_FAILED
    return ending


async def _opening_begun() -> None:
    """Stands in a race's ``opening`` while (or after) its send was begun and not finished."""
    raise AssertionError("an opening is sent once")


async def _send(send: Callable[[], Awaitable[object]], seconds: float | None) -> bool:
    """One send; ``False`` when the client is gone or did not take it within ``seconds``."""
    try:
        with anyio.fail_after(seconds):
            await send()
    except OSError:  # TimeoutError is an OSError too
        return False
    return True


async def push(
    body: EncodedStream,
    deliver: Deliver,
    *,
    receive: Callable[[], Awaitable[Message]],
    disconnected: Callable[[Message], bool],
    shutdown: StopSignal,
    send_timeout: float | None,
    opening: Callable[[], Awaitable[object]] | None = None,
) -> Ending:
    """Deliver ``body`` from short tasks while this one waits for the client (see the module).

    ``receive()`` gives the client's next message and ``disconnected(message)`` says whether it
    means the client has gone; the other messages are leftovers of the request.  A ``receive``
    that raises an ``Exception`` counts as the client gone.  ``opening`` is sent first, as in
    :func:`pump`.  An exception a send raises (other than ``OSError``) is re-raised here once the
    stream is closed.
    """
    writer = _Writer(body, deliver, send_timeout, opening)
    del opening
    shutdown.on_set(writer.shut_down)
    if send_timeout is not None:
        watch(writer)
    try:
        writer.write_soon(True)  # the opening, and whatever the run has ready first
        # The client is heard in this frame, not a helper's: an idle stream waits here.
        async with writer.block:
            try:
                while not disconnected(await receive()):
                    pass
            except Exception:
                pass  # not hearing from the client means nobody listens any more
        writer.stop(Ending.CLIENT_GONE)  # unless the stream had ended another way first
        await writer.until_idle()  # an interrupted send returns at once
        if writer.failure is not None:
            raise writer.failure
        return await _after(writer, body, deliver)
    finally:
        writer.stop(Ending.CLIENT_GONE)  # cancelled from outside: no more writes start
        unwatch(writer)
        shutdown.forget(writer.shut_down)
        with anyio.CancelScope(shield=True):
            await writer.until_idle()
            await body.aclose()  # forgets the run's callback and cancels its heartbeat timer


class _Writer(_Race):
    """``push``'s state: the race, and the short task that writes what the run has ready.

    ``block`` is the waiting task's (the client's side); each write has a cancel scope of its
    own, ``sending``, which the race cancels as well.
    """

    __slots__ = ("body", "context", "deliver", "failure", "idle", "sending", "sent_at", "writers")

    def __init__(
        self,
        body: EncodedStream,
        deliver: Deliver,
        send_timeout: float | None,
        opening: Callable[[], Awaitable[object]] | None,
    ) -> None:
        super().__init__(send_timeout, opening)
        self.body = body
        self.deliver = deliver
        # Every write runs in the request's context, as if the request's task sent it.
        self.context = contextvars.copy_context()
        self.sending: anyio.CancelScope | None = None
        self.writers = 0  # write tasks started and not ended (one at a time, by construction)
        self.idle: anyio.Event | None = None  # made for whoever waits for the writes to end
        self.failure: BaseException | None = None
        self.sent_at = _NEVER  # when the last write ran out of things to send

    def stop(self, ending: Ending) -> None:
        if self.ending is None:
            super().stop(ending)
            if self.sending is not None:
                self.sending.cancel()

    def write_soon(self, woken: bool) -> None:
        """Start a write task: the run has something ready (``woken``) or a heartbeat is due.

        The run's callback: it runs in the run's call that made a chunk ready, or in a timer.
        """
        if self.ending is None:
            spawn_detached(self._write(beat=not woken), self.context)
            self.writers += 1  # once started: until_idle must not wait for a task that never ran

    async def until_idle(self) -> None:
        while self.writers:
            idle = self.idle = anyio.Event()
            await idle.wait()

    async def _write(self, beat: bool) -> None:
        try:
            if self.ending is None:
                # An anyio scope, unlike the waiting task's Interruptible, leaves the shielded
                # sections of a send alone; it lives only as long as the write.
                with anyio.CancelScope() as self.sending:
                    await self._send_ready(beat)
        except OSError:
            self.stop(Ending.SEND_FAILED)
        except Exception as exc:  # a task of its own: nothing may escape (see spawn_detached)
            self.failure = exc
            self.stop(Ending.SEND_FAILED)
        finally:
            self.sending = None
            self.writers -= 1
            if self.idle is not None:
                self.idle.set()

    async def _send_ready(self, beat: bool) -> None:
        """Send what is ready (after a keepalive, if ``beat``), then ask the run to call back
        when there is more.

        A streaming run's next chunk is usually milliseconds away: when two writes of the stream
        ran out of chunks within ``LINGER`` seconds of each other, the task waits that long (or
        the heartbeat, if shorter) for more before it leaves, so a token costs a wake-up, not a
        new task.  A stream that sent once and went quiet waits with no task at all.
        """
        body, deliver, current_time = self.body, self.deliver, anyio.current_time
        heartbeat = body.heartbeat
        linger = LINGER if heartbeat is None else min(LINGER, heartbeat)
        await self.open()
        data = body.protocol.keepalive if beat else body.poll()
        waited = 0.0  # of the heartbeat's interval, in _linger
        while data is not None:
            self.send_started = current_time()  # all the watchdog needs of a send
            await deliver(data)
            self.send_started = None
            if body.ended:
                self.sending = None  # the end is out: nothing left to interrupt
                self.stop(Ending.COMPLETE)
                return
            data = body.poll()
            if data is None:
                data, waited = await self._linger(linger, heartbeat)
        body.on_ready(self.write_soon, None if heartbeat is None else heartbeat - waited)

    async def _linger(self, linger: float, heartbeat: float | None) -> tuple[bytes | None, float]:
        """Everything ready has been sent: what to send next if the stream is streaming and
        more comes within ``linger`` seconds (or the heartbeat is due), and how long it waited.
        """
        previous, self.sent_at = self.sent_at, anyio.current_time()
        if self.sent_at - previous >= LINGER:  # not streaming (yet): leave at once
            return None, 0.0
        body = self.body
        if await body.wait_ready(linger):
            return body.poll(), linger
        if linger == heartbeat:  # heartbeats this frequent: this task sends them
            return body.protocol.keepalive, linger
        return None, linger
