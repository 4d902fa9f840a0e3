"""``Delivery``: what a stream sends next and how it ends, as a state machine with no I/O.

Every host delivers a stream the same way: send the response's opening, then whatever the run has
ready, one send at a time; a keepalive when the stream has been idle for a heartbeat; stop at
once when the client goes or a send fails or times out; on shutdown, the protocol's error event
and end.  This module decides all of that and does none of it, as h11 is to HTTP: a driver
(:mod:`.driver`) feeds it events and performs the action it asks for next.

Events: :meth:`~Delivery.ready` (the source has something to take), :meth:`~Delivery.idle`
(nothing was sent for a heartbeat), :meth:`~Delivery.sent` (the send under way finished),
:meth:`~Delivery.send_failed` (it raised or timed out), :meth:`~Delivery.client_gone` and
:meth:`~Delivery.shutdown`.  Actions: see :class:`Action`.  :meth:`~Delivery.start_send` is a
batch made ready where it can be sent at once, outside the driver's loop (the run's own task):
it starts that send exactly when the loop's next action would be it.
"""

from __future__ import annotations

import enum

__all__ = ["Action", "Delivery", "Ending"]


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


class Action(enum.Enum):
    """What the driver does next.  Each send action is one send, ended by ``sent()``."""

    WAIT = "wait"
    """Nothing to do until the next event."""
    OPEN = "open"
    """Send the response's opening (an HTTP host's response start)."""
    SEND = "send"
    """Take what the source has ready and send it (nothing, if a take got it already)."""
    KEEPALIVE = "keepalive"
    """Send the protocol's keepalive."""
    CLOSE = "close"
    """Stop the source and send the protocol's error event and end."""
    FINISH = "finish"
    """Delivery is over (:attr:`Delivery.ending` says why): stop the source."""


# The members as module globals: on Python 3.11 ``Action.SEND`` is a call (``EnumType`` has a
# ``__getattr__``, so every lookup on the class goes through ``type.__getattribute__`` as a
# Python-level slot), about 70 ns where a global costs 3; a token reads two.
FINISH, WAIT, OPEN, SEND = Action.FINISH, Action.WAIT, Action.OPEN, Action.SEND
KEEPALIVE, CLOSE = Action.KEEPALIVE, Action.CLOSE


class Delivery:
    """One stream's delivery state.  A fresh one has something to take (the first take is what
    starts a run), and an opening to send first when ``opening`` is true."""

    __slots__ = ("_idle", "_opening", "_ready", "_shutdown", "ending", "sending")

    def __init__(self, *, opening: bool = False) -> None:
        self.ending: Ending | None = None
        """Set once, by the first event that ends the delivery."""
        self.sending: Action | None = None
        """The send under way, if any."""
        self._opening = opening
        self._ready = True
        self._idle = False
        self._shutdown = False

    # -- events ----------------------------------------------------------------------------------

    def ready(self) -> None:
        self._ready = True

    def start_send(self) -> bool:
        """A batch is ready, and a send of it could start at once outside the delivery's own
        loop: ``True`` if that is what the delivery would do now (the send is under way, and
        :meth:`sent` or another event ends it); ``False`` if it has something else to do or
        wait for first, in its loop (the batch is remembered as ready)."""
        self._ready = True
        if self.ending is not None or self.sending is not None or self._opening or self._shutdown:
            return False
        self._ready = self._idle = False
        self.sending = SEND
        return True

    def idle(self) -> None:
        if self.sending is None:  # a send under way is not idleness
            self._idle = True

    def sent(self, *, end: bool = False) -> None:
        """The send under way finished; ``end``: it carried the protocol's end."""
        action = self.sending
        if action is None:
            if self.ending is None:
                raise RuntimeError("sent() without a send under way")
            return  # the send was over when the delivery ended: it no longer matters
        self.sending = None
        if action is CLOSE:
            self._end(Ending.SHUTDOWN)
        elif end:
            self._end(Ending.COMPLETE)

    def send_failed(self) -> None:
        self.sending = None
        self._end(Ending.SEND_FAILED)

    def client_gone(self) -> None:
        self.sending = None
        self._end(Ending.CLIENT_GONE)

    def shutdown(self) -> None:
        self._shutdown = True

    # -- the next action -------------------------------------------------------------------------

    def next(self) -> Action:
        """The action to perform now.  A send action stays under way until an event ends it;
        meanwhile the answer is ``WAIT`` (one send at a time)."""
        if self.ending is not None:
            return FINISH
        if self.sending is not None:
            return WAIT
        if self._opening:
            self._opening = False
            return self._start(OPEN)
        if self._shutdown:
            return self._start(CLOSE)
        if self._ready:
            self._ready = self._idle = False
            return self._start(SEND)
        if self._idle:
            self._idle = False
            return self._start(KEEPALIVE)
        return WAIT

    def _start(self, action: Action) -> Action:
        self.sending = action
        return action

    def _end(self, ending: Ending) -> None:
        if self.ending is None:
            self.ending = ending
