"""SSE ``id:`` lines on a stored run's events: only where the protocol's official client reads
past them, and every reader (with ids, resumed anywhere) gets the same events."""

from __future__ import annotations

import anyio
import pytest

import streambridge as sb
from streambridge.chunks import Chunk
from streambridge.runs import MemoryStore, RunRecord, RunStatus, read_run
from support.behaviour.protocol_table import PROTOCOLS
from support.scenarios import SCENARIOS, encode_chunks, expected, fixed_input, produce

NUMBERED = [name for name in sb.protocol_names() if sb.get_protocol(name).event_ids]
SCENARIO_NAMES = ("one_tool_call", "steps_with_usage", "error_mid_stream", "nested_state")


def test_ids_are_offered_only_where_a_client_was_checked() -> None:
    # openai-python's SSE decoder is not among them: it is checked separately, without ids.
    assert set(NUMBERED) == {"ui-message-stream", "assistant-transport", "ag-ui"}


async def stored_bytes(chunks: list[Chunk], protocol: str, skip: int = 0) -> bytes:
    store = MemoryStore()
    record = RunRecord("run_fixed", "thread_fixed", fixed_input(), protocol)
    await store.create(record)
    await store.append(record.run_id, chunks)
    await store.finish(record.run_id, RunStatus.DONE)
    stream = await read_run(
        store, record, sb.get_protocol(protocol), heartbeat=None, skip_events=skip
    )
    return b"".join([data async for data in stream])


@pytest.mark.parametrize("protocol", NUMBERED)
def test_the_official_client_reads_numbered_events(protocol: str) -> None:
    cases = []
    for name in SCENARIO_NAMES:
        scenario = SCENARIOS[name]
        chunks = anyio.run(produce, scenario)
        data = anyio.run(stored_bytes, chunks, protocol)
        events = data.split(b"\n\n")[:-1]
        assert [event.split(b"\n", 1)[0] for event in events] == [
            f"id: {index}".encode() for index in range(len(events))
        ]
        cases.append((data, expected(scenario, chunks)))
    PROTOCOLS[protocol].oracle(cases)


@pytest.mark.anyio
@pytest.mark.parametrize("protocol", NUMBERED)
async def test_a_resumed_reader_gets_the_events_after_its_id_with_their_ids(protocol: str) -> None:
    chunks = await produce(SCENARIOS["one_tool_call"])
    whole = await stored_bytes(chunks, protocol)
    events = [event + b"\n\n" for event in whole.split(b"\n\n")[:-1]]
    for skip in range(len(events) + 1):
        assert await stored_bytes(chunks, protocol, skip) == b"".join(events[skip:])
    # Without the ids, the bytes are the protocol's own.
    plain = b"".join(event.split(b"\n", 1)[1] for event in events)
    assert plain == encode_chunks(chunks, protocol)
