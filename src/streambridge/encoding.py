"""``encode``: a chunk stream in, the bytes of one wire protocol out.

Each item is everything the run had ready, encoded as one ``bytes`` object, so a transport writes
a burst in one send and a lone token the moment it exists.  A complete run ends with the
protocol's finish frames; a stream that was closed early ends with nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Callable
from types import TracebackType
from typing import Protocol

from .chunks import Chunk, Error
from .input import RunInput, new_run_id
from .protocols import Encoder, WireProtocol, get_protocol
from .run import GENERIC_ERROR_MESSAGE, RunStream

__all__ = ["BatchSource", "EncodedStream", "encode"]

logger = logging.getLogger("streambridge")


class BatchSource(Protocol):
    """What an encoded stream reads batches from: a run's own stream
    (:class:`~streambridge.RunStream`), or a reader's place in a stored run's log
    (``streambridge.runs.LogCursor``)."""

    def take_batch(self) -> list[Chunk] | None:
        """The chunks ready now, without waiting: ``[]`` when there are none yet, ``None`` once
        the run has finished and everything was read.  (A stored log raises
        ``LogTrimmedError`` when the reader fell behind its trimmed start.)"""

    def when_ready(self, callback: Callable[[], object]) -> None:
        """Call ``callback()`` once, when :meth:`take_batch` has something (at once if it has)."""

    async def next_batch(self, idle_timeout: float | None = None) -> list[Chunk] | None:
        """:meth:`take_batch`, waiting for chunks; ``[]`` after ``idle_timeout`` seconds idle."""

    async def aclose(self) -> None:
        """Stop reading (a stored run goes on; a run's own stream cancels its run)."""


def _to_bytes(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:
        # A lone surrogate can only sit inside a JSON string here, where its escape is valid
        # JSON and decodes back to the same code unit (or to the pair it was split from).
        return text.encode("utf-8", "backslashreplace")


class EncodedStream:
    """The bytes of a run in one protocol.  ``aclose()`` or ``async with`` closes the run."""

    __slots__ = (
        "_chunks",
        "_encoder",
        "_heartbeat",
        "_next_id",
        "_numbered",
        "_run_id",
        "_separator",
        "_skip",
        "_stream",
        "batches",
        "ended",
        "protocol",
    )

    def __init__(
        self,
        stream: AsyncIterable[Chunk] | BatchSource,
        protocol: WireProtocol,
        heartbeat: float | None,
        input: RunInput,
        *,
        skip_events: int = 0,
        event_ids: bool = False,
    ) -> None:
        self.protocol = protocol
        self._stream = stream
        self._heartbeat = heartbeat
        # A run (or a stored run's log) is read a batch at a time; any other stream a chunk
        # at a time.
        self.batches: BatchSource | None = None
        """What a run's bytes are read from a batch at a time (its own stream, or a stored
        run's log), for a consumer that takes them without waiting (see :meth:`take`):
        ``None`` for an async iterable of chunks, which is read a chunk at a time."""
        self._chunks = None
        if hasattr(stream, "take_batch"):
            self.batches = stream  # type: ignore[assignment]
        else:
            self._chunks = stream.__aiter__()
        # A reader resuming after the events it has: the same encoding, those events left out.
        self._skip = skip_events
        self._separator = "\n\n" if protocol.framing == "sse" else "\n"
        # An SSE `id:` per event (its index from 0), for a client that resumes with
        # Last-Event-ID; only where the protocol's client reads past it.
        self._numbered = event_ids and protocol.framing == "sse"
        self._next_id = 0
        self._encoder: Encoder = protocol.new_encoder(input)
        self._run_id = input.run_id  # for the log, when a chunk fails to encode
        self.ended = False
        """True once the protocol's end has been returned (or the stream was closed).  An
        attribute, not a property: a driver reads it once a token."""

    def __aiter__(self) -> EncodedStream:
        return self

    async def _next_chunk(self) -> list[Chunk] | None:
        assert self._chunks is not None
        try:
            return [await self._chunks.__anext__()]
        except StopAsyncIteration:
            return None

    async def __anext__(self) -> bytes:
        if self.ended:
            raise StopAsyncIteration
        run = self.batches
        if run is not None:  # awaited here, not in a helper: an idle stream waits in this frame
            batch = await run.next_batch(self._heartbeat)
        else:
            batch = await self._next_chunk()
        data = self.encode_batch(batch)
        if self.ended and batch is not None:  # a chunk failed to encode: stop the run
            await self.aclose()
        return data

    @property
    def run_id(self) -> str | None:
        """The id of the run these bytes are of."""
        return self._run_id

    @property
    def heartbeat(self) -> float | None:
        """Seconds of idleness after which a transport sends the protocol's keepalive."""
        return self._heartbeat

    def take(self) -> bytes | None:
        """The bytes of everything the run has ready, without waiting (the protocol's end once
        it has ended); ``None`` when nothing is ready, or after the end (see :attr:`ended`).

        The first call starts the run; :meth:`when_ready` says when to take again.  When a
        chunk fails to encode, the bytes end the stream with an error and the caller closes it.
        """
        run = self.batches
        if run is None:
            run = self._taken_run()  # raises
        if self.ended:
            return None
        batch = run.take_batch()
        return None if batch == [] else self.encode_batch(batch)

    def when_ready(
        self, callback: Callable[[], object], deliver: Callable[[], object] | None = None
    ) -> None:
        """Call ``callback()`` once :meth:`take` has bytes; ``deliver`` instead when the run's
        own task made them ready, at the end of its step (see :meth:`RunStream.when_ready`;
        a stored run's log has no such task, and always calls ``callback``)."""
        run = self.batches
        if run is None:
            run = self._taken_run()  # raises
        if deliver is not None and type(run) is RunStream:
            run.when_ready(callback, deliver)
        else:
            run.when_ready(callback)

    def _taken_run(self) -> BatchSource:
        if self.batches is None:
            raise TypeError("take() needs the stream of create_run(), not another async iterable")
        return self.batches

    def encode_batch(self, batch: list[Chunk] | None) -> bytes:
        """A batch's bytes (what :attr:`batches` gave): ``None`` is the end of the run (the
        protocol's end; :attr:`ended` is then true), ``[]`` an idle heartbeat."""
        if batch is None:
            self.ended = True
            return self._out(self._encoder.finish())
        if not batch:
            return self.protocol.keepalive
        encode = self._encoder.encode
        parts: list[str] = []
        try:
            if len(batch) == 1:  # a token's batch, mostly: no list to join
                text = encode(batch[0])
            else:
                append = parts.append
                for chunk in batch:
                    append(encode(chunk))
                text = "".join(parts)
        except (TypeError, ValueError, RecursionError):
            # RecursionError: nesting deeper than Python's stack (json encodes recursively).
            # Each chunk is encoded once: the encoder keeps running totals (usage, open calls).
            return self._end_after_failure(batch[len(parts)], parts)
        if self._skip or self._numbered or not text.isascii():
            return self._out(text)
        return text.encode()  # the hot path, written out: a call less a token

    def _out(self, text: str) -> bytes:
        if self._skip or self._numbered:
            text = self._events_out(text)
        try:
            return text.encode()
        except UnicodeEncodeError:
            return _to_bytes(text)

    def _events_out(self, text: str) -> str:
        """``text`` without the events left to skip, and each event after them with its ``id:``
        when numbered (an encoder's text is whole events, each ended by the separator)."""
        separator, start, kept = self._separator, 0, []
        while (end := text.find(separator, start)) >= 0:
            event, start = text[start : end + len(separator)], end + len(separator)
            if self._skip:
                self._skip -= 1
            elif self._numbered:
                kept.append(f"id: {self._next_id}\n{event}")
            else:
                kept.append(event)
            self._next_id += 1
        return "".join(kept)

    def _end_after_failure(self, chunk: Chunk, parts: list[str]) -> bytes:
        """What encoded, then a generic error and the protocol's end; the caller stops the run."""
        logger.exception(
            "run %s: a %s chunk could not be encoded as %s JSON; ending the stream "
            "(send only JSON values: dict, list, str, finite numbers, bool, None, "
            "nested no deeper than Python's recursion limit)",
            self._run_id,
            chunk.type,
            self.protocol.name,
        )
        parts.append(self._encoder.encode(Error(GENERIC_ERROR_MESSAGE)))
        parts.append(self._encoder.finish())
        self.ended = True
        return self._out("".join(parts))

    async def close_with_error(self, message: str) -> bytes:
        """Stop the run and return the protocol's error event and end, for a host that must end
        a stream early but cleanly (a server shutting down); ``b""`` once the stream has ended.

        The same encoder writes them, so they close whatever the stream had open.
        """
        if self.ended:
            await self.aclose()
            return b""
        await self.aclose()
        return self._out(self._encoder.encode(Error(message)) + self._encoder.finish())

    async def aclose(self) -> None:
        """Close the chunk stream (cancelling its run if it is still going)."""
        self.ended = True
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> EncodedStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def encode(
    stream: AsyncIterable[Chunk],
    protocol: str = "data-stream",
    *,
    heartbeat: float | None = None,
    input: RunInput | None = None,
) -> EncodedStream:
    """Encode a chunk stream (usually :func:`~streambridge.create_run`'s) in ``protocol``.

    With ``heartbeat``, the protocol's keepalive bytes come whenever the run was idle that many
    seconds (this needs a stream from ``create_run``, which can wait without being disturbed).
    ``input`` gives the encoder its ids and timestamps (default: the ``create_run`` stream's
    input, else a fresh :class:`~streambridge.RunInput`).
    """
    if heartbeat is not None and not isinstance(stream, RunStream):
        raise TypeError("heartbeat= needs the stream of create_run(), not another async iterable")
    if input is None:
        input = stream.input if isinstance(stream, RunStream) else RunInput(run_id=new_run_id())
    return EncodedStream(stream, get_protocol(protocol), heartbeat, input)
