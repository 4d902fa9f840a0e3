"""A run stopped elsewhere (by id, from another reader or the stop route) ends, for every reader,
with its protocol's own stopped end, not its normal one (issue 13).

The stopped run's log ends with ``StepFinish("cancelled")``; each encoder turns that into its
protocol's cancelled ending where the protocol has one: exact frames here, then the official
clients reading those bytes (the Node oracles, the ``openai`` SDK with strict validation), then
stores: a reader that follows the run, one that attaches after the stop, in any protocol.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

import streambridge as sb
import test_protocol_openai_assistants as assistants_oracle
import test_protocol_openai_responses as responses_oracle
from streambridge.chunks import Chunk, Error, StepFinish, TextDelta, ToolCallBegin, ToolCallDelta
from streambridge.client import accumulate, decode
from streambridge.runs import MemoryStore, RunStatus, read_run, record
from streambridge.tally import RunTally
from support.oracle import run_oracle
from support.scenarios import encode_chunks, fixed_input
from test_run_store import NewStore, new_store  # noqa: F401 (the fixture: memory and Redis)

PROTOCOLS = sb.protocol_names()
STOPPED = [TextDelta("Hi"), StepFinish("cancelled")]
"""What a stopped run's log holds: what it made, then the step the stop ended."""
WAITING = [
    TextDelta("Hi"),
    ToolCallBegin("call_1", "lookup"),
    ToolCallDelta("call_1", '{"q": 1}'),
    StepFinish("cancelled"),
]
"""Stopped while a tool call waited for its result: a stopped run asks for no tool."""


async def stopped_log(*, waiting: bool = False) -> list[Chunk]:
    """The log of a real run stopped by id (``STOPPED``, or ``WAITING`` with a tool call that
    waits for its result): the frames below are of what a stop really leaves in a store."""
    store = MemoryStore()

    async def run(controller: sb.RunController) -> None:
        controller.append_text("Hi")
        if waiting:
            controller.add_tool_call("lookup", "call_1").append_args_text('{"q": 1}')
        await anyio.sleep_forever()

    rec = await record(store, sb.create_run(run, input=fixed_input(), grace=0), "data-stream")
    with anyio.fail_after(2):
        while (await store.get(rec.run_id)).length < (3 if waiting else 1):  # type: ignore[union-attr]  # noqa: ASYNC110
            await anyio.sleep(0.001)
        assert await store.request_stop(rec.run_id)
        while not (await store.get(rec.run_id)).finished:  # type: ignore[union-attr]  # noqa: ASYNC110
            await anyio.sleep(0.001)
    cursor = await store.read(rec.run_id)
    log = cursor.take_batch()
    await cursor.aclose()
    assert log == (WAITING if waiting else STOPPED)
    return log


def sse_events(data: bytes) -> list[Any]:
    """The JSON of each ``data:`` line of an SSE body (``[DONE]`` as the string)."""
    out = []
    for line in data.decode().split("\n"):
        if line.startswith("data: "):
            text = line[len("data: ") :]
            out.append(text if text == "[DONE]" else json.loads(text))
    return out


def sse_names(data: bytes) -> list[str]:
    return [line[len("event: ") :] for line in data.decode().split("\n") if line[:7] == "event: "]


# -- the frames ----------------------------------------------------------------------------------

EXACT = {
    "data-stream": (
        '0:"Hi"\n'
        'e:{"finishReason":"cancelled","usage":{"inputTokens":0,"outputTokens":0},'
        '"isContinued":false}\n'
        'd:{"finishReason":"cancelled","usage":{"inputTokens":0,"outputTokens":0}}\n'
    ),
    "assistant-transport": (
        'data: {"type":"part-start","path":[],"part":{"type":"text"}}\n\n'
        'data: {"type":"text-delta","path":[0],"textDelta":"Hi"}\n\n'
        'data: {"type":"part-finish","path":[0]}\n\n'
        'data: {"type":"step-finish","finishReason":"cancelled",'
        '"usage":{"inputTokens":0,"outputTokens":0},"isContinued":false}\n\n'
        'data: {"type":"message-finish","finishReason":"cancelled",'
        '"usage":{"inputTokens":0,"outputTokens":0}}\n\n'
        "data: [DONE]\n\n"
    ),
    "ui-message-stream": (
        'data: {"type":"start","messageId":"run_fixed"}\n\n'
        'data: {"type":"text-start","id":"text-1"}\n\n'
        'data: {"type":"text-delta","id":"text-1","delta":"Hi"}\n\n'
        'data: {"type":"text-end","id":"text-1"}\n\n'
        'data: {"type":"finish-step"}\n\n'
        'data: {"type":"message-metadata","messageMetadata":{"steps":[{"finishReason":"cancelled",'
        '"usage":{"inputTokens":0,"outputTokens":0}}]}}\n\n'
        'data: {"type":"abort"}\n\n'
        "data: [DONE]\n\n"
    ),
    "openai-chat": (
        'data: {"id":"chatcmpl-run_fixed","object":"chat.completion.chunk","created":1760000000,'
        '"model":"streambridge","choices":[{"index":0,"delta":{"role":"assistant"},'
        '"finish_reason":null}]}\n\n'
        'data: {"id":"chatcmpl-run_fixed","object":"chat.completion.chunk","created":1760000000,'
        '"model":"streambridge","choices":[{"index":0,"delta":{"content":"Hi"},'
        '"finish_reason":null}]}\n\n'
        'data: {"id":"chatcmpl-run_fixed","object":"chat.completion.chunk","created":1760000000,'
        '"model":"streambridge","choices":[{"index":0,"delta":{},"finish_reason":null}],'
        '"streambridge":{"type":"step-finish","finish_reason":"cancelled","input_tokens":0,'
        '"output_tokens":0,"is_continued":false}}\n\n'
        'data: {"id":"chatcmpl-run_fixed","object":"chat.completion.chunk","created":1760000000,'
        '"model":"streambridge","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
        "data: [DONE]\n\n"
    ),
    "ag-ui": (
        'data: {"type":"RUN_STARTED","threadId":"thread_fixed","runId":"run_fixed",'
        '"protocolVersion":"1.0","timestamp":1760000000000}\n\n'
        'data: {"type":"TEXT_MESSAGE_START","messageId":"run_fixed-msg-1","role":"assistant"}\n\n'
        'data: {"type":"TEXT_MESSAGE_CONTENT","messageId":"run_fixed-msg-1","delta":"Hi"}\n\n'
        'data: {"type":"TEXT_MESSAGE_END","messageId":"run_fixed-msg-1"}\n\n'
        'data: {"type":"RUN_FINISHED","threadId":"thread_fixed","runId":"run_fixed",'
        '"outcome":{"type":"cancelled"},'
        '"usage":[{"inputTokens":0,"outputTokens":0,"totalTokens":0}],'
        '"metadata":{"streambridge":{"finishReason":"cancelled"}}}\n\n'
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize("protocol", sorted(EXACT))
async def test_a_stopped_runs_frames(protocol: str) -> None:
    assert encode_chunks(await stopped_log(), protocol).decode() == EXACT[protocol]


@pytest.mark.anyio
async def test_a_stopped_responses_stream_ends_incomplete_with_the_cancelled_response() -> None:
    data = encode_chunks(await stopped_log(), "openai-responses")
    names = sse_names(data)
    assert names[-2:] == ["response.output_item.done", "response.incomplete"]
    item_done, end = sse_events(data)[-2:]
    message = {
        "id": "msg_run_fixed_0",
        "type": "message",
        "status": "incomplete",  # cut short by the stop
        "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": "Hi"}],
        "role": "assistant",
    }
    assert item_done == {
        "type": "response.output_item.done",
        "sequence_number": 7,
        "output_index": 0,
        "item": message,
    }
    assert end["type"] == "response.incomplete"
    assert end["sequence_number"] == 8
    response = end["response"]
    assert (response["status"], response["incomplete_details"], response["error"]) == (
        "cancelled",
        None,
        None,
    )
    assert response["output"] == [message]


@pytest.mark.anyio
async def test_a_stopped_assistants_run_ends_cancelled_with_its_step_and_message() -> None:
    data = encode_chunks(await stopped_log(), "openai-assistants")
    assert sse_names(data)[-4:] == [
        "thread.message.incomplete",
        "thread.run.step.cancelled",
        "thread.run.cancelled",
        "done",
    ]
    message, step, run, done = sse_events(data)[-4:]
    assert (message["status"], message["incomplete_details"]) == (
        "incomplete",
        {"reason": "run_cancelled"},
    )
    assert message["content"] == [{"type": "text", "text": {"value": "Hi", "annotations": []}}]
    assert (step["status"], step["cancelled_at"], step["completed_at"]) == (
        "cancelled",
        1760000000,
        None,
    )
    assert (run["status"], run["cancelled_at"], run["completed_at"], run["required_action"]) == (
        "cancelled",
        1760000000,
        None,
        None,
    )
    assert done == "[DONE]"


@pytest.mark.anyio
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_stopped_run_asks_for_no_tool_and_reads_back_as_cancelled(protocol: str) -> None:
    stopped = encode_chunks(await stopped_log(waiting=True), protocol)
    message = accumulate(decode(stopped, protocol))
    assert message.finish_reason == "cancelled"
    assert [call.tool_name for call in message.tool_calls] == ["lookup"]
    # Without the stop the same run ends asking the frontend for its tool: the end is the stop's.
    waiting = accumulate(decode(encode_chunks(WAITING[:-1], protocol), protocol))
    assert waiting.finish_reason == "tool-calls"


@pytest.mark.anyio
async def test_ag_ui_stopped_with_a_waiting_call_names_no_pending_call() -> None:
    finished = sse_events(encode_chunks(await stopped_log(waiting=True), "ag-ui"))[-1]
    assert finished["outcome"] == {"type": "cancelled"}


def test_an_error_still_ends_as_an_error_when_the_run_is_then_stopped() -> None:
    tally = RunTally()
    tally.tool_call("call_1")
    tally.step_finish("cancelled", 0, 0)
    assert tally.finish_reason() == "cancelled"
    tally.error()
    assert tally.finish_reason() == "error"
    for protocol in PROTOCOLS:
        chunks: list[Chunk] = [TextDelta("Hi"), Error("boom"), StepFinish("cancelled")]
        assert accumulate(decode(encode_chunks(chunks, protocol), protocol)).finish_reason == (
            "error"
        ), protocol


# -- the official clients ------------------------------------------------------------------------


async def in_thread(fn: Any) -> Any:
    return await anyio.to_thread.run_sync(fn)


@pytest.mark.anyio
@pytest.mark.parametrize("waiting", [False, True], ids=["text", "waiting-tool"])
@pytest.mark.parametrize("fragment", [False, True], ids=["whole", "fragments"])
async def test_assistant_ui_marks_the_message_cancelled(waiting: bool, fragment: bool) -> None:
    chunks = await stopped_log(waiting=waiting)
    data_stream = encode_chunks(chunks, "data-stream")
    message = await in_thread(lambda: run_oracle("data-stream.mjs", data_stream, fragment=fragment))
    assert message["status"] == {"type": "incomplete", "reason": "cancelled"}
    assert message["parts"][0]["text"] == "Hi"
    transport = encode_chunks(chunks, "assistant-transport")
    out = await in_thread(
        lambda: run_oracle("assistant-transport.mjs", transport, fragment=fragment)
    )
    assert out["thrown"] is None
    assert out["message"]["status"] == {"type": "incomplete", "reason": "cancelled"}


@pytest.mark.anyio
@pytest.mark.parametrize("waiting", [False, True], ids=["text", "waiting-tool"])
async def test_the_ai_sdk_reads_an_abort(waiting: bool) -> None:
    chunks = await stopped_log(waiting=waiting)
    data = encode_chunks(chunks, "ui-message-stream")
    out = await in_thread(lambda: run_oracle("ui-message-stream.mjs", data, fragment=True))
    assert out["types"][-1] == "abort"
    assert out["finish"] is None  # an aborted stream has no finish
    assert out["errors"] == []
    assert {"type": "text", "text": "Hi", "state": "done"} in out["message"]["parts"]


@pytest.mark.anyio
@pytest.mark.parametrize("waiting", [False, True], ids=["text", "waiting-tool"])
async def test_ag_ui_reports_the_cancelled_outcome(waiting: bool) -> None:
    chunks = await stopped_log(waiting=waiting)
    data = encode_chunks(chunks, "ag-ui")
    out = await in_thread(lambda: run_oracle("ag-ui.mjs", data, fragment=True))
    assert out["finished"]["outcome"] == "cancelled"
    assert out["runError"] is None
    assert out["messages"][0]["content"] == "Hi"


@pytest.mark.anyio
async def test_the_openai_sdk_reads_the_cancelled_response() -> None:
    data = encode_chunks(await stopped_log(), "openai-responses")
    sdk = await in_thread(lambda: responses_oracle.read_with_sdk(data, fragment=True))
    end = sdk.events[-1]
    assert end.type == "response.incomplete"
    assert end.response.status == "cancelled"
    assert end.response.output_text == "Hi"
    assert sdk.final is None  # no response.completed: it did not complete


@assistants_oracle.sdk_deprecation
@pytest.mark.anyio
async def test_the_openai_sdk_reads_the_cancelled_assistants_run() -> None:
    data = encode_chunks(await stopped_log(waiting=True), "openai-assistants")
    result = await in_thread(lambda: assistants_oracle.sdk_result(data))
    assert result.run.status == "cancelled"
    assert result.run.required_action is None
    assert result.recorder.events[-1] == "thread.run.cancelled"
    assert result.recorder.exceptions == []
    assert [step.status for step in result.recorder.steps_done] == ["completed", "cancelled"]


# -- through a store ------------------------------------------------------------------------------


async def waits_to_be_stopped(controller: sb.RunController) -> None:
    controller.append_text("Hi")
    await anyio.sleep_forever()


async def started(store: Any, protocol: str = "data-stream") -> Any:
    """A recorded run that has made its text and waits to be stopped."""
    stream = sb.create_run(waits_to_be_stopped, input=fixed_input(), grace=0.01)
    rec = await record(store, stream, protocol)
    with anyio.fail_after(2):
        while (await store.get(rec.run_id)).length < 1:  # noqa: ASYNC110
            await anyio.sleep(0.001)
    return rec


async def read_all(stream: sb.EncodedStream) -> bytes:
    return b"".join([data async for data in stream])


def without_ids(data: bytes) -> bytes:
    """A stored run's SSE body without the ``id:`` line each event gets there."""
    return b"".join(line + b"\n" for line in data.split(b"\n")[:-1] if not line.startswith(b"id: "))


@pytest.mark.anyio
async def test_a_stopped_runs_log_says_so(new_store: NewStore) -> None:  # noqa: F811
    store = new_store()
    rec = await started(store)
    assert await store.request_stop(rec.run_id)
    with anyio.fail_after(2):
        while not (await store.get(rec.run_id)).finished:  # noqa: ASYNC110
            await anyio.sleep(0.001)
    cursor = await store.read(rec.run_id)
    try:
        log = cursor.take_batch()
    finally:
        await cursor.aclose()
    assert log == [TextDelta("Hi"), StepFinish("cancelled")]
    assert (await store.get(rec.run_id)).status is RunStatus.CANCELLED  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_a_run_that_ends_by_itself_has_no_stop_in_its_log(new_store: NewStore) -> None:  # noqa: F811
    store = new_store()

    async def run(controller: sb.RunController) -> None:
        controller.append_text("Hi")

    rec = await record(store, sb.create_run(run, input=fixed_input()), "data-stream")
    data = await read_all(
        await read_run(store, rec, sb.get_protocol("ui-message-stream"), heartbeat=None)
    )
    assert b'"type":"abort"' not in data
    assert b'"type":"finish","finishReason":"stop"' in data


@pytest.mark.anyio
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_every_reader_of_a_stopped_run_gets_its_protocols_stopped_end(
    new_store: NewStore,  # noqa: F811
    protocol: str,
) -> None:
    """Started over data-stream, followed over ``protocol`` while it runs, stopped by id, then
    read again from the start by a reader that came after the stop: both get the stopped end."""
    store = new_store()
    rec = await started(store, "data-stream")
    wire = sb.get_protocol(protocol)
    following = await read_run(store, rec, wire, heartbeat=None)
    first = await following.__anext__()  # it has what the run made so far
    assert await store.request_stop(rec.run_id)
    with anyio.fail_after(2):
        live = first + await read_all(following)
    late = await read_all(await read_run(store, rec, wire, heartbeat=None))
    assert live == late
    assert without_ids(late) == encode_chunks(STOPPED, protocol, input=rec.input)
    assert accumulate(decode(late, protocol)).finish_reason == "cancelled"
