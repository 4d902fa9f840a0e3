"""What only the Redis store has to get right: the chunks and inputs it writes as text, several
processes (here: several stores, each with its own connections and follower) sharing runs, a
producer that dies, Redis going away, and few connections for many readers.

The tests that every store passes are in test_run_store.py; across real server processes, in
behaviour/test_resume_redis.py.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import pytest
from anyio import wait_all_tasks_blocked
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streambridge as sb
from streambridge._jsonlib import dumps
from streambridge._size import chunk_size
from streambridge.chunks import Chunk, StateUpdate, TextDelta, ToolResult
from streambridge.runs import (
    MemoryStore,
    RunRecord,
    RunStatus,
    StoreUnavailableError,
    read_run,
    record,
)
from streambridge.runs.codec import (
    _compact,
    decode_chunks,
    decode_input,
    encode_chunks,
    encode_input,
)
from streambridge.runs.redis import (
    LOST_MESSAGE,
    UNAVAILABLE_MESSAGE,
    RedisStore,
    _Producer,
    _Writer,
)
from support.behaviour.protocol_table import request_body
from support.chunk_strategies import chunk_sequences
from support.redis_server import (
    PrivateRedis,
    cluster_client,
    redis_url,
    release_cluster_clients,
    unique_prefix,
)
from support.scenarios import fixed_input
from test_run_store import STOPPED_END, new_record

pytestmark = pytest.mark.anyio


DATA_STREAM = sb.get_protocol("data-stream")


async def read_all(stream: sb.EncodedStream) -> bytes:
    return b"".join([data async for data in stream])


@pytest.fixture(params=["redis", "redis-cluster"])
async def where(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """Where the stores of a test that runs on a cluster too keep their runs: a Redis URL, or
    ``CLUSTER`` (this session's private Redis Cluster)."""
    yield CLUSTER if request.param == "redis-cluster" else redis_url()
    release_cluster_clients()


CLUSTER = "cluster"


@pytest.fixture
async def private_redis() -> AsyncIterator[PrivateRedis]:
    """A Redis of this test's own, to stop, restart and count connections on."""
    server = PrivateRedis().start()
    yield server
    server.stop()


async def two_stores(where: str, **options: Any) -> tuple[RedisStore, RedisStore]:
    """Two stores on one prefix: two processes' views of the same runs."""
    prefix = unique_prefix("two")

    def store() -> RedisStore:
        client = cluster_client() if where == CLUSTER else where  # a cluster client each
        return RedisStore(client, prefix=prefix, **{"idle_ttl": 60, **options})

    return store(), store()


# -- what a stream entry holds ----------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=chunk_sequences())
def test_a_batch_of_chunks_reads_back_exactly(chunks: list[Chunk]) -> None:
    text = encode_chunks(chunks)
    assert text == dumps([_compact(chunk) for chunk in chunks])  # item by item, as in one
    decoded = decode_chunks(text)
    assert decoded == chunks
    assert [type(chunk) for chunk in decoded] == [type(chunk) for chunk in chunks]


@settings(max_examples=300, deadline=None)
@given(
    batches=st.lists(st.tuples(st.integers(1, 6), st.integers(0, 50)), max_size=30),
    max_events=st.integers(1, 20),
    max_bytes=st.integers(1, 2_000),
)
def test_the_producer_trims_its_log_where_memory_store_would(
    batches: list[tuple[int, int]], max_events: int, max_bytes: int
) -> None:
    """A run's log is bounded chunk by chunk, each chunk weighing its batch's average: here
    every chunk of a batch weighs the same whole number, so MemoryStore, which weighs each
    chunk, must trim at the same place.  (Bookkeeping only: no Redis is reached.)"""
    limits = {"max_events": max_events, "max_bytes": max_bytes}
    redis_store = RedisStore("redis://127.0.0.1:1/0", **limits)
    memory_store = MemoryStore(**limits)
    rec = new_record()
    producer = _Producer(new_record(), ("log", "meta"), "{tag}")

    async def main() -> None:
        await memory_store.create(rec)
        length = 0
        for count, extra in batches:
            batch = [TextDelta("x" * extra) for _ in range(count)]
            weight = sum(map(chunk_size, batch))
            kept = producer.bound(length, length + count, weight, redis_store)
            length += count
            await memory_store.append(rec.run_id, batch)
            assert kept == rec.trimmed

    anyio.run(main)


def test_the_text_deltas_are_bare_strings_and_other_chunks_drop_their_defaults() -> None:
    batch = [TextDelta("a"), TextDelta("b", parent_id="p"), ToolResult("c", {"x": [1]})]
    assert encode_chunks(batch) == '["a",[0,"b","p"],[5,"c",{"x":[1]}]]'
    assert decode_chunks('[[13,[{"type":"set","path":[],"value":1}]]]') == [
        StateUpdate(({"type": "set", "path": [], "value": 1},))
    ]


@pytest.mark.parametrize("protocol", sb.protocol_names())
def test_a_runs_input_reads_back_as_its_protocol_parsed_it(protocol: str) -> None:
    body = request_body(protocol, owner="alice")
    run_input = sb.get_protocol(protocol).parse_request(body)
    run_input.run_id, run_input.thread_id, run_input.created_at = "run_1", "thread_1", 1234
    assert decode_input(encode_input(run_input, protocol)) == run_input


def test_an_input_built_in_code_keeps_what_json_can_hold() -> None:
    run_input = fixed_input(run_id="run_2", state={"draft": "x"}, raw=object())
    back = decode_input(encode_input(run_input, "data-stream"))
    assert (back.run_id, back.state, back.raw) == ("run_2", {"draft": "x"}, None)


# -- many processes ---------------------------------------------------------------------------


async def test_a_run_started_by_one_process_is_read_and_stopped_by_another(where: str) -> None:
    producer, other = await two_stores(where)
    async with producer, other:
        cancelled_at: list[float] = []

        async def run(controller: sb.RunController) -> None:
            controller.append_text("working")
            await controller.cancelled.wait()
            cancelled_at.append(time.monotonic())

        rec = await record(producer, sb.create_run(run, input=fixed_input(), grace=0.01), "x")
        theirs = await other.get(rec.run_id)
        assert theirs is not None
        assert theirs.status is RunStatus.RUNNING
        reader = await read_run(other, theirs, DATA_STREAM, heartbeat=None)
        assert await reader.__anext__() == b'0:"working"\n'
        asked = time.monotonic()
        assert await other.request_stop(rec.run_id) is True
        rest = await read_all(reader)
        assert len(cancelled_at) == 1
        assert cancelled_at[0] - asked < 0.15
        assert rest == STOPPED_END  # the stopped end, read in another process
        finished = await other.get(rec.run_id)
        assert finished is not None
        assert finished.status is RunStatus.CANCELLED
        assert await other.request_stop(rec.run_id) is False


async def test_ids_and_chunks_of_any_characters_go_to_redis_and_back_intact(where: str) -> None:
    """A write packs each operation's fields by their length in bytes: ids and chunks with
    colons, newlines and characters beyond ASCII come back, in another process, as they went."""
    producer, other = await two_stores(where)
    run_id, thread_id = "rün:1\n2:😀", "thrëad:9:\n"
    chunks: list[Chunk] = [TextDelta("a:b\n"), TextDelta("ünï 😀 \u2028"), TextDelta("12:3")]
    async with producer, other:
        await producer.create(RunRecord(run_id, thread_id, fixed_input(), "data-stream"))
        for chunk in chunks:  # a batch each, then all in one
            await producer.append(run_id, [chunk])
        await producer.append(run_id, chunks)
        assert await other.active_run(thread_id) == run_id
        await producer.finish(run_id, RunStatus.DONE)
        theirs = await other.get(run_id)
        assert theirs is not None
        assert (theirs.thread_id, theirs.status, theirs.length) == (thread_id, RunStatus.DONE, 6)
        cursor = await other.read(run_id)
        read: list[Chunk] = []
        while (batch := await cursor.next_batch()) is not None:
            read += batch
        assert read == chunks + chunks
        assert await other.active_run(thread_id) is None


async def test_redis_keeps_a_runs_log_within_its_limits(where: str) -> None:
    """The stream in Redis is trimmed too, not only this process's view of it: another process
    finds the last chunks (and one batch more, at most), and is refused the dropped ones."""
    producer, other = await two_stores(where, max_events=5)
    async with producer, other:
        await producer.create(RunRecord("run_trimmed", None, fixed_input(), "data-stream"))
        for index in range(20):
            await producer.append("run_trimmed", [TextDelta(str(index))])
        await producer.finish("run_trimmed", RunStatus.DONE)
        log = producer._keys.run("run_trimmed")[0]
        assert await producer.client.xlen(log) <= 5 + 1 + 1  # a batch more, and the end
        theirs = await other.get("run_trimmed")
        assert theirs is not None
        assert theirs.trimmed == 15
        with pytest.raises(sb.runs.LogTrimmedError):
            await other.read("run_trimmed", 14)
        cursor = await other.read("run_trimmed", 15)
        read: list[Chunk] = []
        while (batch := await cursor.next_batch()) is not None:
            read += batch
        assert read == [TextDelta(str(index)) for index in range(15, 20)]


async def test_a_run_outliving_its_lease_and_idle_time_is_kept_by_its_renewals(where: str) -> None:
    """A run that goes on for several leases and idle times: its process renews its lease and
    its keys' (and its thread's) time to live, so another process still finds it running."""
    producer, other = await two_stores(where, lease=0.6, idle_ttl=1.0)
    async with producer, other:
        await producer.create(RunRecord("run_long", "thread_long", fixed_input(), "x"))
        await producer.append("run_long", [TextDelta("early")])
        await anyio.sleep(2.5)  # four leases, two and a half idle times
        theirs = await other.get("run_long")
        assert theirs is not None
        assert theirs.status is RunStatus.RUNNING
        assert await other.active_run("thread_long") == "run_long"
        await producer.append("run_long", [TextDelta("late")])
        await producer.finish("run_long", RunStatus.DONE)
        cursor = await other.read("run_long")
        read: list[Chunk] = []
        while (batch := await cursor.next_batch()) is not None:
            read += batch
        assert read == [TextDelta("early"), TextDelta("late")]


async def test_a_chunk_that_cannot_be_encoded_is_refused_and_the_run_goes_on() -> None:
    """A lone surrogate has no UTF-8 bytes: ``append`` refuses the batch before anything of it
    is kept, and the run's next batch and its readers carry on as if it had not been asked."""
    store, other = await two_stores(redis_url())
    async with store, other:
        await store.create(RunRecord("run_bad", None, fixed_input(), "x"))
        cursor = await store.read("run_bad")
        with pytest.raises(ValueError, match="JSON cannot carry"):
            await store.append("run_bad", [TextDelta("bad \ud800")])
        await store.append("run_bad", [TextDelta("good")])
        await store.finish("run_bad", RunStatus.DONE)
        assert await cursor.next_batch() == [TextDelta("good")]
        theirs = await other.get("run_bad")  # as Redis has it
        assert theirs is not None
        assert (theirs.status, theirs.length) == (RunStatus.DONE, 1)
        their_cursor = await other.read("run_bad")
        assert await their_cursor.next_batch() == [TextDelta("good")]


async def test_a_run_id_is_started_once_across_processes(where: str) -> None:
    first, second = await two_stores(where)
    async with first, second:
        await first.create(sb.runs.RunRecord("run_once", "t", fixed_input(), "data-stream"))
        with pytest.raises(sb.runs.RunExistsError):
            await second.create(sb.runs.RunRecord("run_once", "t", fixed_input(), "data-stream"))
        assert await second.active_run("t") == "run_once"


async def test_closing_a_store_waits_for_the_end_of_a_run_on_its_way(where: str) -> None:
    """A run's end cut off by its store's close would leave the run "running" in Redis (its
    readers elsewhere would end it as lost once its lease lapsed, its thread would still name
    it): ``aclose`` waits for the end; the closed store refuses new runs."""
    producer, other = await two_stores(where)
    async with other:
        await producer.create(RunRecord("run_closing", "thread", fixed_input(), "data-stream"))
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(producer.finish, "run_closing", RunStatus.DONE)
            await wait_all_tasks_blocked()  # the end is on its way to Redis
            await producer.aclose()
        assert await other.active_run("thread") is None
        finished = await other.get("run_closing")
        assert finished is not None
        assert finished.status is RunStatus.DONE
        with pytest.raises(StoreUnavailableError, match="closed"):
            await producer.create(RunRecord("run_late", None, fixed_input(), "data-stream"))


async def test_readers_of_a_run_whose_process_died_end_with_an_error_within_the_lease(
    where: str,
) -> None:
    lease = 0.4
    dying, other = await two_stores(where, lease=lease)
    async with other:

        async def run(controller: sb.RunController) -> None:
            controller.append_text("half an answer")
            await anyio.sleep_forever()

        rec = await record(dying, sb.create_run(run, input=fixed_input(run_id=None)), "data-stream")
        reader = await read_run(other, (await other.get(rec.run_id)), DATA_STREAM, heartbeat=None)  # type: ignore[arg-type]
        assert await reader.__anext__() == b'0:"half an answer"\n'
        dying._service.cancel()  # type: ignore[union-attr]  # its process is gone: no renewals, no end
        died = time.monotonic()
        with anyio.fail_after(lease * 4):
            rest = await read_all(reader)
        assert time.monotonic() - died < lease * 2
        assert rest.startswith(b'3:"' + LOST_MESSAGE.encode())
        assert rest.splitlines()[-1].startswith(b"d:")
        lost = await other.get(rec.run_id)
        assert lost is not None
        assert lost.status is RunStatus.ERROR
        assert await other.active_run(rec.thread_id or "") is None
    dying._producing.clear()  # what the dead process would have forgotten with it
    await dying.aclose()


async def test_one_process_follows_many_runs_on_few_connections(
    private_redis: PrivateRedis,
) -> None:
    """1,000 runs with two readers each: one follower, a handful of connections."""
    producer, readers = await two_stores(private_redis.url)
    async with producer, readers:
        _, results, connections = await read_runs_twice(
            producer, readers, 1000, lambda: client_count(private_redis.url)
        )
    assert len(results) == 2000
    assert all(result.startswith(b'0:"0 "\n0:"1 "\n0:"2 "\n') for result in results)
    # two stores, each its follower's blocking connection and a few multiplexed ones
    assert connections <= 8, connections


async def read_runs_twice(
    producer: RedisStore,
    readers: RedisStore,
    count: int,
    measure: Callable[[], Awaitable[int]] | None = None,
) -> tuple[list[RunRecord], list[bytes], int | None]:
    """``count`` runs of three tokens on ``producer``, each read to its end by two readers on
    ``readers``; ``measure`` is awaited once every run is followed, before the runs go on."""
    go = anyio.Event()

    async def run(controller: sb.RunController) -> None:
        await go.wait()
        for index in range(3):
            controller.append_text(f"{index} ")
            await anyio.sleep(0.01)

    runs = [
        await record(producer, sb.create_run(run, input=fixed_input(run_id=None)), "data-stream")
        for _ in range(count)
    ]
    results: list[bytes] = []

    async def follow(run_id: str) -> None:
        theirs = await readers.get(run_id)
        assert theirs is not None
        results.append(await read_all(await read_run(readers, theirs, DATA_STREAM, heartbeat=None)))

    async with anyio.create_task_group() as group:
        for rec in runs:
            group.start_soon(follow, rec.run_id)
            group.start_soon(follow, rec.run_id)
        await wait_until(lambda: len(readers._follows) == count)
        measured = None if measure is None else await measure()
        go.set()
    await wait_until(lambda: not producer._producing)
    return runs, results, measured


async def wait_until(condition: Any) -> None:
    with anyio.fail_after(20):
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.01)


async def client_count(url: str) -> int:
    async with RedisStore(url, prefix=unique_prefix("count")) as store:
        listing = await store.client.client_list()
    return len(listing) - 1  # not the asking connection


# -- Redis failing ------------------------------------------------------------------------------


async def test_redis_going_away_mid_run_ends_readers_cleanly_then_service_resumes(
    private_redis: PrivateRedis,
) -> None:
    producer, other = await two_stores(private_redis.url)
    async with producer, other:
        stopped = anyio.Event()

        async def run(controller: sb.RunController) -> None:
            try:
                while True:
                    controller.append_text("x")
                    await anyio.sleep(0.01)
            finally:
                stopped.set()

        rec = await record(
            producer, sb.create_run(run, input=fixed_input(run_id=None)), "data-stream"
        )
        mine = await read_run(producer, rec, DATA_STREAM, heartbeat=None)
        theirs = await read_run(other, (await other.get(rec.run_id)), DATA_STREAM, heartbeat=None)  # type: ignore[arg-type]
        await mine.__anext__(), await theirs.__anext__()
        private_redis.stop()
        with anyio.fail_after(5):
            ends = [await read_all(mine), await read_all(theirs)]
            await stopped.wait()  # the run could not be stored: it was stopped
        for data in ends:
            lines = data.splitlines()
            assert lines[-2] == b'3:"' + UNAVAILABLE_MESSAGE.encode() + b'"'
            assert lines[-1].startswith(b"d:")
        with pytest.raises(StoreUnavailableError, match="cannot be reached"):
            await other.get(rec.run_id)
        private_redis.start()  # the same port: the clients reconnect by themselves
        again = await record(
            producer, sb.create_run(short, input=fixed_input(run_id=None)), "data-stream"
        )
        data = await read_all(
            await read_run(other, (await other.get(again.run_id)), DATA_STREAM, heartbeat=None)
        )  # type: ignore[arg-type]
        assert data.startswith(b'0:"done"\n')


async def short(controller: sb.RunController) -> None:
    controller.append_text("done")


async def test_a_host_answers_503_while_its_store_is_unreachable() -> None:
    from streambridge.asgi import StreamApp

    store = RedisStore(f"redis://127.0.0.1:{PrivateRedis().port}", prefix=unique_prefix())
    app = StreamApp(short, store=store, heartbeat=None)
    sent: list[dict[str, Any]] = []
    body = [{"type": "http.request", "body": b'{"messages": []}', "more_body": False}]

    async def receive() -> dict[str, Any]:
        if body:
            return body.pop()
        await anyio.sleep_forever()
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "query_string": b"", "headers": []}
    with anyio.fail_after(5):
        await app(scope, receive, send)
    await store.aclose()
    assert sent[0]["status"] == 503
    assert sent[1]["body"] == (
        b'{"error":{"message":"the run store is unavailable right now; try again in a moment"}}'
    )


# -- one event loop ---------------------------------------------------------------------------


def test_a_store_serves_one_event_loop_at_a_time() -> None:
    store = RedisStore(redis_url(), prefix=unique_prefix())

    async def use() -> None:
        await store.get("run_none")

    anyio.run(use)
    with pytest.raises(RuntimeError, match="serves another event loop"):
        anyio.run(use, backend="trio")
    store._service = None  # the first loop is over; its task with it


async def test_batches_ready_within_the_write_interval_go_to_redis_in_one_command() -> None:
    """The first batch after a quiet moment goes at once; five more, from five runs over the
    next 100 ms, wait for the interval's end and go together."""
    store = RedisStore(redis_url(), prefix=unique_prefix(), write_interval=0.5)
    async with store:
        async with anyio.create_task_group() as group:  # created in one or two commands
            for index in range(6):
                group.start_soon(
                    store.create, sb.runs.RunRecord(f"run_{index}", None, fixed_input(), "x")
                )
        await anyio.sleep(0.6)  # a quiet moment (six creations stretched the interval 6/64)
        writer = store._service.writer  # type: ignore[union-attr]
        send = writer._send
        calls: list[int] = []

        async def counted(batch: Any) -> Any:
            calls.append(sum(op.startswith("a") for op in batch.ops))  # run batches in it
            return await send(batch)

        writer._send = counted  # type: ignore[method-assign]
        await store.append("run_0", [TextDelta("first")])

        async def later(index: int) -> None:
            await anyio.sleep(0.02 * index)
            await store.append(f"run_{index}", [TextDelta("later")])

        async with anyio.create_task_group() as group:
            for index in range(1, 6):
                group.start_soon(later, index)
    assert calls == [1, 5]


async def test_under_load_writes_stretch_up_to_four_times_the_interval() -> None:
    """A write that carried many operations makes the next wait longer, up to four times the
    interval, so a loaded process makes fewer commands; after a quiet moment, a write goes at
    once again."""
    interval = 0.1  # (a long lease: no renewal of 300 runs comes in between)
    store = RedisStore(redis_url(), prefix=unique_prefix(), write_interval=interval, lease=60)
    runs = [f"run_{index}" for index in range(300)]
    async with store:
        async with anyio.create_task_group() as group:
            for run_id in runs:
                group.start_soon(store.create, RunRecord(run_id, None, fixed_input(), "x"))

        async def loaded_write() -> None:
            """A write of 300 batches, after a quiet moment (it goes at once)."""
            await anyio.sleep(4 * interval + 0.1)
            for run_id in runs:
                await store.append(run_id, [TextDelta("x")])
            producer = store._producing[runs[-1]]
            await wait_until(lambda: producer.writing is None)

        await loaded_write()
        began = time.monotonic()
        await store.create(RunRecord("run_new", None, fixed_input(), "x"))
        waited = time.monotonic() - began
        assert 2.5 * interval < waited < 5 * interval  # stretched to 4 x 0.1 s

        await anyio.sleep(4 * interval)  # quiet (one operation: the next wait is not stretched)
        began = time.monotonic()
        await store.create(RunRecord("run_newer", None, fixed_input(), "x"))
        assert time.monotonic() - began < interval


def test_the_stretch_stays_within_a_sixth_of_the_lease() -> None:
    """So a run's lease renewal (every third of the lease) reaches Redis well within it.
    (Bookkeeping only: no Redis is reached.)"""
    store = RedisStore("redis://127.0.0.1:1/0", write_interval=0.1, lease=1.2)
    writer = _Writer(store)
    assert writer._stretched(0) == pytest.approx(0.1)
    assert writer._stretched(32) == pytest.approx(0.15)
    assert writer._stretched(1000) == pytest.approx(0.2)  # not 0.4: a sixth of the lease
    slow = _Writer(RedisStore("redis://127.0.0.1:1/0", write_interval=0.5, lease=1.2))
    assert slow._stretched(1000) == pytest.approx(0.5)  # never under write_interval itself


async def test_a_batch_reaches_readers_here_before_redis_even_one_attaching_meanwhile() -> None:
    """``append`` returns before its batch is written, and the batch goes to this process's
    readers at once; a reader that attaches while it is on its way gets it too (Redis does not
    have it yet)."""
    store = RedisStore(redis_url(), prefix=unique_prefix(), write_interval=0.5)
    async with store:
        await store.create(sb.runs.RunRecord("run_1", None, fixed_input(), "x"))
        producer = store._producing["run_1"]
        await store.append("run_1", [TextDelta("a")])  # written at once; the next waits
        await wait_until(lambda: producer.length == 1)

        await store.append("run_1", [TextDelta("b")])
        assert producer.inflight is not None
        late = await store.read("run_1")
        assert late.take_batch() == [TextDelta("a"), TextDelta("b")]
        assert producer.length == 1  # "b" came from the batch in flight

        await wait_until(lambda: producer.inflight is None)
        await store.append("run_1", [TextDelta("c")])
        assert late.take_batch() == [TextDelta("c")]
        assert producer.length == 2  # "c" is not stored yet
        await late.aclose()
        await store.finish("run_1", sb.runs.RunStatus.DONE)  # waits for "c"'s write
        assert producer.length == 3


async def test_a_reader_attaching_at_the_end_while_the_end_is_written_gets_the_end() -> None:
    """A reader that attaches at the run's last chunk while ``finish`` waits for its end to be
    written (up to write_interval) is ended with the others: it once waited forever, left on a
    buffer that only the run's ``append`` fed."""
    store = RedisStore(redis_url(), prefix=unique_prefix(), write_interval=0.5)
    async with store:
        await store.create(sb.runs.RunRecord("run_1", None, fixed_input(), "x"))
        await store.append("run_1", [TextDelta("a")])
        producer = store._producing["run_1"]
        await wait_until(lambda: producer.length == 1)  # written: the next write waits
        async with anyio.create_task_group() as group:
            group.start_soon(store.finish, "run_1", RunStatus.DONE)
            await anyio.sleep(0.05)  # finish waits for the write interval to pass
            assert "run_1" in store._producing
            cursor = await store.read("run_1", 1)
        with anyio.fail_after(2):
            assert await cursor.next_batch() is None
        await cursor.aclose()


async def test_readers_asking_for_a_run_at_once_share_one_read_of_its_hash() -> None:
    """Twenty readers asking at once cost one read; one whose read is cancelled leaves the
    others to read it again, not waiting for nothing."""
    producer, readers = await two_stores(redis_url())
    async with producer, readers:
        await producer.create(RunRecord("run_1", None, fixed_input(), "x"))
        read_meta = readers._read_meta
        reads: list[str] = []

        async def counted(run_id: str) -> Any:
            reads.append(run_id)
            await anyio.sleep(0.05)  # long enough for the others to ask meanwhile
            return await read_meta(run_id)

        readers._read_meta = counted  # type: ignore[method-assign]
        found: list[RunRecord | None] = []

        async def ask() -> None:
            found.append(await readers.get("run_1"))

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(ask)
        assert reads == ["run_1"]
        assert [rec and rec.status for rec in found] == [RunStatus.RUNNING] * 20

        leader = anyio.CancelScope()

        async def lead() -> None:
            with leader:
                await readers.get("run_1")

        async with anyio.create_task_group() as group:
            group.start_soon(lead)
            await wait_until(lambda: len(reads) == 2)
            group.start_soon(ask)  # joins the leader's read
            await anyio.sleep(0.01)
            leader.cancel()
        assert reads == ["run_1"] * 3  # the cancelled read, and the one the other read again
        assert len(found) == 21
        assert found[-1] is not None


@pytest.mark.parametrize("option", ["ttl", "idle_ttl", "lease", "write_interval"])
def test_a_negative_time_is_refused_with_the_options_name(option: str) -> None:
    with pytest.raises(ValueError, match=f"{option}= must be a number of seconds"):
        RedisStore(redis_url(), **{option: -1.0})


@pytest.mark.parametrize(
    "options", [{"decode_responses": True, "encoding": "latin-1"}, {"decode_responses": False}]
)
def test_a_client_that_does_not_speak_utf8_text_is_refused(options: dict[str, Any]) -> None:
    import coredis

    with pytest.raises(ValueError, match="decode_responses=True and encoding='utf-8'"):
        RedisStore(coredis.Redis(**options))


def test_without_coredis_the_store_says_which_extra_installs_it(monkeypatch: Any) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "coredis", None)
    with pytest.raises(ImportError, match=r"pip install 'streambridge\[redis\]'"):
        RedisStore()


def test_the_prefix_keeps_a_runs_keys_on_one_cluster_slot() -> None:
    from streambridge.runs.redis import _Keys

    log, meta, lease = _Keys("app").run("run_1")
    assert {key.split("}")[0] for key in (log, meta, lease)} == {"{app:run_1"}
    assert [key.removeprefix("{app:run_1}") for key in (log, meta, lease)] == [
        ":log",
        ":meta",
        ":lease",
    ]


async def test_on_a_cluster_a_process_follows_runs_on_every_node() -> None:
    """A cluster refuses one ``XREAD`` across slots: each followed run is read on its own, and
    thirty runs, spread over the three nodes, each reach both of their readers."""
    producer, readers = await two_stores(CLUSTER)
    try:
        async with producer, readers:
            runs, results, _ = await read_runs_twice(producer, readers, 30)
            slots = {await producer.client.cluster_keyslot(f"{{{producer.prefix}:{rec.run_id}}}")
                     for rec in runs}  # fmt: skip
    finally:
        release_cluster_clients()
    assert {slot * 3 // 16384 for slot in slots} == {0, 1, 2}  # each node's third of the slots
    assert len(results) == 60
    assert all(result.startswith(b'0:"0 "\n0:"1 "\n0:"2 "\nd:') for result in results)
