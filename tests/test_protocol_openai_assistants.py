"""The openai-assistants protocol: exact frames, and the official OpenAI SDK's verdict on real runs.

The oracle is ``openai`` (PyPI) with strict response validation: every event must fit the SDK's
pydantic models, and its ``AssistantEventHandler`` must build the message, run steps and run the
scenario says.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import jiter
import pytest
from hypothesis import HealthCheck, given, settings
from openai import AssistantEventHandler
from openai.types.beta.threads import Message, Run, TextDelta as SdkTextDelta
from openai.types.beta.threads.runs import RunStep, ToolCall, ToolCallDelta

import streambridge as sb
from chunk_strategies import chunk_sequences, round_trip
from openai_assistants_oracle import oracle_client
from scenarios import SCENARIOS, encode_chunks, expected, fixed_input, scenario_bytes, summary
from streambridge.chunks import (
    Annotations,
    Chunk,
    Data,
    Error,
    File,
    ReasoningDelta,
    Source,
    StateUpdate,
    StepFinish,
    StepStart,
    TextDelta,
    ToolCallArgsDelta,
    ToolCallArgsFinish,
    ToolCallBegin,
    ToolResult,
)
from streambridge.client import accumulate, decode
from streambridge.protocols import StreamEnd
from streambridge.protocols.openai_assistants import (
    OpenAIAssistantsDecoder,
    OpenAIAssistantsEncoder,
    parse_request,
)
from streambridge.state import apply_operation

pytestmark = pytest.mark.anyio

PROTOCOL = "openai-assistants"

# The SDK marks every Assistants API method deprecated (in favour of the Responses API) and warns
# at each call; the API and its stream helper still work, and are this protocol's oracle.
sdk_deprecation = pytest.mark.filterwarnings(
    "ignore:The Assistants API is deprecated in favor of the Responses API:DeprecationWarning"
)


# -- the official client ------------------------------------------------------------------------


class Recorder(AssistantEventHandler):
    """Records what the SDK's event handler reports while it accumulates the stream."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.text_deltas: list[str] = []
        self.tool_calls_created: list[str | None] = []
        self.tool_call_deltas: list[ToolCallDelta] = []
        self.steps_done: list[RunStep] = []
        self.exceptions: list[Exception] = []

    def on_event(self, event: Any) -> None:
        self.events.append(event.event)

    def on_text_delta(self, delta: SdkTextDelta, snapshot: Any) -> None:
        self.text_deltas.append(delta.value or "")

    def on_tool_call_created(self, tool_call: ToolCall) -> None:
        self.tool_calls_created.append(tool_call.id)

    def on_tool_call_delta(self, delta: ToolCallDelta, snapshot: ToolCall) -> None:
        self.tool_call_deltas.append(delta)

    def on_run_step_done(self, run_step: RunStep) -> None:
        self.steps_done.append(run_step)

    def on_exception(self, exception: Exception) -> None:
        self.exceptions.append(exception)


@dataclass
class SdkResult:
    run: Run
    messages: list[Message]
    steps: list[RunStep]
    recorder: Recorder
    requests: list[httpx.Request] = field(default_factory=list)


def _or_empty(get: Any) -> list[Any]:
    """The SDK raises RuntimeError when a stream had no messages (or no run steps) at all."""
    try:
        return list(get())
    except RuntimeError:
        return []


def sdk_result(body: bytes, *, fragment: bool = False, seed: int = 0) -> SdkResult:
    """What ``client.beta.threads.runs.stream`` makes of ``body``."""
    requests: list[httpx.Request] = []
    client = oracle_client(body, fragment=fragment, seed=seed, requests=requests)
    recorder = Recorder()
    with client.beta.threads.runs.stream(
        thread_id="thread_fixed", assistant_id="asst_1", event_handler=recorder
    ) as stream:
        stream.until_done()
        run = stream.get_final_run()
        messages = _or_empty(stream.get_final_messages)
        steps = _or_empty(stream.get_final_run_steps)
    return SdkResult(run, messages, steps, recorder, requests)


def extras(run: Run) -> dict[str, Any]:
    """What the run's metadata carries for the kinds the API has no field for."""
    text = (run.metadata or {}).get("streambridge")
    return {} if text is None else json.loads(text)


def parse_args(text: str) -> Any:
    """Arguments as the scenarios parse them: the longest valid prefix while still streaming."""
    if not text.strip():
        return {}
    return jiter.from_json(text.encode(), partial_mode="trailing-strings")


FINISH = {
    "completed": "stop",
    "requires_action": "tool-calls",
    "failed": "error",
    "incomplete": "length",
    "in_progress": None,  # the stream was cut: the SDK keeps the last run it saw
}


def client_summary(result: SdkResult, state: Any = None) -> dict[str, Any]:
    """The SDK's final messages, run steps and run in the scenarios' plain form."""
    run = result.run
    more = extras(run)
    for op in more.get("state", []):
        state = apply_operation(state, op)
    calls = [
        call
        for step in result.steps
        if step.step_details.type == "tool_calls"
        for call in step.step_details.tool_calls
    ]
    assert all(call.type == "function" for call in calls)
    return {
        "text": "".join(
            block.text.value
            for message in result.messages
            for block in message.content
            if block.type == "text"
        ),
        "reasoning": more.get("reasoning", ""),
        "tool_calls": [
            {
                "id": call.id,
                "name": call.function.name,
                "args": parse_args(call.function.arguments),
                "result": None if call.function.output is None else json.loads(call.function.output),
                "is_error": False,
            }
            for call in calls
            if call.type == "function"
        ],
        "sources": [{"url": s["url"], "title": s.get("title")} for s in more.get("sources", [])],
        "files": [{"data": f["data"], "mime_type": f["mime_type"]} for f in more.get("files", [])],
        "data": [{"name": d.get("name"), "data": d["data"]} for d in more.get("data", [])],
        "state": state,
        "finish_reason": FINISH[run.status],
        "usage": (
            None
            if run.usage is None
            else {"input": run.usage.prompt_tokens, "output": run.usage.completion_tokens}
        ),
        "steps": [
            (step.usage.prompt_tokens, step.usage.completion_tokens)
            for step in result.recorder.steps_done
            if step.usage is not None
        ],
        "errors": [] if run.last_error is None else [run.last_error.message],
    }


def project(want: dict[str, Any]) -> dict[str, Any]:
    """What the Assistants API can say of a message.

    A function call's ``output`` is a string with no error flag, so ``is_error`` is lost; a
    failed run has one ``last_error``, so only the last error survives; a run ends completed,
    incomplete (``length``), requiring action (``tool-calls``) or failed (``error``), so any other
    finish reason reads as ``stop``.
    """
    want = copy.deepcopy(want)
    for call in want["tool_calls"]:
        call["is_error"] = False
    want["errors"] = want["errors"][-1:]
    if want["finish_reason"] not in (None, "stop", "length", "tool-calls", "error"):
        want["finish_reason"] = "stop"
    return want


@sdk_deprecation
@pytest.mark.parametrize("fragment", [False, True], ids=["whole", "fragments"])
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_official_client_accepts(name: str, fragment: bool) -> None:
    scenario = SCENARIOS[name]
    chunks, body = await scenario_bytes(scenario, PROTOCOL, options={"assistant_id": "asst_1"})
    result = sdk_result(body, fragment=fragment, seed=len(name))
    assert result.recorder.exceptions == []
    assert client_summary(result, copy.deepcopy(scenario.state)) == project(
        summary(expected(scenario, chunks))
    )
    assert b"secret" not in body
    run = result.run
    assert (run.id, run.thread_id, run.assistant_id) == ("run_fixed", "thread_fixed", "asst_1")
    assert result.recorder.text_deltas == [c.text for c in chunks if isinstance(c, TextDelta)]
    if scenario.complete:
        assert result.recorder.events[-1] in ("thread.run.completed", "thread.run.failed")
        assert all(m.status == "completed" for m in result.messages) or name == "error_mid_stream"
    else:
        # Cut short: no terminal run event and no [DONE].  The SDK ends quietly, without an
        # exception; its final run is the last one it saw, still in progress, with no usage.
        assert run.status == "in_progress"
        assert run.usage is None
        assert result.recorder.events[-1] == "thread.run.step.delta"
        [tool_step] = [s for s in result.steps if s.type == "tool_calls"]
        assert tool_step.status == "in_progress"
        [call] = tool_step.step_details.tool_calls
        assert call.function.arguments == '{"query": "stre'
    if name == "error_mid_stream":
        assert run.status == "failed"
        assert run.last_error is not None
        assert run.last_error.code == "server_error"
        assert run.last_error.message == sb.run.GENERIC_ERROR_MESSAGE
        [message] = result.messages
        assert message.status == "incomplete"
        assert message.incomplete_details is not None
        assert message.incomplete_details.reason == "run_failed"
    if name == "steps_with_usage":
        assert run.usage is not None
        assert (run.usage.prompt_tokens, run.usage.completion_tokens) == (30, 12)
        assert run.usage.total_tokens == 42
        assert [m.content[0].text.value for m in result.messages] == ["one", "two"]
    if name == "interleaved_tool_calls":
        # One run step holds both calls, in the order they began.
        [step] = result.steps
        calls = step.step_details.tool_calls
        assert [(c.id, c.function.arguments) for c in calls] == [
            ("call_a", '{"x":1}'),
            ("call_b", '{"y":2}'),
        ]
