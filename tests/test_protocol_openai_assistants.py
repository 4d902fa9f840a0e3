"""The openai-assistants protocol: exact frames, and the official OpenAI SDK's verdict on real runs.

The oracle is ``openai`` (PyPI) with strict response validation: every event must fit the SDK's
pydantic models, and its ``AssistantEventHandler`` must build the message, run steps and run the
scenario says.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import jiter
import pytest
from hypothesis import HealthCheck, given, settings
from openai import AssistantEventHandler
from openai.types.beta.threads import Message, Run
from openai.types.beta.threads import TextDelta as SdkTextDelta
from openai.types.beta.threads.runs import RunStep, ToolCall
from openai.types.beta.threads.runs import ToolCallDelta as SdkToolCallDelta

import streambridge as sb
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
    ToolCallArgsFinish,
    ToolCallBegin,
    ToolCallDelta,
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
from support.chunk_strategies import chunk_sequences, round_trip
from support.openai_oracle import openai_oracle_client
from support.scenarios import SCENARIOS, encode_chunks, expected, scenario_bytes, summary

pytestmark = pytest.mark.anyio

PROTOCOL = "openai-assistants"

# The SDK marks every Assistants API method deprecated (in favour of the Responses API) and warns
# at each call; the API and its stream helper still work, and are this protocol's oracle.
SDK_DEPRECATION = "The Assistants API is deprecated in favor of the Responses API"
sdk_deprecation = pytest.mark.filterwarnings(f"ignore:{SDK_DEPRECATION}:DeprecationWarning")


# -- the official client ------------------------------------------------------------------------


class Recorder(AssistantEventHandler):
    """Records what the SDK's event handler reports while it accumulates the stream."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.text_deltas: list[str] = []
        self.tool_calls_created: list[str | None] = []
        self.tool_call_deltas: list[SdkToolCallDelta] = []
        self.steps_done: list[RunStep] = []
        self.exceptions: list[Exception] = []

    def on_event(self, event: Any) -> None:
        self.events.append(event.event)

    def on_text_delta(self, delta: SdkTextDelta, snapshot: Any) -> None:
        self.text_deltas.append(delta.value or "")

    def on_tool_call_created(self, tool_call: ToolCall) -> None:
        self.tool_calls_created.append(tool_call.id)

    def on_tool_call_delta(self, delta: SdkToolCallDelta, snapshot: ToolCall) -> None:
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
    oracle = openai_oracle_client(body, fragment=fragment, seed=seed)
    client, requests = oracle.client, oracle.requests
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
                "result": None
                if call.function.output is None
                else json.loads(call.function.output),
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
    # Built once: accumulating stores state values by reference, and later operations then
    # change the chunks' own values (see the report on streambridge.client).
    want = project(summary(expected(scenario, chunks)))
    result = sdk_result(body, fragment=fragment, seed=len(name))
    assert result.recorder.exceptions == []
    assert client_summary(result, copy.deepcopy(scenario.state)) == want
    assert b"secret" not in body
    # streambridge's own client reads the same bytes to the same message.
    mine = accumulate(decode(body, PROTOCOL), state=copy.deepcopy(scenario.state))
    assert project(summary(mine)) == want
    run = result.run
    assert (run.id, run.thread_id, run.assistant_id) == ("run_fixed", "thread_fixed", "asst_1")
    assert result.recorder.text_deltas == [c.text_delta for c in chunks if isinstance(c, TextDelta)]
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
    if name == "one_tool_call":
        deltas = [d.function for d in result.recorder.tool_call_deltas if d.type == "function"]
        assert [(f.arguments, f.output) for f in deltas if f is not None] == [
            ('{"city"', None),
            (': "Par', None),
            ('is", "days": [1, 2]}', None),
            (None, '{"temp":21}'),
        ]
    if name == "interleaved_tool_calls":
        # One run step holds both calls, in the order they began.
        [step] = result.steps
        calls = step.step_details.tool_calls
        assert [(c.id, c.function.arguments) for c in calls] == [
            ("call_a", '{"x":1}'),
            ("call_b", '{"y":2}'),
        ]


# -- exact frames -------------------------------------------------------------------------------
#
# Each expected frame is an event name and its data as a dict literal, written in wire key order:
# the bytes must equal ``event: NAME\ndata: JSON\n\n`` with the dict's compact JSON.

T = 1_700_000_000
GOLDEN_INPUT = sb.RunInput(
    run_id="run_g", thread_id="thread_g", created_at=T, options={"assistant_id": "asst_g"}
)

RUN = {
    "id": "run_g",
    "object": "thread.run",
    "created_at": T,
    "assistant_id": "asst_g",
    "thread_id": "thread_g",
    "status": "queued",
    "started_at": None,
    "expires_at": None,
    "cancelled_at": None,
    "failed_at": None,
    "completed_at": None,
    "required_action": None,
    "last_error": None,
    "model": "",
    "instructions": "",
    "tools": [],
    "metadata": {},
    "usage": None,
    "temperature": None,
    "top_p": None,
    "max_completion_tokens": None,
    "max_prompt_tokens": None,
    "truncation_strategy": {"type": "auto", "last_messages": None},
    "incomplete_details": None,
    "response_format": "auto",
    "tool_choice": "auto",
    "parallel_tool_calls": True,
}
PRELUDE = [
    ("thread.run.created", RUN),
    ("thread.run.queued", RUN),
    ("thread.run.in_progress", {**RUN, "status": "in_progress", "started_at": T}),
]


def run_end(status: str, prompt: int = 0, completion: int = 0, **fields: Any) -> dict[str, Any]:
    """The final Run object: RUN with these values (keys keep their place)."""
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    usage["total_tokens"] = prompt + completion
    return {**RUN, "status": status, "started_at": T, "usage": usage, **fields}


def step_object(n: int, kind: str, details: dict[str, Any], **fields: Any) -> dict[str, Any]:
    value = {
        "id": f"step_g_{n}",
        "object": "thread.run.step",
        "created_at": T,
        "run_id": "run_g",
        "assistant_id": "asst_g",
        "thread_id": "thread_g",
        "type": kind,
        "status": "in_progress",
        "cancelled_at": None,
        "completed_at": None,
        "expired_at": None,
        "failed_at": None,
        "last_error": None,
        "step_details": details,
        "usage": None,
        "metadata": {},
    }
    return {**value, **fields}


def message_step(n: int, message: int, **fields: Any) -> dict[str, Any]:
    details = {"type": "message_creation", "message_creation": {"message_id": f"msg_g_{message}"}}
    return step_object(n, "message_creation", details, **fields)


def message_object(n: int, text: str | None = None, **fields: Any) -> dict[str, Any]:
    value = {
        "id": f"msg_g_{n}",
        "object": "thread.message",
        "created_at": T,
        "thread_id": "thread_g",
        "role": "assistant",
        "content": (
            [] if text is None else [{"type": "text", "text": {"value": text, "annotations": []}}]
        ),
        "status": "in_progress",
        "assistant_id": "asst_g",
        "run_id": "run_g",
        "attachments": [],
        "metadata": {},
        "completed_at": None,
        "incomplete_at": None,
        "incomplete_details": None,
    }
    return {**value, **fields}


def opened_message(step: int, message: int) -> list[tuple[str, Any]]:
    return [
        ("thread.run.step.created", message_step(step, message)),
        ("thread.run.step.in_progress", message_step(step, message)),
        ("thread.message.created", message_object(message)),
        ("thread.message.in_progress", message_object(message)),
    ]


def call_delta(step: int, call: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"step_g_{step}",
        "object": "thread.run.step.delta",
        "delta": {"step_details": {"type": "tool_calls", "tool_calls": [call]}},
    }


DONE = [("done", "[DONE]")]


def compact(value: Any) -> str:
    """Compact JSON as streambridge writes it: U+2028 escaped, so that every event is one line."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("\u2028", "\\u2028")


def wire(frames: list[tuple[str, Any]]) -> str:
    return "".join(
        f"event: {event}\ndata: {data if isinstance(data, str) else compact(data)}\n\n"
        for event, data in frames
    )


def check_frames(
    steps: list[tuple[Chunk | None, list[tuple[str, Any]]]], input: sb.RunInput = GOLDEN_INPUT
) -> None:
    """Encode each chunk (``None``: finish) and compare its text with its expected frames."""
    encoder = OpenAIAssistantsEncoder(input)
    assert encoder.encode(StepStart("s")) == wire(PRELUDE)
    for chunk, frames in steps:
        text = encoder.finish() if chunk is None else encoder.encode(chunk)
        assert text == wire(frames), chunk


def test_the_run_is_announced_once_before_the_first_frame() -> None:
    tools = [
        {"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}},
        {"type": "file_search"},
        {"name": "other", "description": "d"},  # another protocol's shape: a function tool
        {"type": "web_search"},  # no Assistants tool: left out
    ]
    options = {"assistant_id": "asst_g", "model": "gpt-4o", "create_thread": True}
    options |= {"metadata": {"k": "v"}, "temperature": 0.5, "top_p": float("nan")}
    input = sb.RunInput(
        run_id="run_g",
        thread_id="thread_g",
        created_at=T,
        options=options,
        system="Be brief.",
        tools=tools,
    )
    run = {
        **RUN,
        "model": "gpt-4o",
        "instructions": "Be brief.",
        "tools": [
            {"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}},
            {"type": "file_search"},
            {"type": "function", "function": {"name": "other", "description": "d"}},
        ],
        "metadata": {"k": "v"},
        "temperature": 0.5,
    }
    thread = {
        "id": "thread_g",
        "object": "thread",
        "created_at": T,
        "metadata": {},
        "tool_resources": {},
    }
    encoder = OpenAIAssistantsEncoder(input)
    assert encoder.encode(StepStart("s")) == wire(
        [
            ("thread.created", thread),
            ("thread.run.created", run),
            ("thread.run.queued", run),
            ("thread.run.in_progress", {**run, "status": "in_progress", "started_at": T}),
        ]
    )
    assert encoder.encode(StepStart("s")) == ""


def test_text_frames() -> None:
    check_frames(
        [
            (
                TextDelta("Hi\n"),
                [
                    *opened_message(1, 1),
                    (
                        "thread.message.delta",
                        {
                            "id": "msg_g_1",
                            "object": "thread.message.delta",
                            "delta": {
                                "content": [
                                    {
                                        "index": 0,
                                        "type": "text",
                                        "text": {"value": "Hi\n", "annotations": []},
                                    }
                                ]
                            },
                        },
                    ),
                ],
            ),
            (  # the hot path: the same message, a parent id has no place
                TextDelta("“there” \u2028", parent_id="p"),
                [
                    (
                        "thread.message.delta",
                        '{"id":"msg_g_1","object":"thread.message.delta","delta":{"content":'
                        '[{"index":0,"type":"text","text":{"value":"“there” \\u2028"}}]}}',
                    )
                ],
            ),
            (
                None,
                [
                    (
                        "thread.message.completed",
                        message_object(1, "Hi\n“there” \u2028", status="completed", completed_at=T),
                    ),
                    (
                        "thread.run.step.completed",
                        message_step(1, 1, status="completed", completed_at=T),
                    ),
                    ("thread.run.completed", run_end("completed", completed_at=T)),
                    *DONE,
                ],
            ),
        ]
    )


def test_tool_call_frames() -> None:
    tool_step = step_object(1, "tool_calls", {"type": "tool_calls", "tool_calls": []})
    first = {"index": 0, "type": "function", "id": "c1"}
    first["function"] = {"name": "search", "arguments": "", "output": None}
    second = {"index": 1, "type": "function", "id": "c2"}
    second["function"] = {"name": "now", "arguments": "", "output": None}
    calls = [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "search", "arguments": '{"q":1}', "output": '{"ok":true}'},
        },
        {
            "id": "c2",
            "type": "function",
            "function": {"name": "now", "arguments": "{}", "output": '"12:00"'},
        },
    ]
    check_frames(
        [
            (
                ToolCallBegin("c1", "search"),
                [
                    ("thread.run.step.created", tool_step),
                    ("thread.run.step.in_progress", tool_step),
                    ("thread.run.step.delta", call_delta(1, first)),
                ],
            ),
            (  # the second hot path: a prefix and one string encode
                ToolCallDelta("c1", '{"q":1}'),
                [
                    (
                        "thread.run.step.delta",
                        '{"id":"step_g_1","object":"thread.run.step.delta","delta":{"step_details":'
                        '{"type":"tool_calls","tool_calls":[{"index":0,"type":"function",'
                        '"function":{"arguments":"{\\"q\\":1}"}}]}}}',
                    )
                ],
            ),
            (ToolCallArgsFinish("c1"), []),
            (  # the result's JSON text; the API has no error flag or artifact
                ToolResult("c1", {"ok": True}, artifact=[1], is_error=True),
                [
                    (
                        "thread.run.step.delta",
                        call_delta(
                            1,
                            {"index": 0, "type": "function", "function": {"output": '{"ok":true}'}},
                        ),
                    )
                ],
            ),
            (ToolCallBegin("c2", "now"), [("thread.run.step.delta", call_delta(1, second))]),
            (  # a call without arguments has the empty object
                ToolCallArgsFinish("c2"),
                [
                    (
                        "thread.run.step.delta",
                        call_delta(
                            1, {"index": 1, "type": "function", "function": {"arguments": "{}"}}
                        ),
                    )
                ],
            ),
            (
                ToolResult("c2", "12:00"),
                [
                    (
                        "thread.run.step.delta",
                        call_delta(
                            1, {"index": 1, "type": "function", "function": {"output": '"12:00"'}}
                        ),
                    )
                ],
            ),
            (
                None,
                [
                    (
                        "thread.run.step.completed",
                        step_object(
                            1,
                            "tool_calls",
                            {"type": "tool_calls", "tool_calls": calls},
                            status="completed",
                            completed_at=T,
                        ),
                    ),
                    ("thread.run.completed", run_end("completed", completed_at=T)),
                    *DONE,
                ],
            ),
        ]
    )


def test_kinds_without_a_field_ride_in_the_final_run_metadata() -> None:
    extras = {
        "reasoning": "hmm ok",
        "sources": [
            {"id": "s1", "url": "https://example.com", "title": "Example"},
            {"id": "s2", "url": "https://example.org", "source_type": "document"},
        ],
        "files": [{"data": "aGk=", "mime_type": "text/plain"}],
        "data": [{"data": {"a": 1}}, {"data": {"b": 2}, "name": "weather"}],
        "state": [  # consecutive appends to one path are one append
            {"type": "set", "path": ["doc"], "value": ""},
            {"type": "append-text", "path": ["doc"], "value": "ab"},
            {"type": "set", "path": ["n"], "value": 1},
            {"type": "append-text", "path": ["doc"], "value": "c"},
        ],
        "annotations": [{"x": 1}],
    }
    check_frames(
        [
            (ReasoningDelta("hmm"), []),
            (ReasoningDelta(" ok", parent_id="p"), []),
            (Source("s1", "https://example.com", title="Example"), []),
            (Source("s2", "https://example.org", source_type="document"), []),
            (File("aGk=", "text/plain"), []),
            (Data({"a": 1}), []),
            (Data({"b": 2}, name="weather"), []),
            (Annotations(({"x": 1},)), []),
            (
                StateUpdate(
                    (
                        {"type": "set", "path": ["doc"], "value": ""},
                        {"type": "append-text", "path": ["doc"], "value": "a"},
                    )
                ),
                [],
            ),
            (
                StateUpdate(
                    (
                        {"type": "append-text", "path": ["doc"], "value": "b"},
                        {"type": "set", "path": ["n"], "value": 1},
                        {"type": "append-text", "path": ["doc"], "value": "c"},
                    )
                ),
                [],
            ),
            (
                None,
                [
                    (
                        "thread.run.completed",
                        run_end(
                            "completed",
                            completed_at=T,
                            metadata={"streambridge": compact(extras)},
                        ),
                    ),
                    *DONE,
                ],
            ),
        ]
    )


def test_error_frames() -> None:
    last_error = {"code": "server_error", "message": "careful"}
    check_frames(
        [
            (
                TextDelta("partial"),
                [
                    *opened_message(1, 1),
                    (
                        "thread.message.delta",
                        '{"id":"msg_g_1","object":"thread.message.delta","delta":{"content":'
                        '[{"index":0,"type":"text","text":{"value":"partial","annotations":[]}}]}}',
                    ),
                ],
            ),
            (
                Error("careful"),
                [
                    (
                        "thread.message.incomplete",
                        message_object(
                            1,
                            "partial",
                            status="incomplete",
                            incomplete_at=T,
                            incomplete_details={"reason": "run_failed"},
                        ),
                    ),
                    (
                        "thread.run.step.failed",
                        message_step(1, 1, status="failed", failed_at=T, last_error=last_error),
                    ),
                ],
            ),
            (
                None,
                [
                    (
                        "thread.run.failed",
                        run_end("failed", failed_at=T, last_error=last_error),
                    ),
                    *DONE,
                ],
            ),
        ]
    )


def test_step_frames() -> None:
    check_frames(
        [
            (StepStart("m1"), []),
            (
                TextDelta("one"),
                [
                    *opened_message(1, 1),
                    (
                        "thread.message.delta",
                        '{"id":"msg_g_1","object":"thread.message.delta","delta":{"content":'
                        '[{"index":0,"type":"text","text":{"value":"one","annotations":[]}}]}}',
                    ),
                ],
            ),
            (  # the run step that ends a generation step carries its usage
                StepFinish("stop", 3, 4, is_continued=True),
                [
                    (
                        "thread.message.completed",
                        message_object(1, "one", status="completed", completed_at=T),
                    ),
                    (
                        "thread.run.step.completed",
                        message_step(
                            1,
                            1,
                            status="completed",
                            completed_at=T,
                            usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
                        ),
                    ),
                ],
            ),
            (StepStart("m2"), []),
            (  # a generation step that made nothing: an empty message carries its usage
                StepFinish("length", 1, 2),
                [
                    *opened_message(2, 2),
                    (
                        "thread.message.incomplete",
                        message_object(
                            2,
                            "",
                            status="incomplete",
                            incomplete_at=T,
                            incomplete_details={"reason": "max_tokens"},
                        ),
                    ),
                    (
                        "thread.run.step.completed",
                        message_step(
                            2,
                            2,
                            status="completed",
                            completed_at=T,
                            usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
                        ),
                    ),
                ],
            ),
            (
                None,
                [
                    (
                        "thread.run.incomplete",
                        run_end(
                            "incomplete",
                            4,
                            6,
                            incomplete_details={"reason": "max_completion_tokens"},
                        ),
                    ),
                    *DONE,
                ],
            ),
        ]
    )


def test_calls_waiting_for_results_end_the_run_requiring_action() -> None:
    tool_step = step_object(2, "tool_calls", {"type": "tool_calls", "tool_calls": []})
    begin = {"index": 0, "type": "function", "id": "c1"}
    begin["function"] = {"name": "lookup", "arguments": "", "output": None}
    waiting = {"id": "c1", "type": "function"}
    waiting["function"] = {"name": "lookup", "arguments": '{"id":7}'}
    required_action = {
        "type": "submit_tool_outputs",
        "submit_tool_outputs": {"tool_calls": [waiting]},
    }
    check_frames(
        [
            (
                TextDelta("Let me check."),
                [
                    *opened_message(1, 1),
                    (
                        "thread.message.delta",
                        '{"id":"msg_g_1","object":"thread.message.delta","delta":{"content":'
                        '[{"index":0,"type":"text","text":{"value":"Let me check.",'
                        '"annotations":[]}}]}}',
                    ),
                ],
            ),
            (  # a tool call ends the message and its run step
                ToolCallBegin("c1", "lookup"),
                [
                    (
                        "thread.message.completed",
                        message_object(1, "Let me check.", status="completed", completed_at=T),
                    ),
                    (
                        "thread.run.step.completed",
                        message_step(1, 1, status="completed", completed_at=T),
                    ),
                    ("thread.run.step.created", tool_step),
                    ("thread.run.step.in_progress", tool_step),
                    ("thread.run.step.delta", call_delta(2, begin)),
                ],
            ),
            (
                ToolCallDelta("c1", '{"id":'),
                [
                    (
                        "thread.run.step.delta",
                        call_delta(
                            2, {"index": 0, "type": "function", "function": {"arguments": '{"id":'}}
                        ),
                    )
                ],
            ),
            (
                ToolCallDelta("c1", "7}"),
                [
                    (
                        "thread.run.step.delta",
                        call_delta(
                            2, {"index": 0, "type": "function", "function": {"arguments": "7}"}}
                        ),
                    )
                ],
            ),
            (  # the waiting calls' step stays in progress, as in the API
                None,
                [
                    (
                        "thread.run.requires_action",
                        run_end("requires_action", required_action=required_action),
                    ),
                    *DONE,
                ],
            ),
        ]
    )


async def test_protocol_metadata() -> None:
    protocol = sb.get_protocol(PROTOCOL)
    assert PROTOCOL in sb.protocol_names()
    assert (protocol.media_type, protocol.framing) == ("text/event-stream", "sse")
    assert protocol.headers == {}
    assert protocol.keepalive == b": keepalive\n\n"
    assert protocol.parse_request is parse_request
    assert isinstance(protocol.new_encoder(GOLDEN_INPUT), OpenAIAssistantsEncoder)
    assert isinstance(protocol.new_decoder(), OpenAIAssistantsDecoder)


EVERY_KIND: list[Chunk] = [
    StepStart("m1"),
    ReasoningDelta("hmm"),
    TextDelta("Hi"),
    ToolCallBegin("c1", "search"),
    ToolCallDelta("c1", '{"q": 1}'),
    ToolCallArgsFinish("c1"),
    ToolResult("c1", [1, 2]),
    Source("s1", "https://example.com"),
    File("aGk=", "image/png"),
    Data({"a": 1}, name="d"),
    Annotations(({"x": 1},)),
    StateUpdate(({"type": "set", "path": ["a"], "value": 1},)),
    StepFinish("stop", 2, 3),
    Error("careful"),
]


def test_ids_and_times_come_from_the_input() -> None:
    """(Purity itself, for every protocol: test_protocol_contract.py.)"""
    first = encode_chunks(EVERY_KIND, PROTOCOL, input=GOLDEN_INPUT)
    other_input = sb.RunInput(run_id="run_h", thread_id="thread_h", created_at=T + 1)
    other = encode_chunks(EVERY_KIND, PROTOCOL, input=other_input).decode()
    assert other == first.decode().replace("_g", "_h").replace(str(T), str(T + 1)).replace(
        "asst_h", "asst_streambridge"
    )


# -- the official client on more than the scenarios --------------------------------------------


def accumulated(chunks: list[Chunk]) -> dict[str, Any]:
    return project(summary(accumulate(chunks, complete=True)))


@sdk_deprecation
def test_official_client_requires_action_for_calls_waiting_for_results() -> None:
    chunks: list[Chunk] = [
        TextDelta("Checking."),
        ToolCallBegin("call_ui", "confirm"),
        ToolCallDelta("call_ui", '{"a": 1}'),
        ToolCallArgsFinish("call_ui"),
        StepFinish("tool-calls", 5, 6),
    ]
    result = sdk_result(encode_chunks(chunks, PROTOCOL))
    run = result.run
    assert run.status == "requires_action"
    assert result.recorder.events[-1] == "thread.run.requires_action"
    assert run.required_action is not None
    [call] = run.required_action.submit_tool_outputs.tool_calls
    assert (call.id, call.function.name) == ("call_ui", "confirm")
    assert json.loads(call.function.arguments) == {"a": 1}
    assert run.usage is not None
    assert (run.usage.prompt_tokens, run.usage.completion_tokens) == (5, 6)
    assert result.recorder.tool_calls_created == ["call_ui"]
    assert client_summary(result) == accumulated(chunks)


@sdk_deprecation
def test_official_client_sees_a_length_finish_as_an_incomplete_run() -> None:
    chunks: list[Chunk] = [TextDelta("Once upon"), StepFinish("length", 1, 2)]
    result = sdk_result(encode_chunks(chunks, PROTOCOL))
    assert result.run.status == "incomplete"
    assert result.run.incomplete_details is not None
    assert result.run.incomplete_details.reason == "max_completion_tokens"
    [message] = result.messages
    assert message.status == "incomplete"
    assert message.incomplete_details is not None
    assert message.incomplete_details.reason == "max_tokens"
    assert client_summary(result) == accumulated(chunks)


@sdk_deprecation
def test_official_client_sees_other_finish_reasons_as_a_completed_run() -> None:
    chunks: list[Chunk] = [TextDelta("[filtered]"), StepFinish("content-filter", 1, 1)]
    result = sdk_result(encode_chunks(chunks, PROTOCOL))
    assert result.run.status == "completed"
    assert client_summary(result) == accumulated(chunks)


@sdk_deprecation
def test_official_client_sees_only_the_last_error() -> None:
    chunks: list[Chunk] = [TextDelta("a"), Error("first"), TextDelta("b"), Error("second")]
    result = sdk_result(encode_chunks(chunks, PROTOCOL))
    assert result.run.last_error is not None
    assert result.run.last_error.message == "second"
    assert [m.status for m in result.messages] == ["incomplete", "incomplete"]
    assert client_summary(result) == accumulated(chunks)


@sdk_deprecation
def test_official_client_accepts_arguments_after_their_step_closed() -> None:
    chunks: list[Chunk] = [
        ToolCallBegin("c1", "search"),
        TextDelta("while I search..."),
        ToolCallDelta("c1", '{"q":'),
        ToolCallDelta("c1", '"x"}'),
        ToolCallArgsFinish("c1"),
        ToolResult("c1", "found"),
    ]
    result = sdk_result(encode_chunks(chunks, PROTOCOL))
    [tool_step] = [s for s in result.steps if s.type == "tool_calls"]
    [call] = tool_step.step_details.tool_calls
    assert call.function.arguments == '{"q":"x"}'
    assert call.function.output == '"found"'
    assert client_summary(result) == accumulated(chunks)


@sdk_deprecation
def test_official_client_create_thread_and_run_round_trip() -> None:
    """The SDK's own request, parsed, drives the encoder; the SDK reads the answer."""
    chunks: list[Chunk] = [TextDelta("Hello "), TextDelta("there")]

    def answer(request: httpx.Request) -> bytes:
        assert request.url.path == "/v1/threads/runs"
        input = parse_request(json.loads(request.content))
        input.run_id, input.created_at = "run_new", T
        return encode_chunks(chunks, PROTOCOL, input=input)

    recorder = Recorder()
    client = openai_oracle_client(answer).client
    with client.beta.threads.create_and_run_stream(
        assistant_id="asst_1",
        thread={"messages": [{"role": "user", "content": "Hi"}]},
        instructions="Be brief.",
        model="gpt-4o",
        event_handler=recorder,
    ) as stream:
        stream.until_done()
        run = stream.get_final_run()
        [message] = stream.get_final_messages()
    assert recorder.events[0] == "thread.created"
    assert (run.id, run.thread_id, run.assistant_id) == ("run_new", "thread_new", "asst_1")
    assert (run.instructions, run.model, run.created_at) == ("Be brief.", "gpt-4o", T)
    assert (message.thread_id, message.run_id, message.assistant_id) == (
        "thread_new",
        "run_new",
        "asst_1",
    )
    assert message.content[0].text.value == "Hello there"


@sdk_deprecation
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunk_sequences())
def test_official_client_accepts_any_chunk_sequence(chunks: list[Chunk]) -> None:
    result = sdk_result(encode_chunks(chunks, PROTOCOL), fragment=True, seed=len(chunks))
    assert result.recorder.exceptions == []
    assert client_summary(result) == accumulated(chunks)


@settings(max_examples=150, deadline=None)
@given(chunk_sequences())
def test_decode_inverts_encode(chunks: list[Chunk]) -> None:
    got, want = round_trip(chunks, PROTOCOL, project)
    assert got == want


# -- bad values, keepalives, the end of a stream -------------------------------------------------


async def test_nan_ends_the_run_failed_and_the_stream_done(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def run(controller: sb.RunController) -> None:
        controller.append_text("before")
        controller.add_step_finish("stop", input_tokens=5, output_tokens=7)
        controller.add_data({"x": float("nan")})
        controller.append_text("after")

    body = b"".join([part async for part in sb.encode(sb.create_run(run), protocol=PROTOCOL)])
    assert "could not be encoded" in caplog.text
    text = body.decode()
    assert "NaN" not in text
    assert "after" not in text
    failed, done = text.split("\n\n")[-3:-1]
    assert done == "event: done\ndata: [DONE]"
    event, data = failed.split("\n")
    assert event == "event: thread.run.failed"
    run_object = json.loads(data.removeprefix("data: "))
    assert run_object["last_error"] == {
        "code": "server_error",
        "message": sb.run.GENERIC_ERROR_MESSAGE,
    }
    # The refused chunk counted nothing: the usage is the step's, once.
    assert run_object["usage"] == {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
    with pytest.warns(DeprecationWarning, match="The Assistants API is deprecated"):
        result = sdk_result(body)
    assert result.run.status == "failed"
    assert [m.content[0].text.value for m in result.messages] == ["before"]


async def test_a_chunk_refused_first_still_lets_the_run_be_announced() -> None:
    encoder = OpenAIAssistantsEncoder(GOLDEN_INPUT)
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        encoder.encode(Data(float("inf")))
    text = encoder.encode(Error("generic")) + encoder.finish()
    assert text.startswith(wire(PRELUDE))
    assert "event: thread.run.failed\n" in text


@sdk_deprecation
async def test_official_client_accepts_keepalives() -> None:
    async def run(controller: sb.RunController) -> None:
        controller.append_text("a")
        await anyio.sleep(0.12)
        controller.append_text("b")

    encoded = sb.encode(sb.create_run(run), protocol=PROTOCOL, heartbeat=0.03)
    body = b"".join([part async for part in encoded])
    assert b"\n\n: keepalive\n\n" in body
    assert sdk_result(body, fragment=True).recorder.text_deltas == ["a", "b"]
    assert accumulate(decode(body, PROTOCOL)).text == "ab"


async def test_done_and_keepalives_decode_to_nothing() -> None:
    assert decode(b": keepalive\n\nevent: done\ndata: [DONE]\n\n", PROTOCOL) == []
    decoder = OpenAIAssistantsDecoder()
    assert decoder.decode("done", "[DONE]") == []
    assert decoder.close() == []


async def test_decoder_refuses_what_the_protocol_does_not_have() -> None:
    decoder = OpenAIAssistantsDecoder()
    with pytest.raises(ValueError, match="needs an event: line"):
        decoder.decode(None, "{}")
    with pytest.raises(ValueError, match=r"unknown openai-assistants event 'thread\.run\.paused'"):
        decoder.decode("thread.run.paused", "{}")
    with pytest.raises(ValueError, match="starts without an id"):
        decoder.decode(
            "thread.run.step.delta",
            compact(call_delta(1, {"index": 0, "type": "function", "function": {"name": "x"}})),
        )


async def test_decoder_reads_what_the_api_itself_sends() -> None:
    """Events the encoder never makes but the API does: a step listing its calls when created,
    annotations and code interpreter calls (no chunk form), a call announced only in
    ``required_action``, an output that is not JSON, the ``error`` event."""
    decoder = OpenAIAssistantsDecoder()
    listed = {"id": "c1", "type": "function"}
    listed["function"] = {"name": "f", "arguments": '{"a":1}', "output": "plain text"}
    step = step_object(1, "tool_calls", {"type": "tool_calls", "tool_calls": [listed]})
    citation = {"index": 0, "type": "file_citation", "text": "[1]", "file_citation": {}}
    message_delta = {
        "id": "msg_1",
        "object": "thread.message.delta",
        "delta": {
            "content": [
                {
                    "index": 0,
                    "type": "text",
                    "text": {"value": "See [1]", "annotations": [citation]},
                },
                {"index": 1, "type": "image_file", "image_file": {"file_id": "file_1"}},
            ]
        },
    }
    code = {"index": 1, "type": "code_interpreter", "id": "ci", "code_interpreter": {"input": "1"}}
    waiting = {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}}
    required = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [waiting]}}
    events = [
        ("thread.run.step.created", step),
        ("thread.message.delta", message_delta),
        ("thread.run.step.delta", call_delta(1, code)),
        (
            "thread.run.requires_action",
            {**RUN, "status": "requires_action", "required_action": required},
        ),
        ("error", {"error": {"message": "overloaded", "type": "server_error"}}),
    ]
    decoded = [item for event, data in events for item in decoder.decode(event, compact(data))]
    assert decoded == [
        ToolCallBegin("c1", "f"),
        ToolCallDelta("c1", '{"a":1}'),
        ToolCallArgsFinish("c1"),
        ToolResult("c1", "plain text"),
        TextDelta("See [1]"),
        ToolCallBegin("c2", "g"),
        ToolCallDelta("c2", "{}"),
        ToolCallArgsFinish("c2"),
        StreamEnd("tool-calls"),
        Error("overloaded"),
        StreamEnd("error"),
    ]


# -- the request --------------------------------------------------------------------------------


def captured_request(call: Any) -> httpx.Request:
    """The request the SDK sends for ``call(client, handler)`` (answered with an empty stream)."""
    oracle = openai_oracle_client(b"")
    with call(oracle.client, AssistantEventHandler()) as stream:
        stream.until_done()
    [request] = oracle.requests
    return request


@sdk_deprecation
def test_parse_request_reads_the_sdk_create_run_body() -> None:
    messages = [
        {"role": "user", "content": "What's the weather?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Where?"}]},
        {"role": "user", "content": "Paris", "metadata": {"k": "v"}},
    ]
    tools = [
        {
            "type": "function",
            "function": {"name": "get_weather", "parameters": {"type": "object"}},
        },
        {"type": "code_interpreter"},
    ]
    request = captured_request(
        lambda client, handler: client.beta.threads.runs.stream(
            thread_id="thread_1",
            assistant_id="asst_1",
            additional_messages=messages,
            instructions="Be brief.",
            additional_instructions="Use metric units.",
            tools=tools,
            metadata={"user": "u1"},
            model="gpt-4o",
            temperature=0.2,
            top_p=1,
            parallel_tool_calls=False,
            event_handler=handler,
        )
    )
    assert request.url.path == "/v1/threads/thread_1/runs"
    body = json.loads(request.content)
    assert body["stream"] is True
    input = parse_request(body)
    assert input.raw["additional_messages"] == messages
    assert input.messages == [
        sb.Message([sb.TextPart("What's the weather?")], "user"),
        sb.Message([sb.TextPart("Where?")], "assistant"),
        sb.Message([sb.TextPart("Paris")], "user", metadata={"k": "v"}),
    ]
    assert input.tools == tools
    assert input.system == "Be brief.\n\nUse metric units."
    assert input.thread_id is None  # it is in the URL: the host sets it from its route
    assert input.options == {
        "assistant_id": "asst_1",
        "model": "gpt-4o",
        "metadata": {"user": "u1"},
        "temperature": 0.2,
        "top_p": 1,
        "parallel_tool_calls": False,
    }
    assert input.raw is body
    assert (input.state, input.run_id) == (None, None)


@sdk_deprecation
def test_parse_request_reads_the_sdk_create_thread_and_run_body() -> None:
    request = captured_request(
        lambda client, handler: client.beta.threads.create_and_run_stream(
            assistant_id="asst_1",
            thread={"messages": [{"role": "user", "content": "Hi"}]},
            event_handler=handler,
        )
    )
    assert request.url.path == "/v1/threads/runs"
    input = parse_request(json.loads(request.content))
    assert input.messages == [sb.Message([sb.TextPart("Hi")], "user")]
    assert input.options == {"assistant_id": "asst_1", "create_thread": True}
    assert (input.system, input.tools, input.thread_id) == (None, [], None)


def test_parse_request_takes_a_thread_id_a_host_puts_in_the_body() -> None:
    input = parse_request({"assistant_id": "a", "thread_id": "thread_9", "stream": True})
    assert input.thread_id == "thread_9"
    assert input.messages == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "body must be a JSON object"),
        ({}, "'assistant_id' must be a non-empty string"),
        ({"assistant_id": 3}, "'assistant_id' must be a non-empty string"),
        ({"assistant_id": "a", "stream": False}, "'stream' must be true"),
        ({"assistant_id": "a", "thread": []}, "'thread' must be a JSON object"),
        (
            {"assistant_id": "a", "thread": {}, "additional_messages": []},
            "'additional_messages' belongs to create run",
        ),
        (
            {"assistant_id": "a", "thread": {"messages": {}}},
            "'thread.messages' must be a JSON array",
        ),
        ({"assistant_id": "a", "additional_messages": "hi"}, "'additional_messages' must be"),
        ({"assistant_id": "a", "additional_messages": ["hi"]}, r"additional_messages\[0\] must be"),
        (
            {"assistant_id": "a", "additional_messages": [{"role": "system", "content": "x"}]},
            r"additional_messages\[0\].role must be 'user' or 'assistant'",
        ),
        (
            {"assistant_id": "a", "additional_messages": [{"role": "user"}]},
            r"additional_messages\[0\].content must be a string or an array of parts",
        ),
        (
            {"assistant_id": "a", "additional_messages": [{"role": "user", "content": ["x"]}]},
            r"additional_messages\[0\].content parts must be objects",
        ),
        ({"assistant_id": "a", "instructions": 1}, "'instructions' must be a JSON string"),
        ({"assistant_id": "a", "tools": {}}, "'tools' must be a JSON array"),
        ({"assistant_id": "a", "tools": [{"type": "web"}]}, r"tools\[0\] must be an object"),
        (
            {"assistant_id": "a", "tools": [{"type": "function", "function": {}}]},
            r"tools\[0\].function must be an object with a 'name'",
        ),
        ({"assistant_id": "a", "metadata": {"k": 1}}, "'metadata' must map strings to strings"),
        ({"assistant_id": "a", "temperature": "hot"}, "'temperature' must be a number"),
        ({"assistant_id": "a", "top_p": True}, "'top_p' must be a number"),
        ({"assistant_id": "a", "model": 4}, "'model' must be a JSON string"),
        ({"assistant_id": "a", "parallel_tool_calls": "yes"}, "'parallel_tool_calls' must be"),
        ({"assistant_id": "a", "thread_id": 5}, "'thread_id' must be a JSON string"),
    ],
)
def test_parse_request_refuses_wrong_shapes(body: Any, message: str) -> None:
    with pytest.raises(sb.RequestError, match=message):
        parse_request(body)
