"""``Driver``: one stream delivered in the calling task, as :class:`~.delivery.Delivery` decides.

A host gives it how bytes are sent, ``send(data)`` (``OSError``: the client is gone), and how it
learns that the client has gone: it calls :meth:`Driver.client_gone`, or gives ``client``, a
function that returns once the client has gone.  However the delivery ends, even by a
cancellation from outside, the run is closed under a shield before :meth:`Driver.run` returns or
re-raises.  How the driver waits, sends from the run's own task (``inline``) and listens for the
client: ``docs/architecture.md``.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Coroutine, Generator
from types import CoroutineType
from typing import Any

import anyio

from .._spawn import in_trio, spawn_detached
from .._wakeup import Wakeup
from ..encoding import EncodedStream
from ..run import RunStream
from . import clock
from .delivery import FINISH, KEEPALIVE, OPEN, SEND, WAIT, Action, Delivery, Ending
from .errors import SHUTDOWN_MESSAGE
from .interrupt import Interruptible
from .shutdown import StopSignal

__all__ = ["Driver", "Send", "within"]

Send = Callable[[bytes], Awaitable[object]]
"""Writes one item to the client (one send); raises ``OSError`` when the client is gone."""
Steps = Generator[Any, Any, Any] | Coroutine[Any, Any, Any]  # a send's steps, begun in a run's task


class Driver:
    """Delivers ``source`` with ``send`` (see the module); ``opening`` is sent first, with the
    same timeout (an HTTP host's response start); ``client()`` returns once the client has gone
    (never raises: not hearing from the client means it has gone), and can be cancelled and
    called again.  A send error other than ``OSError`` is raised from :meth:`run`, once the run
    is closed."""

    __slots__ = (
        "_block",
        "_client",
        "_handover",
        "_listening",
        "_opening",
        "_quiet",
        "_run",
        "_send",
        "_source",
        "_wakes",
        "_wakeup",
        "heartbeat",
        "last_sent",
        "machine",
        "send_started",
        "send_timeout",
    )

    def __init__(
        self,
        source: EncodedStream,
        send: Send,
        *,
        send_timeout: float | None,
        opening: Callable[[], Awaitable[object]] | None = None,
        client: Callable[[], Awaitable[object]] | None = None,
        inline: bool = False,
    ) -> None:
        if source.batches is None:
            raise TypeError(
                "a Driver delivers the stream of create_run() (or of a stored run), encoded; "
                "not another async iterable"
            )
        self.machine = Delivery(opening=opening is not None)
        # The run's own stream, when sends may start in the run's task (asyncio only, only a
        # run's own stream, and only a send that usually completes without waiting and may be
        # finished in another task: an ASGI server's).  Those sends take from it and wait on it
        # directly, not through the encoded stream's take() and when_ready(): two calls less a
        # token.
        batches = source.batches
        self._run = batches if isinstance(batches, RunStream) and inline and not in_trio() else None
        # A send the run's task began and could not finish (its rest and what it waits for),
        # or what it raised: the driver's task takes it over.
        self._handover: tuple[Steps, Any] | BaseException | None = None
        self._source = source
        self._send = send
        self._opening = opening
        self._wakeup = Wakeup()
        self._block = Interruptible()
        self._client = client
        # Who listens for the client: a task (its cancel function) while the stream flows, or,
        # while it is quiet, the driver's own task (the block it waits in, or nobody mid-send).
        self._listening: Callable[[], object] | Interruptible | None = None
        self._quiet = client is not None
        self._wakes = 0  # batches made ready in this quiet spell
        self.send_timeout = math.inf if send_timeout is None else send_timeout
        self.heartbeat = math.inf if source.heartbeat is None else source.heartbeat
        self.send_started: float | None = None
        self.last_sent = clock.monotonic()

    # -- events, from the run, the clock, the host -----------------------------------------------

    def ready(self) -> None:
        self.machine.ready()
        if self._quiet:
            # Each wake-up of a quiet stream interrupts its listening; from the second batch
            # of a spell, data flows: a task listens instead, so a token costs no interruption.
            self._wakes += 1
            self._quiet = self._wakes < 2
        self._wake()

    def idle(self) -> None:
        self.machine.idle()
        self._wake()

    def quiet(self) -> None:
        """Nothing was sent for a tick of the clock: listen for the client in the driver's task."""
        if self._client is None:
            return
        self._wakes = 0
        if self._quiet:
            return
        self._quiet = True
        listening = self._listening
        if listening is not None and not isinstance(listening, Interruptible):
            self._listening = None
            listening()  # cancel the listening task
        self._wakeup.wake()

    def shut_down(self) -> None:
        self.machine.shutdown()
        self._wake()

    def _wake(self) -> None:
        listening = self._listening
        if isinstance(listening, Interruptible):
            listening.interrupt()
        else:
            self._wakeup.wake()

    def client_gone(self) -> None:
        """The client has gone: stop now, whatever the driver is waiting for."""
        self.machine.client_gone()
        self._block.interrupt()

    def time_out(self) -> None:
        self.machine.send_failed()
        self._block.interrupt()

    # -- delivering ------------------------------------------------------------------------------

    async def run(self, shutdown: StopSignal) -> Ending:
        """Deliver until the stream ends or one of the ways to stop comes first."""
        # One frame for the whole delivery, not a helper's too: every open stream holds it.
        machine, source, send = self.machine, self._source, self._send
        deliver = None if self._run is None else self  # (called, it sends in the run's task)
        monotonic = clock.monotonic
        shutdown.on_set(self.shut_down)
        clock.watch(self)
        try:
            async with self._block:
                while (action := machine.next()) is not FINISH:
                    if action is SEND:  # the hot path: one per token, written out
                        data = source.take()
                        if data:
                            self.send_started = monotonic()
                            try:
                                await send(data)
                            except OSError:
                                machine.send_failed()
                                continue
                            finally:
                                self.send_started = None
                            self.last_sent = monotonic()
                        # A protocol's end can be empty (AG-UI's after RUN_ERROR): it still ends.
                        if source.ended:
                            machine.sent(end=True)
                        else:
                            machine.sent()
                            source.when_ready(self.ready, deliver)
                    elif action is WAIT:
                        if self._handover is not None:
                            await self._take_over()
                        elif self._quiet:
                            # Listen for the client here until the next event (see quiet());
                            # written out, not a helper: a quiet stream waits in this frame.
                            assert self._client is not None
                            block = self._listening = Interruptible()
                            async with block:
                                await self._client()
                                machine.client_gone()
                            self._listening = None
                        else:
                            if self._listening is None:
                                self._listen()
                            await self._wakeup.wait()
                    else:
                        await self._act(action)
        finally:
            handover, self._handover = self._handover, None
            if isinstance(handover, tuple):
                handover[0].close()  # a send begun in the run's task, never finished
            listening, self._listening = self._listening, None
            if listening is not None and not isinstance(listening, Interruptible):
                listening()
            clock.unwatch(self)
            shutdown.forget(self.shut_down)
            # Shielded where it waits, so even a cancelled driver waits for the run to stop.
            await source.aclose()
        ending = machine.ending
        assert ending is not None  # only an ending stops the delivery, or an exception
        return ending

    # -- sending in the run's task ----------------------------------------------------------------

    def __call__(self) -> None:
        """The run's own task made a batch ready and is about to wait: send it from there, when
        the machine would send it now.  Most sends complete without waiting, and a token then
        costs no task switch; a send that waits is finished by the driver's task."""
        machine = self.machine
        if not machine.start_send():
            self._wake()  # something else comes first: the driver's task does it
            return
        source, run = self._source, self._run
        assert run is not None  # only an inline driver is called
        batch = run.take_batch()
        data = None if batch == [] else source.encode_batch(batch)
        if data:
            began = self.send_started = clock.monotonic()
            try:
                called = self._send(data)  # (a host's send may raise when called)
                # A coroutine is stepped as it is: its __await__() would wrap it (an object and
                # a call more a token).
                sending: Steps = called if type(called) is CoroutineType else called.__await__()
                waits_for = sending.send(None)
            except StopIteration:
                pass
            except OSError:
                self.send_started = None
                machine.send_failed()
                self._wake()
                return
            except BaseException as exc:  # raised from Driver.run, as the driver's own sends
                self._hand_over(exc)
                return
            else:
                self._hand_over((sending, waits_for))
                return
            self.send_started = None
            self.last_sent = began  # it did not wait: the same moment, for the clock's ticks
        if source.ended:
            machine.sent(end=True)
            self._wake()
        else:
            machine.sent()
            run.when_ready(self.ready, self)

    def _hand_over(self, handover: tuple[Steps, Any] | BaseException) -> None:
        self._handover = handover
        self._wake()

    async def _take_over(self) -> None:
        """Finish the send the run's task began (or raise what it raised)."""
        handover, self._handover = self._handover, None
        if isinstance(handover, BaseException):
            raise handover
        assert handover is not None
        try:
            await _Rest(*handover)
        except OSError:
            self.machine.send_failed()
            return
        finally:
            self.send_started = None
        self.last_sent = clock.monotonic()
        source = self._source
        if source.ended:
            self.machine.sent(end=True)
        else:
            self.machine.sent()
            assert self._run is not None  # only an inline send is handed over
            self._run.when_ready(self.ready, self)

    async def _act(self, action: Action) -> None:
        """What the machine asks for, other than a batch or a wait."""
        if action is OPEN:
            opening, self._opening = self._opening, None
            assert opening is not None
            await self._timed(opening)
        elif action is KEEPALIVE:
            await self._timed(self._send, self._source.protocol.keepalive)
        else:  # CLOSE
            tail = await self._source.close_with_error(SHUTDOWN_MESSAGE)
            if tail:
                await self._timed(self._send, tail)
            else:
                self.machine.sent()

    # -- listening for the client ----------------------------------------------------------------

    def _listen(self) -> None:
        """Listen for the client in a task of its own (while the stream flows)."""
        if self._client is not None and self._listening is None:
            self._listening = spawn_detached(self._listen_in_task())

    async def _listen_in_task(self) -> None:
        assert self._client is not None
        await self._client()
        self.client_gone()

    async def _timed(self, send: Callable[..., Awaitable[object]], *data: bytes) -> None:
        """One send, timed by the clock; what it meant for the delivery goes to the machine."""
        self.send_started = clock.monotonic()
        try:
            await send(*data)
        except OSError:
            self.machine.send_failed()
            return
        finally:
            self.send_started = None
        self.last_sent = clock.monotonic()
        self.machine.sent()


async def within(seconds: float | None, sending: Awaitable[object]) -> None:
    """Await ``sending`` for at most ``seconds``.  The cancel scope that times it is made only
    if it has to wait, which an ASGI server's last send of a response mostly does not."""
    steps = sending.__await__()
    try:
        waits_for = steps.send(None)
    except StopIteration:
        return
    with anyio.move_on_after(seconds):
        await _Rest(steps, waits_for)


class _Rest:
    """The rest of a send begun in another task: awaiting it waits for what the send was
    waiting for, then goes on with it (an asyncio future may be awaited by any task)."""

    __slots__ = ("_sending", "_waits_for")

    def __init__(self, sending: Steps, waits_for: Any) -> None:
        self._sending = sending
        self._waits_for = waits_for

    def __await__(self) -> Generator[Any, Any, None]:
        sending, waits_for = self._sending, self._waits_for
        while True:
            try:
                value = yield waits_for
            except BaseException as exc:
                try:
                    waits_for = sending.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    waits_for = sending.send(value)
                except StopIteration:
                    return
