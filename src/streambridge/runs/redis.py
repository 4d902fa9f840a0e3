"""``RedisStore``: the run store on Redis Streams, shared by many processes and hosts.

Each run has a stream and a hash beside it, under keys that share one hash tag
(``{prefix:run_id}:log``, ``:meta``, ``:lease``), so a Redis Cluster keeps a run on one slot
and every script below touches one slot only.

- **The log.**  One stream entry per ready batch, its id ``<end>-0`` where ``end`` is the
  position after its last chunk, so positions are gapless and a reader at position ``p`` reads
  from id ``p-0`` on.  The run's end is one more entry, ``<length>-1``.  A script adds a batch,
  trims the stream exactly (``MINID``: the producer knows where the store's limits cut) and
  updates the hash.  What this process writes (runs created, batches, ends, the renewals of
  leases and time to live every ``lease/3`` s) while a write is on its way, or within
  ``write_interval`` of the last (longer under load), goes together in the next one: one
  command per round trip, whatever the number of runs.  ``append`` does not wait for its
  write: a run has one batch in flight, and a failed write stops it.
- **Readers** never poll and never hold a connection each: per process (per event loop), one
  follower task reads every followed run's stream with one blocking ``XREAD`` and feeds local
  buffers that cursors read without I/O, as a :class:`~.memory.MemoryCursor` reads its list.
  Runs this process produces feed their local readers straight from ``append``, before the
  batch is written.  A Redis Cluster refuses one ``XREAD`` across slots, and each run has a
  slot of its own, so there each followed run gets its own blocking ``XREAD``
  (:meth:`_Service.follow_alone`): one connection per run this process follows, not per
  reader.
- **The process stream** ``{prefix:p:<process id>}``: what the follower also reads, so that
  anybody can wake it: this process, when a new run is followed (an ``XREAD`` in flight must
  start again with one more stream; a wake-up entry does it at once, where a bounded ``BLOCK``
  would delay the first chunks of every new reader by up to its timeout), and other processes,
  to stop a run this one produces.
- **The lease.**  The producing process renews each run's lease; a follower (or anybody
  asking for the run) that finds it lapsed marks the run failed, with an error chunk and its
  end, so readers of a run whose process died end cleanly.
- **Redis failing**: a method raises :class:`StoreUnavailableError` (a host answers 503); the
  follower retries for a moment (the client reconnects by itself), then ends its readers with
  an error; a producer whose batch cannot be stored stops its run.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import math
import os
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import anyio.lowlevel

from .._size import chunk_size
from .._spawn import spawn_detached
from .._wakeup import LazyEvent, Wakeup
from ..chunks import Chunk, Error
from .codec import decode_chunks, decode_input, encode_chunks, encode_input
from .store import (
    LogTrimmedError,
    RunExistsError,
    RunRecord,
    RunStatus,
    StoreUnavailableError,
)

if TYPE_CHECKING:
    import coredis

__all__ = ["RedisCursor", "RedisStore"]

logger = logging.getLogger("streambridge")

LOST_MESSAGE = "The answer was interrupted: the server running it went away. Please try again."
"""What readers of a run see when its producing process died (its lease lapsed)."""
UNAVAILABLE_MESSAGE = (
    "The answer was interrupted: the server lost its connection to its run store. Please try again."
)
"""What readers see when Redis cannot be reached for longer than a short outage."""

_OUTAGE_GRACE = 1.0  # seconds of failing XREADs the follower rides out before ending readers
_COMMAND_TIMEOUT = 10.0  # seconds: past this Redis counts as unavailable (nothing hangs)
_CLOSED = "this RedisStore was closed (aclose())"
_CONNECTIONS = 4  # per store (per process and loop) when it builds its client from a URL
_READ_COUNT = 512  # entries per stream per XREAD: a slow reader's backlog comes in pieces
# Under load the writes stretch, up to _STRETCH times write_interval, by one write_interval
# each _OPS_PER_STRETCH operations the last one carried: a command costs the client 200-300 us
# of CPU, one more operation in it about 1 us (benchmarks/README.md).  What waits for the
# writes: readers on other processes, a run's start and end, and a run's next batch while its
# last one is on its way (docs/guide/redis.md).
_STRETCH = 4
_OPS_PER_STRETCH = 64

# -- the scripts (each touches the keys of one run: one hash slot) ---------------------------

# Everything a process writes of the runs it produces, in one command per round trip: for any
# number of runs, their creation, batches, ends and lease renewals, packed one after another in
# ARGV[5] (a kind, then its fields; see _op).  The script names a run's keys from its hash tag:
# one argument an operation, where its keys as KEYS were two or three more (and the client
# builds an object for each); on a cluster each operation is a call of its own, with its keys
# declared as well, for routing.  ARGV[1..4]: this process's id, the lease, the idle and the
# finished time to live (ms).  A batch leaves the lease and the keys' time to live to the
# renewals (every lease/3 s).
_WRITE = """
local owner, lease, idle, ttl, ops = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local at, out = 1, {}
local function upto()  -- the text up to the next ':' (a number)
  local colon = string.find(ops, ':', at, true)
  local text = string.sub(ops, at, colon - 1)
  at = colon + 1
  return text
end
local function field()  -- '<its length in bytes>:<its text>'
  local size = tonumber(upto())
  at = at + size
  return string.sub(ops, at - size, at - 1)
end
while at <= #ops do
  local kind = string.sub(ops, at, at)
  at = at + 1
  local tag = field()  -- a run's hash tag ('x': a whole key)
  local log, meta, lease_key = tag .. ':log', tag .. ':meta', tag .. ':lease'
  if kind == 'a' then  -- a batch: its end, the log's trimmed count, its chunks
    local length, trimmed, chunks = upto(), upto(), field()
    if redis.call('HGET', meta, 'status') ~= 'running' then
      out[#out + 1] = 0
    else
      if trimmed == '0' then  -- the usual case: a trim that cuts nothing still costs Redis
        redis.call('XADD', log, length .. '-0', 'c', chunks)
      else
        redis.call('XADD', log, 'MINID', tonumber(trimmed) + 1, length .. '-0', 'c', chunks)
      end
      redis.call('HSET', meta, 'length', length, 'trimmed', trimmed)
      out[#out + 1] = 1
    end
  elseif kind == 'c' then  -- a new run: its input, protocol, thread, creation
    local input, protocol, thread, created = field(), field(), field(), field()
    if redis.call('EXISTS', meta) == 1 then
      out[#out + 1] = 0
    else
      redis.call('HSET', meta, 'input', input, 'protocol', protocol, 'thread', thread,
        'created_at', created, 'owner', owner, 'status', 'running', 'length', 0, 'trimmed', 0)
      redis.call('PEXPIRE', meta, idle)
      redis.call('SET', lease_key, owner, 'PX', lease)
      out[#out + 1] = 1
    end
  elseif kind == 'r' then  -- a run's lease and its keys' time to live renewed
    if redis.call('HGET', meta, 'status') ~= 'running' then
      out[#out + 1] = 0
    else
      redis.call('SET', lease_key, owner, 'PX', lease)
      redis.call('PEXPIRE', meta, idle)
      redis.call('PEXPIRE', log, idle)
      out[#out + 1] = 1
    end
  elseif kind == 'x' then  -- a key's time to live renewed (a thread's, this process's stream)
    out[#out + 1] = redis.call('PEXPIRE', tag, idle)
  else  -- 'f', its end: its status.  Answers its thread ('' for none).
    local status = field()
    if redis.call('HGET', meta, 'status') ~= 'running' then
      out[#out + 1] = 0
    else
      local length = redis.call('HGET', meta, 'length')
      redis.call('HSET', meta, 'status', status)
      redis.call('XADD', log, length .. '-1', 'end', status)
      redis.call('PEXPIRE', log, ttl)
      redis.call('PEXPIRE', meta, ttl)
      redis.call('DEL', lease_key)
      out[#out + 1] = redis.call('HGET', meta, 'thread')
    end
  end
end
return out
"""

# A run whose lease lapsed: an error chunk and the end, so its readers end cleanly.
_LAPSE = """
local status = redis.call('HGET', KEYS[2], 'status')
if not status then return -1 end
if status ~= 'running' or redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local length = tonumber(redis.call('HGET', KEYS[2], 'length')) + 1
redis.call('XADD', KEYS[1], length .. '-0', 'c', ARGV[1])
redis.call('XADD', KEYS[1], length .. '-1', 'end', 'error')
redis.call('HSET', KEYS[2], 'status', 'error', 'length', length)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
"""

_STOP = """
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return false end
redis.call('HSET', KEYS[1], 'stop', '1')
return {redis.call('HGET', KEYS[1], 'owner'), redis.call('EXISTS', KEYS[2])}
"""

_RELEASE_THREAD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _utf8_size(text: str) -> int:
    """``text``'s length in UTF-8 bytes (``UnicodeEncodeError`` for a lone surrogate)."""
    return len(text) if text.isascii() else len(text.encode())  # (isascii: O(1))


def _field(text: str) -> str:
    """``text`` framed for ``_WRITE``: its length in bytes, a colon, itself."""
    return f"{_utf8_size(text)}:{text}"


def _op(kind: str, name: str, *fields: str) -> str:
    """An operation of ``_WRITE``: its kind, the run's hash tag (or a key), its fields."""
    return kind + _field(name) + "".join(map(_field, fields))


class _Keys:
    """The names of one store's keys."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def tag(self, run_id: str) -> str:
        """The hash tag a run's keys share (one cluster slot)."""
        return f"{{{self.prefix}:{run_id}}}"

    def run(self, run_id: str) -> tuple[str, str, str]:
        """A run's log, meta and lease keys."""
        tag = self.tag(run_id)
        return tag + ":log", tag + ":meta", tag + ":lease"

    def thread(self, thread_id: str) -> str:
        return f"{{{self.prefix}:t:{thread_id}}}"

    def process(self, owner: str) -> str:
        return f"{{{self.prefix}:p:{owner}}}"


class RedisStore:
    """Runs that outlive their connection, kept in Redis and shared by every process that
    uses the same Redis and ``prefix``: a drop-in for :class:`~streambridge.MemoryStore`.

    ``url_or_client``: a ``redis://`` (``rediss://``, ``unix://``) URL, or a
    ``coredis.Redis`` / ``coredis.RedisCluster`` client built with ``decode_responses=True``
    (and its default encoding, UTF-8).
    ``max_events`` and ``max_bytes`` bound each run's log as in ``MemoryStore`` (Redis drops
    whole batches: the log may hold one batch more); ``ttl`` is how long a finished run is
    kept, ``idle_ttl`` how long a run's keys outlive its last sign of life (a batch or a
    renewal of its lease), ``lease`` how long a run outlives its producing process: within
    about that time after a process dies, its runs are marked failed and their readers end
    with an error.  ``write_interval`` is the least time between two writes of the batches
    this process produces: the batches that become ready meanwhile go to Redis in one command
    (fewer round trips, for up to that much more latency; under load the wait stretches, up to
    four times it); the first batch after a quiet moment goes at once.

    One store serves one event loop at a time (a host's; the WSGI hosts share one through
    their portal): it runs a background task there, on the first call.  ``await
    store.aclose()`` (or ``async with store``) stops it; so does the end of the loop.
    Needs the ``redis`` extra: ``pip install 'streambridge[redis]'``.
    """

    def __init__(
        self,
        url_or_client: str | coredis.Redis[str] | coredis.RedisCluster[str] = (
            "redis://127.0.0.1:6379"
        ),
        *,
        prefix: str = "streambridge",
        max_events: int = 100_000,
        max_bytes: int = 16 << 20,
        ttl: float = 300.0,
        idle_ttl: float = 3600.0,
        lease: float = 5.0,
        write_interval: float = 0.005,
    ) -> None:
        if max_events < 1 or max_bytes < 1:
            raise ValueError("max_events= and max_bytes= must be at least 1")
        for name, value, zero in (
            ("ttl", ttl, True),
            ("idle_ttl", idle_ttl, False),
            ("lease", lease, False),
            ("write_interval", write_interval, True),
        ):
            if not (value >= 0 if zero else value > 0):  # NaN fails both
                least = ">= 0" if zero else "> 0"
                raise ValueError(f"{name}= must be a number of seconds {least}, got {value!r}")
        if not prefix or "{" in prefix or "}" in prefix:
            raise ValueError(f"prefix= must be a non-empty name without braces, got {prefix!r}")
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.idle_ttl = idle_ttl
        self.lease = lease
        self.write_interval = write_interval
        self.prefix = prefix
        self.client = _client(url_or_client)
        self._cluster = type(self.client).__name__ == "RedisCluster"
        self.owner = os.urandom(8).hex()
        """This store's id: where other processes send the stops of runs it produces."""
        self._keys = _Keys(prefix)
        self._scripts = _Scripts(self.client)
        self._service: _Service | None = None
        self._done = False
        self._producing: dict[str, _Producer] = {}
        self._follows: dict[str, _Follow] = {}
        self._inputs: OrderedDict[str, Any] = OrderedDict()  # run id -> its decoded RunInput
        self._reading_meta: dict[str, _Shared] = {}  # run id -> the read of its hash under way

    def __repr__(self) -> str:
        return f"<RedisStore {self.prefix!r}: {len(self._producing)} runs produced here>"

    async def __aenter__(self) -> RedisStore:
        await self._ready()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the store's background task and close its connections, once the batches and
        the runs' ends on their way are written; the store is done (a call after this raises
        :class:`StoreUnavailableError`)."""
        self._done = True  # no new run from here on (see create)
        service = self._service
        if service is not None:
            with anyio.CancelScope(shield=True):
                for producer in list(self._producing.values()):  # the batches on their way
                    await producer.written(raising=False)
                # And the runs' ends being written, including any begun meanwhile (a finished
                # run leaves _producing as its event is set).
                while ends := [
                    p.finished for p in self._producing.values() if p.finished is not None
                ]:
                    await ends[0].wait()
            self._service = None
            service.cancel()
            with anyio.CancelScope(shield=True):
                await service.closed.wait()
        for follow in list(self._follows.values()):
            follow.fail(UNAVAILABLE_MESSAGE)
        self._follows.clear()

    # -- the producer's side ---------------------------------------------------------------------

    async def create(self, record: RunRecord) -> None:
        if self._done:
            raise StoreUnavailableError(_CLOSED)
        writer = await self._writer()
        log, meta, lease = self._keys.run(record.run_id)
        payload = encode_input(record.input, record.protocol)
        thread_id = record.thread_id or ""
        tag = self._keys.tag(record.run_id)
        op = _op("c", tag, payload, record.protocol, thread_id, repr(record.created_at))
        created = await writer.call((meta, lease), op)
        if not created:
            raise RunExistsError(f"run {record.run_id!r} was already started")
        if thread_id:
            async with self._unavailable():
                await self.client.set(
                    self._keys.thread(thread_id), record.run_id, px=_ms(self.idle_ttl)
                )
        self._producing[record.run_id] = _Producer(record, (log, meta), tag)
        self._remember_input(record.run_id, record.input)

    async def append(self, run_id: str, chunks: Sequence[Chunk]) -> None:
        """Add the batch and return before it is written: its write goes with the other runs'
        (see :class:`_Writer`); the run's next ``append`` (or its ``finish``) waits for it and
        raises if it failed, and a failed write stops the run at once."""
        producer = self._producing.get(run_id)
        if producer is None:
            raise RuntimeError(
                f"run {run_id!r} is not produced by this store; only its producer appends"
            )
        if not chunks:
            return
        try:
            payload = encode_chunks(chunks)
            size = _utf8_size(payload)  # for the write's framing; a lone surrogate fails here
        except (TypeError, ValueError) as exc:
            message = f"run {run_id!r}: a chunk holds a value JSON cannot carry: {exc}"
            raise ValueError(message) from exc
        writer = self._serving() or await self._writer()
        if producer.writing is not None or producer.error is not None:
            await producer.written()  # one batch of a run in flight: Redis slow, the run waits
        start = producer.length
        end = start + len(chunks)
        trimmed = producer.bound(start, end, len(payload) + 64 * len(chunks), self)
        # This process's readers get the batch now, not a write (and up to write_interval)
        # later; one that attaches meanwhile gets it from ``inflight``.  If it cannot be
        # stored, the run stops with an error, and they get that end.
        batch = list(chunks)
        follow = self._follows.get(run_id)
        if follow is not None:
            follow.feed(start, batch, self)
        producer.inflight = batch
        producer.record.length, producer.record.trimmed = end, trimmed  # as its readers see it
        writer.add_batch(producer, end, payload, size, trimmed)

    async def finish(self, run_id: str, status: RunStatus) -> None:
        producer = self._producing.get(run_id)
        lost = False  # a batch its readers here were fed is not in Redis
        if producer is not None:
            producer.stop.set()  # nothing left to stop
            # Closing the store waits for this: an end cut off by the close would leave the
            # run "running" in Redis, and its readers elsewhere would end it as lost once its
            # lease lapsed.
            producer.finished = anyio.Event()
            with anyio.CancelScope(shield=True):  # the end goes after the last batch
                lost = not await producer.written(raising=False)
            if lost:
                logger.error("run %s: its last chunks could not be stored", run_id)
                status = RunStatus.ERROR
        try:
            writer = await self._writer()
            op = _op("f", self._keys.tag(run_id), status.value)
            thread_id = await writer.call(self._keys.run(run_id), op)
            if thread_id:
                async with self._unavailable():
                    await self._scripts.release_thread(
                        keys=[self._keys.thread(str(thread_id))], args=[run_id]
                    )
        except BaseException:
            if (follow := self._follows.get(run_id)) is not None:
                follow.fail(UNAVAILABLE_MESSAGE)
            raise
        else:
            # Looked up now, not before the writes: a reader that attached meanwhile has a
            # buffer only ``append`` feeds, and nothing but this ends it.
            if (follow := self._follows.get(run_id)) is not None:
                if lost:
                    follow.fail(UNAVAILABLE_MESSAGE)
                else:
                    follow.end()
        finally:
            # Finished once its end is in Redis (or cannot be): whoever watches the record
            # then finds the end in Redis too.
            if producer is not None:
                producer.record.status = status
                assert producer.finished is not None
                producer.finished.set()
            self._producing.pop(run_id, None)

    async def wait_stop(self, run_id: str) -> None:
        producer = self._producing.get(run_id)
        if producer is not None:
            await producer.stop.wait()

    # -- anybody's side --------------------------------------------------------------------------

    async def get(self, run_id: str) -> RunRecord | None:
        producer = self._producing.get(run_id)
        if producer is not None:  # the live record, as MemoryStore's
            return producer.record
        await self._ready()
        meta = await self._meta(run_id)
        if meta is None:
            return None
        return RunRecord(
            run_id=run_id,
            thread_id=meta.get("thread") or None,
            input=self._input(run_id, meta["input"]),
            protocol=meta["protocol"],
            status=RunStatus(meta["status"]),
            length=int(meta["length"]),
            trimmed=int(meta["trimmed"]),
            created_at=float(meta["created_at"]),
        )

    async def active_run(self, thread_id: str) -> str | None:
        await self._ready()
        async with self._unavailable():
            run_id = await self.client.get(self._keys.thread(thread_id))
        if run_id is None:
            return None
        meta = await self._meta(run_id)
        return run_id if meta is not None and meta["status"] == "running" else None

    async def read(self, run_id: str, position: int = 0) -> RedisCursor:
        await self._ready()
        producer = self._producing.get(run_id)
        if producer is not None:  # made here: what Redis would say is at hand, and more
            length, trimmed = producer.record.length, producer.record.trimmed
        else:
            meta = await self._meta(run_id)
            if meta is None:
                raise KeyError(run_id)
            length, trimmed = int(meta["length"]), int(meta["trimmed"])
        if position < 0 or position > length:
            raise ValueError(f"position {position} is outside run {run_id!r}'s log (0 to {length})")
        if position < trimmed:
            raise _trimmed_error(run_id, length - trimmed, position)
        follow = self._follows.get(run_id)
        if follow is not None and not follow.read_id:  # another reader is loading it
            await follow.ready.wait()
        if follow is None or position < follow.start:
            follow = await self._load(run_id, position, length)
        return RedisCursor(self, follow, position)

    async def request_stop(self, run_id: str) -> bool:
        await self._ready()
        _, meta, lease = self._keys.run(run_id)
        async with self._unavailable():
            answer = await self._scripts.stop(keys=[meta, lease], args=[])
            if not answer:
                return False
            owner, alive = answer
            producer = self._producing.get(run_id)
            if producer is not None:
                producer.stop.set()
            elif not alive:  # its process is gone: fail it here, for its readers
                await self._lapse([run_id])
            else:
                await self.client.xadd(
                    self._keys.process(str(owner)),
                    {"stop": run_id},
                    trim_strategy=_pure("MAXLEN"),
                    threshold=1000,
                    trim_operator=_pure("APPROXIMATELY"),
                )
        return True

    # -- reading the log -------------------------------------------------------------------------

    async def _meta(self, run_id: str) -> dict[str, str] | None:
        """The run's hash; a run whose lease has lapsed is failed first, so every caller sees
        it ended.  Callers that ask at the same time share one read (a crowd of readers
        attaching to one run would each wait for a pooled connection)."""
        while (shared := self._reading_meta.get(run_id)) is not None:
            await shared.done.wait()
            if isinstance(shared.outcome, StoreUnavailableError):
                raise StoreUnavailableError(str(shared.outcome)) from shared.outcome
            if not isinstance(shared.outcome, BaseException):
                return shared.outcome
            # the one that read it was cancelled: read it again
        shared = self._reading_meta[run_id] = _Shared()
        try:
            found = shared.outcome = await self._read_meta(run_id)
        except BaseException as exc:
            shared.outcome = exc
            raise
        finally:
            del self._reading_meta[run_id]
            shared.done.set()
        return found

    async def _read_meta(self, run_id: str) -> dict[str, str] | None:
        _, meta, lease = self._keys.run(run_id)
        async with self._unavailable():
            async with self.client.pipeline(transaction=False) as pipe:
                fields = pipe.hgetall(meta)
                alive = pipe.exists([lease])
            found = dict(await fields)
            lapsed = found.get("status") == "running" and not await alive
            if lapsed and run_id not in self._producing:
                await self._lapse([run_id])
                found = dict(await self.client.hgetall(meta))
        return found or None

    async def _load(self, run_id: str, position: int, length: int) -> _Follow:
        """The run's log from ``position`` into its local buffer (a new one, or the one its
        other readers share, extended back); followed from then on."""
        follow = self._follows.get(run_id)
        producer = self._producing.get(run_id)
        if follow is None:
            follow = self._follows[run_id] = _Follow(run_id, self._keys.run(run_id)[0], position)
            if producer is not None and position == producer.record.length:
                follow.loaded([], "local", self)  # nothing to read: append feeds it from here
                return follow
        inflight = None if producer is None else producer.inflight
        first = 0 if producer is None else producer.length  # where ``inflight`` starts
        stored = length if producer is None else producer.length
        follow.loading += 1
        try:
            async with self._unavailable():
                entries = await self.client.xrange(follow.key, f"({position}-0", "+")
            chunks, ended, last_id = _entries_from(position, entries, run_id, stored)
            if inflight is not None:  # fed before the read, maybe not stored by then
                have = position + len(chunks)
                if first <= have < first + len(inflight):
                    chunks += inflight[have - first :]
            if follow.read_id:  # others read it already: the part before theirs
                follow.prepend(position, chunks)
            else:
                follow.loaded(chunks, last_id or f"{position}-0", self)
                if ended:
                    follow.end()
                elif producer is None:
                    await self._follow(follow)
        except BaseException:
            if not follow.cursors and follow.loading == 1:
                self._drop(follow)
            raise
        finally:
            follow.loading -= 1
        return follow

    async def _follow(self, follow: _Follow) -> None:
        """Have the follower read this run's stream too: wake its ``XREAD`` in flight."""
        service = self._service
        assert service is not None
        service.followed[follow.key] = follow
        if self._cluster:
            assert service.group is not None
            service.group.start_soon(service.follow_alone, follow)
            return
        if service.waking:  # one wake-up per XREAD is enough, however many runs join
            return
        service.waking = True
        own = self._keys.process(self.owner)
        async with self._unavailable(), self.client.pipeline(transaction=False) as pipe:
            pipe.xadd(
                own,
                {"wake": follow.run_id},
                trim_strategy=_pure("MAXLEN"),
                threshold=100,
                trim_operator=_pure("APPROXIMATELY"),
            )
            pipe.pexpire(own, _ms(self.idle_ttl))  # gone some time after this process is

    def _drop(self, follow: _Follow) -> None:
        if self._follows.get(follow.run_id) is follow:
            del self._follows[follow.run_id]
        if self._service is not None:
            self._service.followed.pop(follow.key, None)

    def _closed(self, cursor: RedisCursor) -> None:
        follow = cursor.follow
        follow.cursors.discard(cursor)
        follow.waiters.pop(cursor, None)
        if not follow.cursors and not follow.loading:
            self._drop(follow)
        else:
            follow.release()

    async def _lapse(self, run_ids: Iterable[str]) -> list[Any]:
        """Fail the runs whose lease lapsed (one round trip); each one's answer: 1 failed now,
        0 alive or ended already, -1 gone."""
        error = encode_chunks([Error(LOST_MESSAGE)])
        async with self._unavailable():
            async with self.client.pipeline(transaction=False) as pipe:
                answers = [
                    self._scripts.lapse(
                        keys=list(self._keys.run(run_id)), args=[error, _ms(self.ttl)], client=pipe
                    )
                    for run_id in run_ids
                ]
            return [await answer for answer in answers]

    def _input(self, run_id: str, text: str) -> Any:
        run_input = self._inputs.get(run_id)
        if run_input is None:
            run_input = decode_input(text)
            self._remember_input(run_id, run_input)
        return run_input

    def _remember_input(self, run_id: str, run_input: Any) -> None:
        self._inputs[run_id] = run_input
        if len(self._inputs) > 4096:
            self._inputs.popitem(last=False)

    # -- the background task -----------------------------------------------------------------

    async def _ready(self) -> None:
        """Start the store's task on this event loop, the first time; refuse another loop."""
        service = self._service
        if service is None:
            if self._done:
                raise StoreUnavailableError(_CLOSED)
            service = self._service = _Service(self)
            service.start()
        elif service.loop is not _current_loop():
            raise RuntimeError(
                "this RedisStore serves another event loop; a store serves one loop at a time "
                "(build one per loop, or aclose() it before using it from another)"
            )
        if not service.ready.is_set():
            await service.ready.wait()
            if service.error is not None:
                self._service = None
                raise StoreUnavailableError(str(service.error)) from service.error

    def _serving(self) -> _Writer | None:
        """The writer, if the store's task serves this loop already (no await: a run's every
        batch asks)."""
        service = self._service
        if (
            service is None
            or not service.ready.is_set()
            or service.error is not None
            or service.loop is not _current_loop()
        ):
            return None
        return service.writer

    async def _writer(self) -> _Writer:
        writer = self._serving()
        if writer is None:
            await self._ready()
            assert self._service is not None
            writer = self._service.writer
        return writer

    @asynccontextmanager
    async def _unavailable(self) -> AsyncIterator[None]:
        """Redis failing, as the error a host turns into a 503."""
        from coredis.exceptions import RedisError, ResponseError

        try:
            with anyio.fail_after(_COMMAND_TIMEOUT):
                yield
        except ResponseError:
            raise  # a bug (a script, a key of the wrong type): not an outage
        except (RedisError, OSError, TimeoutError, anyio.ClosedResourceError) as exc:
            raise StoreUnavailableError(
                f"the run store (Redis) cannot be reached: {type(exc).__name__}: {exc}"
            ) from exc


class _Shared:
    """A read that concurrent callers share: its answer, or the error it ended with."""

    __slots__ = ("done", "outcome")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.outcome: dict[str, str] | BaseException | None = None


class _Scripts:
    def __init__(self, client: Any) -> None:
        register = client.register_script
        self.write = register(_WRITE)
        self.lapse = register(_LAPSE)
        self.stop = register(_STOP)
        self.release_thread = register(_RELEASE_THREAD)


class _Producer:
    """What the producing process keeps of a run: where the store's limits cut its log, and
    its batch on its way to Redis."""

    __slots__ = (
        "bytes",
        "error",
        "finished",
        "inflight",
        "kept",
        "keys",
        "length",
        "op",
        "record",
        "stop",
        "writing",
        "writing_end",
    )

    def __init__(self, record: RunRecord, keys: tuple[str, str], tag: str) -> None:
        self.record = record
        self.keys = keys  # its log and meta (a cluster routes its batches by them)
        self.op = _op("a", tag)  # how its batches' operations start
        self.length = 0  # stored in Redis (``record.length``: fed to this process's readers)
        self.inflight: list[Chunk] | None = None  # from ``length`` on: fed here, on its way
        self.writing: _Batch | None = None  # the write that carries it
        self.writing_end = 0  # where it ends
        self.error: StoreUnavailableError | None = None  # a write failed: the run is lost
        self.stop = LazyEvent()
        self.finished: anyio.Event | None = None  # its end being written: set once it is
        # Three numbers a batch, flat: its first kept position, its end, the size of a chunk.
        # (A list a batch was an object a token for the garbage collector to walk.)
        self.kept: deque[float] = deque()
        self.bytes = 0.0

    async def written(self, *, raising: bool = True) -> bool:
        """Wait for the batch in flight; whether every batch was stored (else it raises)."""
        if self.writing is not None:
            await self.writing.done.wait()
        if self.error is not None and raising:
            raise self.error
        return self.error is None

    def settle(self, outcome: object) -> None:
        """The writer's word on the batch in flight: stored (``1``), the run no longer running
        in Redis (``0``), or the error that kept it from Redis.  A lost batch stops the run."""
        self.inflight = self.writing = None
        if outcome == 1:
            self.length = self.writing_end
            return
        if isinstance(outcome, StoreUnavailableError):
            self.error = outcome
        elif isinstance(outcome, BaseException):
            self.error = StoreUnavailableError(
                f"the run store (Redis) cannot be reached: {outcome}"
            )
            self.error.__cause__ = outcome
        else:  # its lease lapsed (this process stalled) or it expired
            self.error = StoreUnavailableError(
                f"run {self.record.run_id!r} is no longer running in the store (its lease "
                "lapsed or it expired); it cannot go on"
            )
        self.stop.set()

    def bound(self, start: int, end: int, size: int, store: RedisStore) -> int:
        """Count the batch ``start``-``end`` in; the position before which the log drops its
        chunks: MemoryStore's limits, chunk by chunk (a chunk's size is its batch's average).
        The stream keeps a partly dropped batch whole; readers never see its dropped part."""
        kept = self.kept
        kept += (start, end, size / (end - start))
        self.bytes += size
        floor = end - store.max_events
        if kept[0] >= floor and self.bytes <= store.max_bytes:
            return int(kept[0])  # within the limits: the usual case
        while True:
            first, first_end, per = kept[0], kept[1], kept[2]
            over = self.bytes - store.max_bytes
            last = len(kept) == 3
            if first >= floor and (over <= 0 or (last and first_end - first <= 1)):
                return int(first)
            drop = max(floor - first, math.ceil(over / per) if over > 0 else 0)
            drop = min(drop, first_end - first - (1 if last else 0))
            self.bytes -= drop * per
            if first + drop >= first_end:
                for _ in range(3):
                    kept.popleft()
            else:
                kept[0] = first + drop


class _Follow:
    """One run's log as this process's readers see it: the chunks from ``start`` to
    ``length``, fed by the follower (or by ``append``, for a run produced here)."""

    __slots__ = (
        "bytes",
        "chunks",
        "cursors",
        "ended",
        "key",
        "length",
        "loading",
        "pending",
        "read_id",
        "ready",
        "run_id",
        "start",
        "trimmed",
        "waiters",
    )

    def __init__(self, run_id: str, key: str, position: int) -> None:
        self.run_id = run_id
        self.key = key
        self.chunks: deque[Chunk] = deque()
        self.start = self.length = self.trimmed = position
        self.bytes = 0
        self.ended = False
        self.read_id = ""  # the last stream id read ("": its first read is under way)
        self.pending: list[Callable[[], object]] = []  # what came during its first read
        self.ready = LazyEvent()  # set after its first read
        self.loading = 0
        self.cursors: set[RedisCursor] = set()
        self.waiters: dict[object, Callable[[], object]] = {}

    def wake(self) -> None:
        waiters, self.waiters = self.waiters, {}
        for callback in waiters.values():
            callback()

    def loaded(self, chunks: list[Chunk], read_id: str, store: RedisStore) -> None:
        """Its first read: the chunks from ``start`` up to stream id ``read_id``; then what
        ``append`` fed it meanwhile (skipped where the read had it already)."""
        self.chunks.extend(chunks)
        self.length += len(chunks)
        self.bytes += sum(map(chunk_size, chunks))
        self.read_id = read_id
        pending, self.pending = self.pending, []
        for apply in pending:
            apply()
        self._bound(store)
        self.ready.set()

    def prepend(self, position: int, chunks: list[Chunk]) -> None:
        """Chunks from ``position``, before ``start``, for a reader that starts there."""
        older = chunks[: self.start - position]
        self.chunks.extendleft(reversed(older))
        self.bytes += sum(map(chunk_size, older))
        self.start -= len(older)
        self.trimmed = min(self.trimmed, self.start)

    def feed(self, start: int, chunks: list[Chunk], store: RedisStore) -> None:
        """A batch at ``start``; what the buffer has already is skipped, a gap (the stream
        was trimmed before this process read it) drops what came before."""
        if not self.read_id:
            self.pending.append(lambda: self.feed(start, chunks, store))
            return
        if self.ended or start + len(chunks) <= self.length:
            return
        if start > self.length:
            self.chunks.clear()
            self.bytes = 0
            self.start = self.trimmed = self.length = start
        elif start < self.length:
            chunks = chunks[self.length - start :]
        self.chunks.extend(chunks)
        self.length += len(chunks)
        self.bytes += sum(map(chunk_size, chunks))
        self._bound(store)
        self.wake()

    def _bound(self, store: RedisStore) -> None:
        """The store's limits on what this process holds for readers that fell behind."""
        chunks = self.chunks
        while len(chunks) > store.max_events or (self.bytes > store.max_bytes and len(chunks) > 1):
            self.bytes -= chunk_size(chunks.popleft())
            self.start += 1
            self.trimmed = self.start

    def release(self) -> None:
        """Forget the chunks every reader has (the stream still has them)."""
        cursors = self.cursors
        if not cursors or self.loading:
            return
        # Most runs have one reader: no min() over a generator for it.
        if len(cursors) == 1:
            needed = next(iter(cursors)).position
        else:
            needed = min(cursor.position for cursor in cursors)
        chunks = self.chunks
        if needed >= self.length:
            chunks.clear()
            self.bytes = 0
            self.start = self.length
            return
        while self.start < needed and chunks:
            self.bytes -= chunk_size(chunks.popleft())
            self.start += 1

    def end(self) -> None:
        if not self.read_id:
            self.pending.append(self.end)
            return
        self.ended = True
        self.wake()

    def fail(self, message: str) -> None:
        """End with an error chunk: the readers get the protocol's error end."""
        if not self.ended:
            self.read_id = self.read_id or "failed"
            self.ready.set()
            self.chunks.append(Error(message))
            self.length += 1
            self.ended = True
            self.wake()


def _entries_from(
    position: int, entries: Sequence[Any], run_id: str, length: int
) -> tuple[list[Chunk], bool, str]:
    """The chunks from ``position`` in stream entries, whether the end is among them, and the
    last entry's id; :class:`LogTrimmedError` when the entries start after ``position``."""
    chunks: list[Chunk] = []
    ended = False
    last_id = ""
    expected = position
    for entry in entries:
        last_id = entry.identifier
        fields = entry.field_values
        if "end" in fields:
            ended = True
            continue
        batch = decode_chunks(fields["c"])
        end = int(last_id.partition("-")[0])
        start = end - len(batch)
        if start > expected:
            raise _trimmed_error(run_id, length - start, position)
        chunks += batch[expected - start :]
        expected = end
    if not entries and position < length:  # trimmed (or expired) since the hash was read
        raise _trimmed_error(run_id, 0, position)
    return chunks, ended, last_id


def _trimmed_error(run_id: str, kept: int, position: int) -> LogTrimmedError:
    return LogTrimmedError(
        f"run {run_id!r} kept only its last {kept} chunks (the store's max_events= or "
        f"max_bytes=), so it cannot be read from chunk {position}"
    )


class RedisCursor:
    """A reader's place in a :class:`RedisStore` run: reads the local buffer the process's
    follower fills, without I/O."""

    __slots__ = ("_closed", "_store", "_wakeup", "follow", "position")

    def __init__(self, store: RedisStore, follow: _Follow, position: int) -> None:
        self._store = store
        self.follow = follow
        self.position = position
        self._closed = False
        self._wakeup: Wakeup | None = None
        follow.cursors.add(self)

    def take_batch(self) -> list[Chunk] | None:
        if self._closed:
            return None
        follow = self.follow
        if self.position < follow.length:
            if self.position < follow.trimmed:
                raise _trimmed_error(follow.run_id, follow.length - follow.trimmed, self.position)
            start = self.position - follow.start
            chunks = follow.chunks
            batch = list(chunks) if start == 0 else [chunks[i] for i in range(start, len(chunks))]
            self.position = follow.length
            if start == 0:  # it may have been the slowest reader
                follow.release()
            return batch
        return None if follow.ended else []

    def when_ready(self, callback: Callable[[], object]) -> None:
        follow = self.follow
        if self._closed or self.position < follow.length or follow.ended:
            callback()
        else:
            follow.waiters[self] = callback

    async def next_batch(self, idle_timeout: float | None = None) -> list[Chunk] | None:
        while True:
            batch = self.take_batch()
            if batch is None or batch:
                return batch
            wakeup = self._wakeup = self._wakeup or Wakeup()
            self.follow.waiters[self] = wakeup.wake
            if not await wakeup.wait(idle_timeout):
                self.follow.waiters.pop(self, None)
                return []

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._store._closed(self)
        await anyio.lowlevel.checkpoint()


class _Batch:
    """Operations of several runs (see ``_WRITE``), written in one command."""

    __slots__ = ("done", "keys", "ops", "outcomes", "then")

    def __init__(self) -> None:
        self.ops: list[str] = []  # each one packed (see _op)
        self.keys: list[Sequence[str]] = []  # each one's keys (a cluster routes by them)
        # Each operation's callback, or the producer of a run's batch.  (A process with many
        # runs makes more garbage-collector work per object kept per batch.)
        self.then: list[Callable[[object], object] | _Producer | None] = []
        self.outcomes: list[object] = []  # each one's answer, or the error that kept it
        self.done = anyio.Event()

    def settle(self, outcomes: Sequence[object]) -> None:
        self.outcomes = list(outcomes)
        for then, outcome in zip(self.then, self.outcomes, strict=True):
            if type(then) is _Producer:
                then.settle(outcome)
            elif then is not None:
                then(outcome)  # type: ignore[operator]
        self.done.set()


class _Writer:
    """What this process writes of the runs it produces (their creation, batches, ends and
    renewals) in one command per round trip, sent by the store's task: an operation is added,
    and those added while a write is on its way (or within ``write_interval`` of the last) go
    together in the next.  (A command per operation costs each a round trip, and a process with
    many runs spends its time building them; a producer waiting for its write costs a wake-up
    per batch.)"""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.next: _Batch | None = None
        self.ready = anyio.Event()  # ``next`` has an operation
        self.interval = store.write_interval  # stretched under load (see _STRETCH)

    def add(
        self,
        keys: Sequence[str],
        op: str,
        then: Callable[[object], object] | None = None,
    ) -> tuple[_Batch, int]:
        """Add an operation (see ``_WRITE``) and the keys it touches to the next write, and its
        callback; the write and the operation's index in it."""
        gathering = self._gathering()
        index = len(gathering.then)
        gathering.ops.append(op)
        gathering.keys.append(keys)
        gathering.then.append(then)
        return gathering, index

    def add_batch(
        self, producer: _Producer, end: int, payload: str, size: int, trimmed: int
    ) -> None:
        """Add a run's batch (its end, its chunks' text and its length in bytes, the log's
        trimmed count); the write settles it with ``producer``, the one batch of that run in
        flight."""
        gathering = self._gathering()
        gathering.ops.append(f"{producer.op}{end}:{trimmed}:{size}:{payload}")
        gathering.keys.append(producer.keys)
        gathering.then.append(producer)
        producer.writing, producer.writing_end = gathering, end

    def _gathering(self) -> _Batch:
        gathering = self.next
        if gathering is None:
            gathering = self.next = _Batch()
            self.ready.set()
        return gathering

    async def call(self, keys: Sequence[str], op: str) -> object:
        """Add an operation and wait for its answer."""
        batch, index = self.add(keys, op)
        await batch.done.wait()
        outcome = batch.outcomes[index]
        if isinstance(outcome, StoreUnavailableError):
            raise StoreUnavailableError(str(outcome)) from outcome
        if isinstance(outcome, BaseException):  # a bug (a script, a key of the wrong type)
            raise RuntimeError(f"RedisStore: its write failed: {outcome!r}") from outcome
        return outcome

    async def run(self) -> None:
        last = -math.inf  # when the last write was sent
        batch: _Batch | None = None
        try:
            while True:
                await self.ready.wait()
                # Under load, more batches join this one: a round trip costs the client far
                # more CPU than one more run's batch in it (write_interval in
                # docs/guide/redis.md).
                wait = last + self.interval - time.monotonic()
                if wait > 0:
                    await anyio.sleep(wait)
                batch, self.next, self.ready = self.next, None, anyio.Event()
                assert batch is not None
                last = time.monotonic()
                self.interval = self._stretched(len(batch.then))
                try:
                    outcomes: Sequence[object] = await self._send(batch)
                except Exception as exc:
                    outcomes = [exc] * len(batch.then)
                batch.settle(outcomes)
                batch = None
        finally:  # the store is closed: nothing more is written
            closed = StoreUnavailableError(_CLOSED)
            for left in (batch, self.next):
                if left is not None and not left.done.is_set():
                    left.settle([closed] * len(left.then))
            self.next = None

    def _stretched(self, operations: int) -> float:
        """The wait after a write of ``operations`` (see ``_STRETCH``); never past a sixth of
        the lease, so the renewals (every ``lease/3``) reach Redis well within it."""
        store = self.store
        stretched = store.write_interval * min(_STRETCH, 1 + operations / _OPS_PER_STRETCH)
        return max(store.write_interval, min(stretched, store.lease / 6))

    async def _send(self, batch: _Batch) -> list[Any]:
        store = self.store
        write = store._scripts.write
        head = [store.owner, _ms(store.lease), _ms(store.idle_ttl), _ms(store.ttl)]
        async with store._unavailable():
            if not store._cluster:
                return list(await self._evalsha([*head, "".join(batch.ops)]))
            # A cluster runs a script on one slot: one call per operation, pipelined.
            async with store.client.pipeline(transaction=False) as pipe:
                calls = [
                    write(keys=list(keys), args=[*head, op], client=pipe)
                    for keys, op in zip(batch.keys, batch.ops, strict=True)
                ]
            return [(await call)[0] for call in calls]

    async def _evalsha(self, args: list[Any]) -> Any:
        """The script by its digest; loaded first on a Redis that does not have it (restarted,
        flushed).  (What ``Script.__call__`` does, without the two request objects it builds
        around the command: each walks every argument.)"""
        from coredis.exceptions import NoScriptError

        client = self.store.client
        sha = self.store._scripts.write.sha
        try:
            return await client.evalsha(sha, args=args)
        except NoScriptError:
            await client.script_load(_WRITE)
            return await client.evalsha(sha, args=args)


class _Service:
    """The store's task on its event loop: the client's connections, the follower, the lease
    renewals."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.loop = _current_loop()
        self.ready = anyio.Event()
        self.closed = anyio.Event()
        self.error: BaseException | None = None
        self.followed: dict[str, _Follow] = {}  # stream key -> the run followed there
        self.waking = False  # a wake-up entry is on its way to the XREAD in flight
        self.writer = _Writer(store)
        self.cancel: Callable[[], object] = lambda: None
        self.group: anyio.abc.TaskGroup | None = None  # set before ``ready``

    def start(self) -> None:
        self.cancel = spawn_detached(self._serve())

    async def _serve(self) -> None:
        try:
            async with self.store.client, anyio.create_task_group() as group:
                self.group = group
                self.ready.set()
                group.start_soon(self._follow_loop)
                group.start_soon(self._renew_loop)
                group.start_soon(self.writer.run)
        except Exception as exc:  # nothing may escape a detached task
            self.error = exc
            logger.exception("RedisStore: its background task failed")
        finally:
            self.ready.set()
            self.closed.set()

    # -- the follower ----------------------------------------------------------------------------

    async def _follow_loop(self) -> None:
        store = self.store
        own = store._keys.process(store.owner)
        last_own = "0-0"
        block = _ms(store.lease / 4)
        failing_since: float | None = None
        checked = time.monotonic()
        while True:
            self.waking = False
            streams = {own: last_own}
            if not store._cluster:  # on a cluster each run has its own loop (follow_alone)
                for key, follow in self.followed.items():
                    streams[key] = follow.read_id
            try:
                reply = await store.client.xread(streams, count=_READ_COUNT, block=block)
            except Exception as exc:
                failing_since = await self._outage(failing_since, exc)
                continue
            failing_since = None
            for key, entries in (reply or {}).items():
                if key == own:
                    last_own = entries[-1].identifier
                    self._commands(entries)
                else:
                    self._deliver(key, entries)
            if time.monotonic() - checked >= store.lease / 4:
                checked = time.monotonic()
                await self._check_leases()

    async def follow_alone(self, follow: _Follow) -> None:
        """On a Redis Cluster: one run's stream, read by a blocking ``XREAD`` of its own (a
        cluster refuses an ``XREAD`` whose streams are on different slots, and each run is on
        its own), until its end or its last reader leaves."""
        store = self.store
        block = _ms(store.lease / 4)
        failing_since: float | None = None
        while self.followed.get(follow.key) is follow:
            try:
                reply = await store.client.xread(
                    {follow.key: follow.read_id}, count=_READ_COUNT, block=block
                )
            except Exception as exc:
                failing_since = await self._outage(failing_since, exc)
                continue
            failing_since = None
            for key, entries in (reply or {}).items():
                self._deliver(key, entries)

    def _commands(self, entries: Sequence[Any]) -> None:
        for entry in entries:
            run_id = entry.field_values.get("stop")
            producer = self.store._producing.get(run_id) if run_id else None
            if producer is not None:
                producer.stop.set()

    def _deliver(self, key: str, entries: Sequence[Any]) -> None:
        follow = self.followed.get(key)
        if follow is None:  # its readers left while the XREAD was in flight
            return
        store = self.store
        for entry in entries:
            follow.read_id = entry.identifier
            fields = entry.field_values
            if "end" in fields:
                follow.end()
            else:
                batch = decode_chunks(fields["c"])
                end = int(entry.identifier.partition("-")[0])
                follow.feed(end - len(batch), batch, store)
        if follow.ended:
            del self.followed[key]

    async def _check_leases(self) -> None:
        """Fail the followed runs whose producer stopped renewing their lease; end those whose
        keys are gone (expired, or Redis lost them)."""
        follows = [f for f in self.followed.values() if not f.ended]
        if not follows:
            return
        try:
            answers = await self.store._lapse([f.run_id for f in follows])
        except Exception:
            return  # an outage: the follower's XREAD will say
        for follow, answer in zip(follows, answers, strict=True):
            if answer == -1:
                follow.fail(LOST_MESSAGE)
                self.store._drop(follow)

    async def _outage(self, since: float | None, exc: Exception) -> float:
        """Ride out a short outage; past it, end every reader with an error."""
        now = time.monotonic()
        since = now if since is None else since
        if now - since >= _OUTAGE_GRACE:
            if self.store._follows:
                logger.warning("RedisStore: Redis unreachable (%r); ending its readers", exc)
            for follow in list(self.store._follows.values()):
                follow.fail(UNAVAILABLE_MESSAGE)
                self.store._drop(follow)
            since = now
        await anyio.sleep(0.1)
        return since

    # -- the producer's leases -------------------------------------------------------------------

    async def _renew_loop(self) -> None:
        store = self.store
        while True:
            await anyio.sleep(store.lease / 3)
            producing = list(store._producing.items())
            if not producing:
                continue
            try:
                await self._renew(producing)
            except Exception as exc:
                logger.warning("RedisStore: could not renew its runs' leases: %r", exc)

    async def _renew(self, producing: list[tuple[str, _Producer]]) -> None:
        """Renew the runs' leases and their keys' time to live, in the next write; a run that
        another process failed meanwhile (this one stalled) is stopped."""
        keys = self.store._keys
        for run_id, producer in producing:
            op = _op("r", keys.tag(run_id))
            self.writer.add(keys.run(run_id), op, partial(_renewed, producer))
            if producer.record.thread_id is not None:
                thread = keys.thread(producer.record.thread_id)
                self.writer.add((thread,), _op("x", thread))
        own = keys.process(self.store.owner)
        await self.writer.call((own,), _op("x", own))


def _renewed(producer: _Producer, outcome: object) -> None:
    if outcome == 0:  # failed by another process (this one stalled): stop it
        producer.stop.set()


def _current_loop() -> object:
    """The running event loop (under trio, its root task): cheaper than anyio's token, and
    checked on every call."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        import trio

        return trio.lowlevel.current_root_task()


def _client(url_or_client: Any) -> Any:
    try:
        import coredis
    except ImportError:
        raise ImportError(
            "RedisStore needs the 'coredis' package: pip install 'streambridge[redis]'"
        ) from None
    if isinstance(url_or_client, str):
        # The follower's blocking XREAD holds one connection; every other command is
        # multiplexed on the rest, so a few serve any number of runs and readers.
        client = coredis.Redis.from_url(
            url_or_client, decode_responses=True, max_connections=_CONNECTIONS
        )
        pool = client.connection_pool
        pool.connection_class = _closing_buffers(pool.connection_class)
        return client
    if not isinstance(url_or_client, coredis.Redis | coredis.RedisCluster):
        raise TypeError(
            f"RedisStore takes a redis:// URL or a coredis client, got {url_or_client!r}"
        )
    # The writes frame their fields by their length in UTF-8 bytes, and read back text.
    encoding = codecs.lookup(getattr(url_or_client, "encoding", "utf-8")).name
    if encoding != "utf-8" or not getattr(url_or_client, "decode_responses", False):
        raise ValueError(
            "RedisStore needs a coredis client built with decode_responses=True and "
            f"encoding='utf-8' (the default), got encoding={encoding!r}, "
            f"decode_responses={getattr(url_or_client, 'decode_responses', None)!r}"
        )
    return url_or_client


_BUFFERS = ("_push_message_buffer", "_streamed_message_buffer", "_write_buffer")


def _closing_buffers(connection_class: Any) -> Any:
    """``connection_class`` closing its buffers once it has run.  coredis 6.9 opens them when
    a connection is built and closes them only after connecting: each connect that fails
    (Redis down, while the store retries) leaves them for the garbage collector, which warns
    (``ResourceWarning``)."""

    class Connection(connection_class):  # type: ignore[misc]
        async def run(self, *args: Any, **kwargs: Any) -> None:
            try:
                await super().run(*args, **kwargs)
            finally:
                for name in _BUFFERS:
                    for end in ("_in", "_out"):
                        buffer = getattr(self, name + end, None)
                        if buffer is not None:
                            buffer.close()

    Connection.__name__ = Connection.__qualname__ = connection_class.__name__
    return Connection


def _pure(name: str) -> Any:
    from coredis.tokens import PureToken

    return getattr(PureToken, name)
