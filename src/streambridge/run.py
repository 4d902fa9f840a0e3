"""The run engine: ``create_run`` turns ``async def run(controller)`` into an ordered chunk stream.

Every controller call appends its chunk to one buffer, synchronously, at the moment of the call:
the controller, its ``with_parent_id`` views, tool-call controllers and ``add_stream`` readers all
write to the same list, so chunks leave in exactly the order of the calls.  No call blocks, starts
a task or hops a queue; the consumer is woken at most once per batch and takes everything that is
ready in one go.

Backpressure is explicit: ``await controller.drain()`` (and every ``add_stream`` reader) waits
while the buffer is above ``high_water``; past ``max_buffered`` the run fails with a clear error
instead of growing without bound.

Closing the stream (``aclose()``, leaving ``async with``, or the consumer being cancelled while it
waits) flips ``controller.is_cancelled``, gives the run ``grace`` seconds to stop on its own, then
cancels it and waits for its ``finally`` blocks, all shielded from the caller's own cancellation.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import logging
import random
import string
import sys
import threading
import warnings
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Coroutine, Generator
from types import CoroutineType, TracebackType
from typing import Any, cast

import anyio
import anyio.lowlevel

from ._size import OVERHEAD, chunk_size, operation_size
from ._spawn import in_trio, spawn_detached
from ._wakeup import LazyEvent, Wakeup
from .chunks import (
    Annotations,
    Chunk,
    Data,
    Error,
    File,
    ReasoningDelta,
    Source,
    StateOperation,
    StateUpdate,
    StepFinish,
    StepStart,
    TextDelta,
    ToolCallArgsFinish,
    ToolCallBegin,
    ToolCallDelta,
    ToolResult,
)
from .exceptions import BufferOverflowError, RunError
from .input import RunInput, new_run_id
from .messages import Message, MessageAccumulator
from .state import PathSegment, StateProxy, StateStore, copy_json, to_path

__all__ = [
    "DEFAULT_GRACE",
    "DEFAULT_HIGH_WATER",
    "DEFAULT_MAX_BUFFERED",
    "DEFAULT_MAX_BUFFERED_BYTES",
    "GENERIC_ERROR_MESSAGE",
    "CancellationSignal",
    "FinishHook",
    "RunController",
    "RunFunction",
    "RunStream",
    "ToolCallController",
    "create_run",
]

logger = logging.getLogger("streambridge")

GENERIC_ERROR_MESSAGE = "The assistant ran into an error. Please try again."
"""What the client sees when a run raises anything but :class:`~streambridge.RunError`."""

# The run engine's defaults, here once: create_run's and every host's (StreamOptions).
DEFAULT_GRACE = 0.05
"""Seconds a run whose stream was closed may take to stop by itself before it is cancelled."""
DEFAULT_HIGH_WATER = 1024
"""Buffered chunks above which ``controller.drain()`` waits."""
DEFAULT_MAX_BUFFERED = 100_000
"""Buffered chunks at which the run fails (bounded memory per stream)."""
DEFAULT_MAX_BUFFERED_BYTES = 8 << 20
"""Bytes a stream may hold unsent (its buffer and the batch being sent) before its run fails;
``controller.drain()`` waits above an eighth of it."""

RunFunction = Callable[["RunController"], Awaitable[None]]

FinishHook = Callable[[Message], object]
"""``on_finish(message)``: an async function or a quick plain one, given the run's final
message once it has ended."""


def check_run_function(run: object) -> None:
    """Refuse, where a run is handed over, what cannot be a run: every request would fail."""
    with contextlib.suppress(TypeError):  # (unhashable, or not weakly referable)
        if run in _GOOD_RUNS:  # a host's run, every request: inspect's checks cost 3 % of one
            return
    if not callable(run):
        raise TypeError(f"run must be an async function run(controller), got {run!r}")
    kind = _function_kind(run)
    if kind == "async generator":
        raise TypeError(
            f"run {run!r} is an async generator function; a run is `async def run(controller)` "
            "that calls controller methods (controller.append_text(...)) instead of yielding"
        )
    if kind != "async":
        raise TypeError(
            f"run {run!r} is not an async function; define it with `async def run(controller)` "
            "(a plain function that returns an awaitable can be marked with "
            "inspect.markcoroutinefunction)"
        )
    with contextlib.suppress(TypeError):  # (then checked every time)
        _GOOD_RUNS.add(run)


_GOOD_RUNS: weakref.WeakSet[Any] = weakref.WeakSet()


def check_finish_hook(on_finish: object) -> None:
    if on_finish is not None and not callable(on_finish):
        raise TypeError(f"on_finish must be a function on_finish(message), got {on_finish!r}")


def _function_kind(fn: Any) -> str:
    """``"async"``, ``"async generator"`` or ``"plain"`` for a function, a partial, a method,
    a decorated function or an object with ``__call__``."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if not (inspect.isfunction(fn) or inspect.ismethod(fn) or inspect.isbuiltin(fn)):
        if inspect.isclass(fn):
            return "plain"
        fn = type(fn).__call__  # a callable object: its __call__ decides
    unwrapped = inspect.unwrap(fn)
    if inspect.isasyncgenfunction(fn) or inspect.isasyncgenfunction(unwrapped):
        return "async generator"
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(unwrapped):
        return "async"
    return "plain"


_ID_ALPHABET = string.ascii_letters + string.digits


def _random_id(prefix: str) -> str:
    return prefix + "".join(random.choices(_ID_ALPHABET, k=24))


class CancellationSignal:
    """Read-only view of a run's cancellation: ``is_set()`` and ``await wait()``."""

    __slots__ = ("_event",)

    def __init__(self, event: LazyEvent) -> None:
        self._event = event

    def is_set(self) -> bool:
        """True once the client has gone (or the run was stopped): finish up and return."""
        return self._event.is_set()

    async def wait(self) -> None:
        """Return once the client has gone, e.g. to stop work in a task of the run's."""
        await self._event.wait()


_NO_CALLS: dict[str, Any] = {}  # read, never written: a core replaces it before its first write
_NO_CHUNKS: list[Chunk] = []  # the same, for a stream's batch


class _RunCore:
    """What one run's controllers share: the buffer, its tool calls, its state, its lifecycle.

    A server holds one per open stream, so it keeps no event or task group it may not need:
    events are made when somebody first waits on them, and the tasks of ``add_stream`` readers
    only when a run adds a stream.
    """

    __slots__ = (
        "accumulator",
        "buffer",
        "byte_limit",
        "cancelled",
        "deferred",
        "done",
        "drained",
        "failure",
        "finished",
        "held",
        "high_water",
        "high_water_bytes",
        "input",
        "limit",
        "max_buffered",
        "max_buffered_bytes",
        "notify",
        "on_finish",
        "open_args",
        "pending",
        "readers",
        "readers_idle",
        "reported",
        "request",
        "running",
        "scope",
        "state_ops",
        "state_store",
        "state_value",
        "stepping",
        "taken",
        "tool_calls",
    )

    def __init__(
        self,
        state: Any,
        input: RunInput,
        request: Any,
        high_water: int,
        max_buffered: int,
        on_finish: FinishHook | None = None,
        max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
    ) -> None:
        self.buffer: list[Chunk] = []
        self.state_ops: list[Any] = []
        # The store is made when the run first touches its state (most never do): an open
        # stream holds no store, and no bound method of this core for it.
        self.state_value = copy_json(state)
        self.state_store: StateStore | None = None
        self.input = input
        self.request = request
        self.high_water = high_water
        self.max_buffered = max_buffered
        # How many chunks the buffer may hold; -1 once the run has ended or failed, so a late
        # emit takes the slow path and is refused at no cost to the hot path.
        self.limit = max_buffered
        # The byte budget (see _size): ``held`` is what the stream holds unsent, the buffer and
        # the batch the consumer took last (``taken``), which is held until the consumer comes
        # back for more: it asks only once that batch has been sent.
        self.max_buffered_bytes = self.byte_limit = max_buffered_bytes
        self.high_water_bytes = max_buffered_bytes // 8
        self.held = 0
        self.taken = 0
        # The consumer's: called once, when the next batch is ready (see RunStream.when_ready).
        self.notify: Callable[[], object] | None = None
        # The consumer's delivery in the run's own task (see RunStream.when_ready): while the
        # run's task steps (``stepping``), a ready batch only marks ``pending``, and the step's
        # end calls ``deferred`` instead of waking the consumer's task.
        self.deferred: Callable[[], object] | None = None
        self.stepping = False
        self.pending = False
        self.drained: anyio.Event | None = None  # producers, waiting for the consumer
        self.cancelled = LazyEvent()  # the client is gone (controller.is_cancelled)
        self.scope = anyio.CancelScope()  # the run's task: cancelled after the grace
        self.running = False  # between the start of the run's task and its end
        self.done = LazyEvent()  # the run's task has finished, finally blocks included
        self.finished = False
        self.failure: BaseException | None = None
        self.readers: set[anyio.CancelScope] | None = None  # one per running add_stream reader
        self.readers_idle: anyio.Event | None = None  # set when the last reader ends
        # Shared empty dicts until the run's first tool call, which gives it its own.
        self.tool_calls: dict[str, ToolCallController] = _NO_CALLS
        self.open_args: dict[str, ToolCallController] = _NO_CALLS
        # on_finish: the consumer feeds what it takes to the accumulator; the stream's end is
        # read only once the hook has been called (``reported``).
        self.on_finish = on_finish
        self.accumulator = None if on_finish is None else MessageAccumulator(apply_state=False)
        self.reported = on_finish is None

    @property
    def state(self) -> StateStore:
        store = self.state_store
        if store is None:
            admit = _refuse_after_end if self.finished else self.admit_state_operation
            store = self.state_store = StateStore(None, self.state_ops, admit)
            store.value, self.state_value = self.state_value, None  # (copied in __init__)
        return store

    # -- producing -----------------------------------------------------------------------------

    def emit(self, chunk: Chunk, size: int = OVERHEAD) -> None:
        """Append ``chunk``, weighing ``size`` bytes (see :mod:`._size`)."""
        if self.state_ops:
            self.flush_state()
        buffer = self.buffer
        buffer.append(chunk)
        held = self.held = self.held + size
        if len(buffer) > self.limit or (held > self.byte_limit and held > size):
            buffer.pop()  # (a chunk over the budget on its own is let through alone)
            self.held -= size
            self._refuse(size)
        if self.notify is not None:
            self.wake()

    def release(self) -> None:
        """The consumer is back for more: the batch it took last has been sent."""
        self.held -= self.taken
        self.taken = 0
        if self.drained is not None and self.held <= self.high_water_bytes:
            self.drained.set()
            self.drained = None

    def unlimited(self) -> None:
        """Room for the run's last words (closing its tool calls, its error), whatever the
        limits; the caller closes the room again."""
        self.limit = self.byte_limit = sys.maxsize

    def flush_state(self) -> None:
        operations = tuple(self.state_ops)
        self.state_ops.clear()
        self.buffer.append(StateUpdate(operations))  # weighed as each operation was admitted
        self.wake()

    def wake(self) -> None:
        """Tell the consumer, if it waits, that a batch is ready; it takes the whole buffer (and
        flushes state).  Once: the consumer asks again after its next take."""
        notify = self.notify
        if notify is not None:
            if self.stepping and self.deferred is not None:
                self.pending = True  # delivered at the end of the run's step, in its task
                return
            self.notify = self.deferred = None
            notify()

    def end_step(self) -> None:
        """The run's task is about to wait: deliver what its step made ready, if the consumer
        asked to have it delivered here."""
        self.pending = False
        deliver = self.deferred
        if deliver is not None:
            self.notify = self.deferred = None
            deliver()

    def _refuse(self, size: int) -> None:
        """The chunk was over a limit and is not sent: say why."""
        if self.cancelled.is_set() and not self.finished and self.failure is None:
            # Nobody will read them: a run that ignores the close costs no memory.
            self.buffer.clear()
            self.state_ops.clear()
            return
        if self.finished:
            _refuse_after_end()
        if isinstance(self.failure, BufferOverflowError):
            raise BufferOverflowError(*self.failure.args)
        if self.failure is not None:
            raise RuntimeError(
                "this run has failed and is being stopped; it cannot add more chunks"
            ) from self.failure
        if len(self.buffer) + len(self.state_ops) >= self.limit:
            unread, option = f"{self.max_buffered} buffered chunks", "max_buffered="
        else:
            unread = f"{self.held + size:,} bytes (over {self.max_buffered_bytes:,})"
            option = "max_buffered_bytes="
        error = BufferOverflowError(
            f"the client has not read {unread}, so the run was stopped to bound memory. Await "
            f"controller.drain() in loops that emit many chunks, or raise {option} on "
            "create_run() or the host."
        )
        self.fail(error)
        raise error

    def admit_state_operation(self, op: StateOperation) -> None:
        """Called before a state write: pending operations count against the same limits (the
        update they are flushed as weighs nothing more)."""
        size = operation_size(op)
        held = self.held + size
        if len(self.buffer) + len(self.state_ops) >= self.limit or (
            held > self.byte_limit and held > size
        ):
            self._refuse(size)
        self.held = held
        if not self.state_ops:
            self.wake()  # the first pending operation wakes the consumer, which flushes

    def stop(self) -> None:
        """The client is gone: flag it, drop what nobody will read, release waiting producers."""
        self.cancelled.set()
        self.limit = 0  # from now on every emit is dropped (see _refuse)
        if self.drained is not None:
            self.drained.set()
            self.drained = None

    async def drain(self) -> None:
        while (
            len(self.buffer) + len(self.state_ops) > self.high_water
            or self.held > self.high_water_bytes
        ) and not self.cancelled.is_set():
            if self.drained is None:
                self.drained = anyio.Event()
            await self.drained.wait()
        if self.cancelled.is_set():
            # The client is gone: return, so a cooperative run sees is_cancelled and stops, but
            # always through a checkpoint, where the cancellation after the grace can land.
            await anyio.lowlevel.checkpoint()

    # -- tool calls ----------------------------------------------------------------------------

    def begin_tool_call(self, call: ToolCallController) -> None:
        if call.tool_call_id in self.tool_calls:
            raise ValueError(f"duplicate tool call id {call.tool_call_id!r}: ids must be unique")
        if self.tool_calls is _NO_CALLS:
            self.tool_calls, self.open_args = {}, {}
        self.tool_calls[call.tool_call_id] = call
        self.open_args[call.tool_call_id] = call
        self.emit(ToolCallBegin(call.tool_call_id, call.tool_name, call.parent_id))

    def close_args(self, call: ToolCallController) -> None:
        if self.open_args.pop(call.tool_call_id, None) is not None:
            call.args_closed = True
            self.emit(ToolCallArgsFinish(call.tool_call_id))

    def close_open_args(self) -> None:
        for call in list(self.open_args.values()):
            self.close_args(call)

    def add_tool_result(
        self, tool_call_id: str, result: Any, artifact: Any, is_error: bool
    ) -> None:
        call = self.tool_calls.get(tool_call_id)
        if call is None:
            raise ValueError(
                f"no tool call with id {tool_call_id!r} in this run; add it with "
                "controller.add_tool_call() before adding its result"
            )
        if call.has_result:
            raise ValueError(f"tool call {tool_call_id!r} already has a result")
        self.close_args(call)
        call.has_result = True
        chunk = ToolResult(tool_call_id, result, artifact, is_error)
        self.emit(chunk, chunk_size(chunk))

    def emit_foreign(self, chunk: Chunk) -> None:
        """Emit a chunk from an ``add_stream`` source, keeping tool calls and state consistent."""
        if isinstance(chunk, ToolCallBegin):
            call = ToolCallController(self, chunk.tool_name, chunk.tool_call_id, chunk.parent_id)
            self.begin_tool_call(call)
        elif isinstance(chunk, ToolCallDelta):
            self._known_call(chunk.tool_call_id).append_args_text(chunk.args_text_delta)
        elif isinstance(chunk, ToolCallArgsFinish):
            self.close_args(self._known_call(chunk.tool_call_id))
        elif isinstance(chunk, ToolResult):
            self.add_tool_result(chunk.tool_call_id, chunk.result, chunk.artifact, chunk.is_error)
        elif isinstance(chunk, StateUpdate):
            for op in chunk.operations:
                path, value = to_path(op["path"]), copy_json(op["value"])
                self.state.apply(cast(StateOperation, {**op, "path": path, "value": value}))
        elif isinstance(chunk, StepFinish):
            self.close_open_args()
            self.emit(chunk)
        else:
            self.emit(chunk, chunk_size(chunk))

    def _known_call(self, tool_call_id: str) -> ToolCallController:
        call = self.tool_calls.get(tool_call_id)
        if call is None:
            raise ValueError(f"no tool call with id {tool_call_id!r} in this run")
        return call

    # -- lifecycle -----------------------------------------------------------------------------

    async def guarded(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        try:
            await fn(*args)
        except Exception as exc:
            self.fail(exc)

    def fail(self, exc: BaseException) -> None:
        """End the run with an error chunk: the user's message for RunError, else a generic one."""
        if self.failure is not None or self.finished:
            return
        self.failure = exc
        if isinstance(exc, RunError):
            message = str(exc)
        else:
            if self.cancelled.is_set():
                logger.warning("run raised while being cancelled", exc_info=exc)
            else:
                logger.error("run failed", exc_info=exc)
            message = GENERIC_ERROR_MESSAGE
        self.unlimited()  # room for the last words, then nothing more
        self.close_open_args()
        self.emit(Error(message))
        self.limit = -1
        if self.running:
            self.cancel()

    def cancel(self) -> None:
        """Cancel the run's task and its readers."""
        self.scope.cancel()
        for reader in self.readers or ():
            reader.cancel()

    def start_reader(self, stream: AsyncIterable[Chunk]) -> None:
        """Read an ``add_stream`` source in a task of its own, cancelled with the run."""
        if not self.running:
            raise RuntimeError("add_stream() needs a running run")
        scope = anyio.CancelScope()
        if self.scope.cancel_called:
            scope.cancel()
        readers = self.readers = self.readers or set()
        readers.add(scope)

        async def read() -> None:
            try:
                with scope:
                    await self.guarded(_read_stream, self, stream)
            finally:
                readers.discard(scope)
                if not readers and self.readers_idle is not None:
                    self.readers_idle.set()

        spawn_detached(read())

    async def wait_for_readers(self) -> None:
        while self.readers:
            idle = self.readers_idle = anyio.Event()
            await idle.wait()

    def finish(self) -> None:
        """The run returned (or failed, or was cancelled): close what it left open."""
        self.unlimited()
        self.close_open_args()
        if self.state_ops:
            self.flush_state()
        self.finished = True
        self.limit = -1
        # The state asked this core (a bound method: a cycle), so the stream's objects waited
        # for the garbage collector; now it refuses by itself, and they go with their last
        # reference.
        if self.state_store is not None:
            self.state_store.admit = _refuse_after_end
        self.wake()

    async def report(self, on_finish: FinishHook) -> None:
        """Call ``on_finish`` with the final message: what the consumer took, and what it
        has yet to take.  Its failure is logged; the client never hears of it."""
        accumulator, self.accumulator = self.accumulator, None
        try:
            assert accumulator is not None
            for chunk in self.buffer:
                accumulator.add(chunk)
            message = accumulator.end()
            message.id = self.input.run_id
            message.state = copy.deepcopy(self.state.value)
            if self.cancelled.is_set() and self.failure is None:
                message.finish_reason = "cancelled"
            with anyio.CancelScope(shield=True):
                result = on_finish(message)
                if inspect.isawaitable(result):
                    await result
        except Exception:
            logger.exception("on_finish failed")
        finally:
            self.reported = True
            self.wake()


class ToolCallController:
    """One tool call: stream its arguments, then set its response.

    ``await controller.add_tool_call(...)`` works too (this object is awaitable and returns
    itself), so code written for assistant-stream runs unchanged.
    """

    __slots__ = {  # (a dict: the reference shows the public ones' docstrings)
        "_core": "",
        "args_closed": "",
        "has_result": "",
        "parent_id": "The group it belongs to (see RunController.with_parent_id), or None.",
        "tool_call_id": "The call's id: the one given to add_tool_call, or a fresh ``call_...``.",
        "tool_name": "The name of the tool called.",
    }

    def __init__(
        self, core: _RunCore, tool_name: str, tool_call_id: str, parent_id: str | None
    ) -> None:
        self._core = core
        self.tool_name = tool_name
        self.tool_call_id = tool_call_id
        self.parent_id = parent_id
        self.args_closed = False
        self.has_result = False

    def __await__(self) -> Generator[Any, None, ToolCallController]:
        return self
        yield  # makes this a generator: awaiting it finishes at once

    def append_args_text(self, text: str) -> None:
        """Append a piece of the arguments' JSON text."""
        if self.args_closed or self.has_result:
            raise ValueError(
                f"tool call {self.tool_call_id!r}: its arguments are already closed "
                "(close_args(), set_response() or the end of its step); append them before"
            )
        if not isinstance(text, str):
            raise _not_text("append_args_text", text)
        self._core.emit(ToolCallDelta(self.tool_call_id, text), OVERHEAD + len(text))

    def close_args(self) -> None:
        """Mark the arguments complete (idempotent)."""
        self._core.close_args(self)

    def set_response(self, result: Any, *, artifact: Any = None, is_error: bool = False) -> None:
        """Set the tool's result; closes the arguments first if they are still open."""
        self._core.add_tool_result(self.tool_call_id, result, artifact, is_error)

    def set_result(self, result: Any) -> None:
        """Deprecated alias of :meth:`set_response`, kept for assistant-stream code."""
        warnings.warn(
            "set_result() is deprecated; use set_response()", DeprecationWarning, stacklevel=2
        )
        self.set_response(result)

    def close(self) -> None:
        """Alias of :meth:`close_args`, kept for assistant-stream code."""
        self.close_args()


class RunController:
    """The handle a run writes through.

    Every method but :meth:`drain` is synchronous and never blocks.
    """

    __slots__ = ("_core", "_parent_id")

    def __init__(self, core: _RunCore, parent_id: str | None = None) -> None:
        self._core = core
        self._parent_id = parent_id

    @property
    def input(self) -> RunInput:
        """What the client sent: messages, tools, state, thread and run ids, the raw body."""
        return self._core.input

    @property
    def request(self) -> Any:
        """The framework's request object (the ASGI scope for plain ASGI), or ``None``."""
        return self._core.request

    def with_parent_id(self, parent_id: str) -> RunController:
        """A view of this controller whose text, reasoning, tool calls, sources and files are
        grouped under ``parent_id``."""
        return RunController(self._core, parent_id)

    def append_text(self, text: str) -> None:
        """Add ``text`` to the answer (a token or any piece of it); ``TypeError`` for a
        non-``str``, such as a model's ``None`` delta."""
        if not isinstance(text, str):
            raise _not_text("append_text", text)
        self._core.emit(TextDelta(text, self._parent_id), OVERHEAD + len(text))

    def append_reasoning(self, text: str) -> None:
        """Add ``text`` to the answer's reasoning (a model's thinking), shown apart from it."""
        if not isinstance(text, str):
            raise _not_text("append_reasoning", text)
        self._core.emit(ReasoningDelta(text, self._parent_id), OVERHEAD + len(text))

    def add_tool_call(self, tool_name: str, tool_call_id: str | None = None) -> ToolCallController:
        """Start a tool call and return its controller (also awaitable)."""
        call = ToolCallController(
            self._core, tool_name, tool_call_id or _random_id("call_"), self._parent_id
        )
        self._core.begin_tool_call(call)
        return call

    def add_tool_result(
        self, tool_call_id: str, result: Any, artifact: Any = None, is_error: bool = False
    ) -> None:
        """Set the result of a tool call this run started."""
        self._core.add_tool_result(tool_call_id, result, artifact, is_error)

    def add_source(self, id: str, url: str, title: str | None = None) -> None:
        """Cite a source: ``url``, with a ``title`` to show; ``id`` tells sources apart."""
        chunk = Source(id, url, title, self._parent_id)
        self._core.emit(chunk, chunk_size(chunk))

    def add_file(self, data: str, mime_type: str) -> None:
        """Add a file: ``data`` is base64, ``mime_type`` its media type."""
        chunk = File(data, mime_type, self._parent_id)
        self._core.emit(chunk, chunk_size(chunk))

    def add_data(self, data: Any, name: str | None = None) -> None:
        """Send JSON to the frontend; ``name`` makes it a named data part."""
        chunk = Data(data, name)
        self._core.emit(chunk, chunk_size(chunk))

    def add_annotations(self, annotations: list[Any]) -> None:
        """Attach JSON annotations to the message (assistant-ui's message annotations)."""
        chunk = Annotations(tuple(annotations))
        self._core.emit(chunk, chunk_size(chunk))

    def add_error(self, message: str) -> None:
        """Send an error message the user may see.

        Clients mark the message as failed, so the arguments of open tool calls are closed; the
        run itself goes on (to stop, raise :class:`~streambridge.RunError` instead).
        """
        self._core.close_open_args()
        self._core.emit(Error(message), OVERHEAD + len(message))

    def add_step_start(self, message_id: str | None = None) -> None:
        """Start a step (one model call of a multi-step run); ``message_id`` names its message."""
        self._core.emit(StepStart(message_id or _random_id("msg_")))

    def add_step_finish(
        self,
        finish_reason: str = "stop",
        input_tokens: int = 0,
        output_tokens: int = 0,
        is_continued: bool = False,
    ) -> None:
        """End a step with its usage; closes the arguments of its open tool calls."""
        self._core.close_open_args()
        self._core.emit(StepFinish(finish_reason, input_tokens, output_tokens, is_continued))

    @property
    def state(self) -> StateProxy:
        """The run's state: ``state["draft"] += "x"`` emits append-text, assignment emits set."""
        return StateProxy(self._core.state, [])

    @state.setter
    def state(self, value: Any) -> None:
        if isinstance(value, StateProxy) and value.is_root_of(self._core.state):
            return  # the write-back of `controller.state += [...]`
        self._core.state.set([], value)

    def append_state_text(self, path: list[PathSegment], text: str) -> None:
        """Append ``text`` to the string at ``path`` (set it if there is none yet)."""
        self._core.state.append_text(to_path(path), text)

    def flush(self) -> None:
        """Emit pending state operations now (they are also flushed before the next chunk)."""
        if self._core.state_ops:
            self._core.flush_state()

    def add_stream(self, stream: AsyncIterable[Chunk]) -> None:
        """Merge a stream of chunks into this run; the run ends after the stream does."""
        self._core.start_reader(stream)

    @property
    def is_cancelled(self) -> bool:
        """True once the client went away; stop soon, the run is cancelled after a grace."""
        return self._core.cancelled.is_set()

    @property
    def cancelled(self) -> CancellationSignal:
        """Cancellation signal: ``await controller.cancelled.wait()``."""
        return CancellationSignal(self._core.cancelled)

    cancelled_event = cancelled  # the assistant-stream name

    async def drain(self) -> None:
        """Wait while the client is behind (buffer above the high-water mark)."""
        await self._core.drain()


async def _read_stream(core: _RunCore, stream: AsyncIterable[Chunk]) -> None:
    try:
        async for chunk in stream:
            if core.cancelled.is_set():
                break  # the client is gone: do not pull more from the source
            core.emit_foreign(chunk)
            if len(core.buffer) > core.high_water:
                await core.drain()
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


class RunStream:
    """The chunks of one run, in call order.

    Iterate it (``async for chunk in stream``), take whatever is ready at once with
    :meth:`batches`, or, without a waiting task, :meth:`take_batch` when :meth:`when_ready`
    calls.
    ``async with`` or :meth:`aclose` cancels a run that is still going.
    """

    __slots__ = (
        "__weakref__",
        "_args",
        "_batch",
        "_closed",
        "_core",
        "_grace",
        "_position",
        "_raise_errors",
        "_run",
        "_thread",
        "_wakeup",
        "input",
    )

    def __init__(
        self,
        run: RunFunction,
        *,
        state: Any,
        input: RunInput,
        request: Any,
        raise_errors: bool,
        grace: float,
        high_water: int,
        max_buffered: int,
        on_finish: FinishHook | None = None,
        max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
    ) -> None:
        if high_water < 1 or max_buffered <= high_water:
            raise ValueError("need 1 <= high_water < max_buffered")
        if isinstance(max_buffered_bytes, bool) or not isinstance(max_buffered_bytes, int):
            raise TypeError(f"max_buffered_bytes= must be an int, got {max_buffered_bytes!r}")
        if max_buffered_bytes < 1024:
            raise ValueError(f"max_buffered_bytes= must be at least 1024, got {max_buffered_bytes}")
        self._run = run
        self.input = input
        """What started the run (encoders take their ids and timestamps from it)."""
        self._args: tuple[Any, ...] = (
            state, input, request, high_water, max_buffered, on_finish, max_buffered_bytes
        )  # fmt: skip
        self._raise_errors = raise_errors
        self._grace = grace
        self._core: _RunCore | None = None
        self._thread = 0
        self._closed = False
        self._batch = _NO_CHUNKS
        self._position = 0
        self._wakeup: Wakeup | None = None  # made when a task first waits for a batch

    def _start(self) -> _RunCore:
        core = _RunCore(*self._args)
        self._core = core
        self._args = ()  # only the core needs them now
        self._thread = threading.get_ident()
        # The task holds the core, never this stream: an abandoned stream can be collected,
        # and __del__ then cancels its run.
        spawn_detached(_drive(self._run, core))
        return core

    def __del__(self) -> None:
        core = getattr(self, "_core", None)  # None too when __init__ raised
        if core is None or self._closed or core.done.is_set():
            return
        if threading.get_ident() != self._thread:
            return  # cancel scopes are not thread-safe; the run ends by itself or at max_buffered
        with contextlib.suppress(Exception):  # e.g. the event loop is already closed
            core.stop()
            core.cancel()

    async def __aenter__(self) -> RunStream:
        return self  # the run starts at the first read

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> RunStream:
        return self

    async def __anext__(self) -> Chunk:
        if self._position < len(self._batch):
            chunk = self._batch[self._position]
            self._position += 1
            return chunk
        batch = await self.next_batch()
        if batch is None:
            raise StopAsyncIteration
        self._batch = batch
        self._position = 1
        return batch[0]

    def batches(self, idle_timeout: float | None = None) -> AsyncIterator[list[Chunk]]:
        """Iterate lists of every chunk that is ready, one wake-up each.

        With ``idle_timeout``, an empty list comes when nothing arrived for that many seconds:
        the moment for a transport's heartbeat.
        """
        return _Batches(self, idle_timeout)

    async def next_batch(self, idle_timeout: float | None = None) -> list[Chunk] | None:
        """Every chunk that is ready (waiting for at least one), ``[]`` after ``idle_timeout``
        seconds without any, or ``None`` at the end of the run."""
        try:
            while True:
                batch = self.take_batch()
                if batch is None or batch:
                    return batch
                core = self._core
                assert core is not None  # take_batch() started the run
                wakeup = self._wakeup = self._wakeup or Wakeup()
                core.notify = wakeup.wake
                if not await wakeup.wait(idle_timeout):
                    core.notify = None
                    return []  # idle for idle_timeout seconds
        except BaseException:
            # The consumer was cancelled (or failed) while waiting: take the run down with it.
            core = self._core
            if core is not None and not core.finished:
                await self.aclose()
            raise

    def take_batch(self) -> list[Chunk] | None:
        """Every chunk that is ready now, without waiting: ``[]`` when none is, ``None`` at the
        end of the run.  The first call starts the run.

        For a consumer that does not wait in a loop of its own: :meth:`when_ready` says when
        to take again.
        """
        if self._position < len(self._batch):
            return self._rest()
        if self._closed:
            return None
        core = self._core or self._start()
        if core.state_ops:
            core.flush_state()
        if core.taken:  # (when_ready() has released it already, mostly)
            core.release()  # the consumer is back: the batch it took last has been sent
        if core.buffer:
            batch = core.buffer
            core.buffer = []
            core.taken = core.held  # (the state operations flushed above included)
            if core.drained is not None:
                core.drained.set()
                core.drained = None
            accumulator = core.accumulator
            if accumulator is not None:
                for chunk in batch:
                    accumulator.add(chunk)
            return batch
        if core.finished and core.reported:
            self._closed = True
            if self._raise_errors and core.failure is not None:
                raise core.failure
            return None
        return []

    def when_ready(
        self, callback: Callable[[], object], deliver: Callable[[], object] | None = None
    ) -> None:
        """Call ``callback()`` once :meth:`take_batch` has something to return (at once if it
        has now); once, and not after :meth:`aclose`.

        The callback runs inside the run's own call that made a chunk ready, so it must be
        quick and must not raise: set a flag, wake a task.

        ``deliver``, on asyncio, is called instead when the run's own task made the batch
        ready, at the end of that task's step (just before it waits): a consumer that can
        send without waiting delivers there, and a token costs no task switch.  It must not
        raise either, and must not wait (it runs in the run's task, between two of its steps).
        """
        core = self._core
        if core is None:
            raise RuntimeError("take_batch() starts the run: call it before when_ready()")
        core.release()  # a consumer asks only once it has sent what it took
        if (
            self._position < len(self._batch)
            or self._closed
            or core.buffer
            or core.state_ops
            or (core.finished and core.reported)
        ):
            callback()
        else:
            core.notify = callback
            core.deferred = deliver

    @property
    def ended(self) -> bool:
        """True once the run has finished (returned, failed or been cancelled)."""
        core = self._core
        return core is not None and core.finished

    @property
    def cancelled(self) -> bool:
        """True when the stream was closed before the run finished by itself."""
        core = self._core
        return core is not None and core.cancelled.is_set()

    @property
    def failed(self) -> bool:
        """True when the run ended with an error (its stream's last chunk is the Error)."""
        core = self._core
        return core is not None and core.failure is not None

    def _rest(self) -> list[Chunk]:
        """What ``async for`` left of the last batch."""
        rest = self._batch[self._position :]
        self._batch, self._position = _NO_CHUNKS, 0
        return rest

    async def aclose(self) -> None:
        """Cancel the run if it is still going and wait until it has stopped."""
        self._closed = True
        self._batch, self._position = _NO_CHUNKS, 0
        core = self._core
        if core is None:
            return
        core.notify = core.deferred = None
        if core.done.is_set():
            return
        core.stop()
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(self._grace):
                await core.done.wait()
            core.cancel()
            await core.done.wait()


def _refuse_after_end(_: object = None) -> None:
    raise RuntimeError("this run has ended; a controller cannot add chunks after its run returned")


def _not_text(method: str, value: object) -> TypeError:
    """Refused where it is called, so the traceback points at the run's line (a text that
    reached an encoder would only end the stream there)."""
    hint = " (skip a delta whose text is None: a model's first delta often has none)"
    return TypeError(
        f"{method}() takes a str, got {type(value).__name__}{hint if value is None else ''}"
    )


async def _drive(run: RunFunction, core: _RunCore) -> None:
    """The run's task: the run, then its add_stream readers, all cancelled by ``core.cancel``."""
    core.running = True
    try:
        with core.scope:
            try:  # not core.guarded(): one frame less for each open stream
                steps = run(RunController(core))
                if type(steps) is CoroutineType and not in_trio():
                    await _Steps(steps, core)
                else:
                    await steps
            except Exception as exc:
                core.fail(exc)
            await core.wait_for_readers()  # the run ends after the streams it added
    finally:
        if core.readers:  # cancelled or failed: its readers go with it, and are waited for
            core.cancel()
            with anyio.CancelScope(shield=True):
                await core.wait_for_readers()
        core.running = False
        try:
            core.finish()
            if core.on_finish is not None:
                await core.report(core.on_finish)
        finally:
            core.done.set()  # whatever happens, aclose() must not wait for ever


class _Steps(Generator[Any, Any, object]):
    """The run's coroutine, awaited one step at a time (asyncio): after each step, what the
    step made ready is delivered in the run's own task, if its consumer asked for that (see
    :meth:`RunStream.when_ready`).  Not under trio, where what a step yields is a request
    that names the task, so another coroutine may not run between a step and its wait.

    Its own iterator rather than a generator: an open stream holds one, and a generator's
    frame is five times its size."""

    __slots__ = ("_core", "_steps")

    def __init__(self, steps: Coroutine[Any, Any, object], core: _RunCore) -> None:
        self._steps = steps
        self._core = core

    def __await__(self) -> Generator[Any, Any, object]:
        return self

    def send(self, value: Any = None) -> Any:
        core = self._core
        core.stepping = True
        try:
            waits_for = self._steps.send(value)
        finally:
            core.stepping = False
        if core.pending:
            core.end_step()
        return waits_for

    # An awaiting coroutine steps an iterator with __next__ (Generator's calls send: a frame).
    __next__ = send

    def throw(self, typ: Any, value: Any = None, traceback: TracebackType | None = None) -> Any:
        """The task's cancellation (or another exception), for the run at its wait."""
        if value is None:
            value = typ() if isinstance(typ, type) else typ
        if traceback is not None:
            value = value.with_traceback(traceback)
        core = self._core
        core.stepping = True
        try:
            waits_for = self._steps.throw(value)
        finally:
            core.stepping = False
        if core.pending:
            core.end_step()
        return waits_for

    def close(self) -> None:
        self._steps.close()


class _Batches:
    __slots__ = ("_idle_timeout", "_stream")

    def __init__(self, stream: RunStream, idle_timeout: float | None) -> None:
        self._stream = stream
        self._idle_timeout = idle_timeout

    def __aiter__(self) -> _Batches:
        return self

    async def __anext__(self) -> list[Chunk]:
        batch = await self._stream.next_batch(self._idle_timeout)
        if batch is None:
            raise StopAsyncIteration
        return batch


def create_run(
    run: RunFunction,
    *,
    state: Any = None,
    input: RunInput | None = None,
    request: Any = None,
    raise_errors: bool = False,
    grace: float = DEFAULT_GRACE,
    high_water: int = DEFAULT_HIGH_WATER,
    max_buffered: int = DEFAULT_MAX_BUFFERED,
    on_finish: FinishHook | None = None,
    max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
) -> RunStream:
    """Start ``run(controller)`` when the returned stream is first read, and stream its chunks.

    ``state`` is the initial state (default: ``input.state``).  An exception in the run is logged
    and becomes an :class:`~streambridge.chunks.Error` chunk with a generic message (the text of a
    :class:`~streambridge.RunError`), then the stream ends normally; ``raise_errors=True``
    re-raises it from the stream at the end instead, for tests.  Closing the stream early sets
    ``controller.is_cancelled``, waits ``grace`` seconds, then cancels the run.

    ``on_finish(message)`` is called once when a started run has ended (done, failed or
    cancelled), before the stream's end is read: ``message`` is the assistant
    :class:`~streambridge.Message` it produced, with its ``finish_reason`` (``"cancelled"``
    when the client went away first; what the run made after that was dropped), ``usage``, the
    run's final ``state`` and the run id as ``id``.  An exception it raises is logged.

    Memory is bounded: past ``max_buffered`` unread chunks or ``max_buffered_bytes`` unsent
    bytes (counted as the run emits them: the characters of its text, the JSON of its values,
    and a fixed allowance per chunk), the run fails with
    :class:`~streambridge.BufferOverflowError`, which the client sees as the protocol's error
    and end.  ``controller.drain()`` waits while the stream holds over ``high_water`` chunks or
    an eighth of ``max_buffered_bytes``.

    ``run`` must be an ``async def`` function: anything else raises ``TypeError`` here.
    """
    check_run_function(run)
    check_finish_hook(on_finish)
    run_input = input if input is not None else RunInput()
    if state is not None:
        run_input.state = state  # encoders that send whole state values start from it
    if run_input.run_id is None:
        run_input.run_id = new_run_id()  # every run is addressable by id
    return RunStream(
        run,
        state=state if state is not None else run_input.state,
        input=run_input,
        request=request,
        raise_errors=raise_errors,
        grace=grace,
        high_water=high_water,
        max_buffered=max_buffered,
        on_finish=on_finish,
        max_buffered_bytes=max_buffered_bytes,
    )
