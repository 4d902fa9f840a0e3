"""The delivery state machine on its own, without an event loop: every order of events.

Hypothesis plays a host: it interleaves the machine's events (ready, idle, sent, send failed,
client gone, shutdown) with a driver that asks for the next action and starts the send it names,
and with a run's task that starts a send itself (``start_send``), in any order, and checks after
every step what every host relies on.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streambridge.transport.delivery import Action, Delivery, Ending

SENDS = {Action.OPEN, Action.SEND, Action.KEEPALIVE, Action.CLOSE}
EVENTS = [
    "ready",
    "idle",
    "sent",
    "sent-end",
    "send-failed",
    "client-gone",
    "shutdown",
    "next",
    "start-send",  # a batch made ready in the run's task, sent from there if it may be
]


@dataclass
class Host:
    """What the host did, and what it knows, as the machine tells it."""

    opening: bool
    machine: Delivery = field(init=False)
    sends: list[Action] = field(default_factory=list)  # every send started, in order
    finished: bool = False
    shutdown_at: int | None = None  # len(sends) when the shutdown came
    end_sent: bool = False
    first_ending: Ending | None = None

    def __post_init__(self) -> None:
        self.machine = Delivery(opening=self.opening)

    def step(self, event: str) -> None:
        machine = self.machine
        if event == "next":
            self.act()
        elif event == "ready":
            machine.ready()
        elif event == "idle":
            machine.idle()
        elif event in ("sent", "sent-end"):
            if machine.sending is not None:  # a host reports only the send it started
                end = event == "sent-end" and machine.sending is Action.SEND
                self.end_sent |= end
                machine.sent(end=end)
                self.note(Ending.COMPLETE if end else None)
        elif event == "send-failed":
            if machine.sending is not None:
                machine.send_failed()
                self.note(Ending.SEND_FAILED)
        elif event == "client-gone":
            machine.client_gone()
            self.note(Ending.CLIENT_GONE)
        elif event == "start-send":
            self.start_send()
        elif event == "shutdown":
            if self.shutdown_at is None:
                self.shutdown_at = len(self.sends)
            machine.shutdown()

    def note(self, ending: Ending | None) -> None:
        if self.first_ending is None and ending is not None:
            self.first_ending = ending

    def act(self) -> None:
        was_sending = self.machine.sending is not None
        action = self.machine.next()
        if action is Action.FINISH:
            self.finished = True
        elif action in SENDS:
            assert not was_sending, "a second send while one is under way"
            assert not self.finished, "a send after the delivery finished"
            self.sends.append(action)
            if action is Action.CLOSE:
                # Closing sends the protocol's error and end: the machine then says SHUTDOWN.
                self.machine.sent()
                self.note(Ending.SHUTDOWN)

    def start_send(self) -> None:
        # It starts a send exactly when, with a batch ready, the driver's next action would be
        # that send.
        ready = copy.copy(self.machine)
        ready.ready()
        would = ready.next() is Action.SEND
        was_sending = self.machine.sending is not None
        started = self.machine.start_send()
        assert started == would
        if started:
            assert not was_sending, "a second send while one is under way"
            assert not self.finished, "a send after the delivery finished"
            self.sends.append(Action.SEND)
        else:
            # Left to the driver's loop: the batch is not forgotten.
            assert (
                self.machine.ending is not None
                or self.machine.sending is not None
                or (copy.copy(self.machine).next() is not Action.WAIT)
            )

    def settle(self) -> None:
        """No more events from outside: drive every send to completion until nothing is left."""
        for _ in range(10):
            if self.machine.sending is not None:
                self.machine.sent()
            self.act()

    def check(self) -> None:
        sends, machine = self.sends, self.machine
        if self.opening and sends:
            assert sends[0] is Action.OPEN  # the response start comes first
        assert sends.count(Action.OPEN) == (1 if self.opening and sends else 0)
        assert sends.count(Action.CLOSE) <= 1
        if Action.CLOSE in sends:
            assert sends[-1] is Action.CLOSE  # nothing after the closing error
            assert self.shutdown_at is not None
            assert not self.end_sent  # a stream whose end went out is not closed again
        assert machine.ending == self.first_ending  # the first way to stop wins
        if self.finished:
            assert machine.ending is not None


@given(opening=st.booleans(), events=st.lists(st.sampled_from(EVENTS), max_size=40))
def test_every_order_of_events_keeps_the_promises(opening: bool, events: list[str]) -> None:
    host = Host(opening)
    for event in events:
        host.step(event)
        host.check()
    host.settle()
    host.check()
    machine = host.machine
    if machine.ending is None:
        # Nothing ended it: it waits, with nothing left to send.
        assert machine.next() is Action.WAIT
        assert host.shutdown_at is None
    else:
        assert machine.next() is Action.FINISH


@given(opening=st.booleans(), events=st.lists(st.sampled_from(EVENTS), max_size=30))
def test_a_shutdown_always_ends_with_the_closing_error_or_the_streams_own_end(
    opening: bool, events: list[str]
) -> None:
    host = Host(opening)
    for event in [*events, "shutdown"]:
        host.step(event)
    host.settle()
    assert host.machine.ending is not None
    if host.machine.ending is Ending.SHUTDOWN:
        assert host.sends[-1] is Action.CLOSE
        if opening:
            assert host.sends[0] is Action.OPEN  # even a shutdown before it waits for the start


def test_a_fresh_delivery_opens_then_takes_what_starts_the_run() -> None:
    machine = Delivery(opening=True)
    assert machine.next() is Action.OPEN
    assert machine.next() is Action.WAIT  # one send at a time
    machine.sent()
    assert machine.next() is Action.SEND  # the first take starts the run
    machine.sent()
    assert machine.next() is Action.WAIT


def test_ready_wins_over_idle_and_a_send_under_way_is_not_idleness() -> None:
    machine = Delivery()
    assert machine.next() is Action.SEND
    machine.idle()  # while sending: ignored
    machine.sent()
    assert machine.next() is Action.WAIT
    machine.idle()
    machine.ready()
    assert machine.next() is Action.SEND  # the data carries the stream; no keepalive needed
    machine.sent()
    assert machine.next() is Action.WAIT
    machine.idle()
    assert machine.next() is Action.KEEPALIVE


def test_the_end_completes_the_delivery_and_a_later_shutdown_changes_nothing() -> None:
    machine = Delivery()
    assert machine.next() is Action.SEND
    machine.sent(end=True)
    machine.shutdown()
    assert machine.next() is Action.FINISH
    assert machine.ending is Ending.COMPLETE


def test_a_shutdown_waits_for_the_send_under_way() -> None:
    machine = Delivery(opening=True)
    assert machine.next() is Action.OPEN
    machine.shutdown()
    assert machine.next() is Action.WAIT  # the start is not cut midway
    machine.sent()
    assert machine.next() is Action.CLOSE
    machine.sent()
    assert machine.ending is Ending.SHUTDOWN


@pytest.mark.parametrize("event", ["client_gone", "send_failed"])
def test_a_stop_during_a_send_ends_it_and_a_late_sent_is_ignored(event: str) -> None:
    machine = Delivery()
    assert machine.next() is Action.SEND
    getattr(machine, event)()
    machine.sent()  # the send was over when the stop came: no error, no change
    assert machine.next() is Action.FINISH
    assert machine.ending is (Ending.CLIENT_GONE if event == "client_gone" else Ending.SEND_FAILED)


def test_sent_without_a_send_is_a_driver_bug() -> None:
    machine = Delivery()
    with pytest.raises(RuntimeError, match="without a send"):
        machine.sent()
