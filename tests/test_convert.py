"""The converters (issue 14): tool calls and results round-trip through each model SDK's format
for any conversation, and human-in-the-loop answers that come back in the next request reach
the model."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import streambridge as sb
from streambridge.convert import to_anthropic, to_langchain, to_openai, to_openai_responses
from streambridge.exceptions import RequestError
from streambridge.protocols import ag_ui, openai_chat, openai_responses, ui_message_stream

texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
call_ids = itertools.count()


@st.composite
def tool_call(draw: st.DrawFn) -> sb.ToolCallPart:
    args = draw(st.dictionaries(st.sampled_from("abc"), json_values, max_size=3))
    call = sb.ToolCallPart(
        f"call_{next(call_ids)}", draw(st.sampled_from(["search", "confirm"])), json.dumps(args)
    )
    call.set_result(draw(json_values), is_error=draw(st.booleans()))
    return call


@st.composite
def assistant(draw: st.DrawFn) -> sb.Message:
    """Model turns: every turn but the last calls tools (whose results it then reads)."""
    steps = draw(st.integers(1, 3))
    parts: list[sb.Part] = []
    for step in range(steps):
        if draw(st.booleans()):
            parts.append(sb.TextPart(draw(texts)))
        calls = draw(st.lists(tool_call(), min_size=1 if step < steps - 1 else 0, max_size=2))
        parts.extend(calls)
    if not parts:
        parts.append(sb.TextPart(draw(texts)))
    return sb.Message(parts, "assistant")


@st.composite
def conversations(draw: st.DrawFn) -> list[sb.Message]:
    messages = [sb.Message([sb.TextPart(draw(texts))], "system")] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(1, 3))):
        user: list[sb.Part] = [sb.TextPart(draw(texts))]
        if draw(st.booleans()):
            user.append(sb.FilePart("aGk=", "image/png"))
        messages.append(sb.Message(user, "user"))
        messages.append(draw(assistant()))
    return messages


def summary(messages: list[sb.Message]) -> list[Any]:
    """What a round trip through an SDK format keeps: roles, text, files, calls and results
    (results as JSON: chat formats carry them as text)."""

    def part(p: sb.Part) -> Any:
        if isinstance(p, sb.TextPart):
            return ("text", p.text)
        if isinstance(p, sb.FilePart):
            return ("file", p.data, p.mime_type)
        assert isinstance(p, sb.ToolCallPart)
        result = p.result if isinstance(p.result, str) else json.dumps(p.result, ensure_ascii=False)
        return ("call", p.tool_call_id, p.tool_name, p.args, p.has_result, result)

    return [(m.role, [part(p) for p in m.parts]) for m in messages]


@settings(max_examples=150, deadline=None)
@given(conversations())
def test_openai_chat_round_trips(messages: list[sb.Message]) -> None:
    assert summary(openai_chat.parse_messages(to_openai(messages))) == summary(messages)


@settings(max_examples=150, deadline=None)
@given(conversations())
def test_openai_responses_round_trips(messages: list[sb.Message]) -> None:
    back = openai_responses.parse_messages(to_openai_responses(messages))
    assert summary(back) == summary(messages)


item_ids = itertools.count()


@st.composite
def reasoning_items(draw: st.DrawFn) -> list[sb.Part]:
    """The parts of one OpenAI reasoning item: a summary text each, or one empty part for an
    item without a summary, all carrying the item's id and encrypted content."""
    metadata = {"itemId": f"rs_{next(item_ids)}", "reasoningEncryptedContent": draw(texts)}
    summary = draw(st.lists(texts, max_size=2)) or [""]
    return [sb.ReasoningPart(t, provider_metadata={"openai": dict(metadata)}) for t in summary]


@st.composite
def reasoning_conversations(draw: st.DrawFn) -> list[sb.Message]:
    """Conversations whose model turns may each open with reasoning (a reasoning model's)."""
    messages = draw(conversations())
    for message in messages:
        if message.role != "assistant":
            continue
        parts: list[sb.Part] = []
        starts_turn = True
        for part in message.parts:
            if starts_turn and draw(st.booleans()):
                parts.extend(draw(reasoning_items()))
            parts.append(part)
            starts_turn = isinstance(part, sb.ToolCallPart)
        message.parts = parts
    return messages


def with_reasoning(messages: list[sb.Message]) -> list[Any]:
    """``summary`` with each reasoning part's text and provider metadata in its place."""
    summaries = summary(
        [
            sb.Message([p for p in m.parts if not isinstance(p, sb.ReasoningPart)], m.role)
            for m in messages
        ]
    )
    out = []
    for message, (role, parts) in zip(messages, summaries, strict=True):
        rest = iter(parts)
        out.append(
            (
                role,
                [
                    ("reasoning", p.text, p.provider_metadata)
                    if isinstance(p, sb.ReasoningPart)
                    else next(rest)
                    for p in message.parts
                ],
            )
        )
    return out


@settings(max_examples=150, deadline=None)
@given(reasoning_conversations())
def test_openai_responses_round_trips_reasoning_items(messages: list[sb.Message]) -> None:
    back = openai_responses.parse_messages(to_openai_responses(messages))
    assert with_reasoning(back) == with_reasoning(messages)


@settings(max_examples=60, deadline=None)
@given(conversations())
def test_langchain_round_trips_through_its_own_openai_conversion(
    messages: list[sb.Message],
) -> None:
    from langchain_core.messages.utils import convert_to_openai_messages

    chat = convert_to_openai_messages(to_langchain(messages))
    assert summary(openai_chat.parse_messages(chat)) == summary(messages)


@settings(max_examples=150, deadline=None)
@given(conversations())
def test_anthropic_pairs_every_tool_use_with_its_result(messages: list[sb.Message]) -> None:
    request = to_anthropic(messages)
    turns = request["messages"]
    assert [t["role"] for t in turns][::2] == ["user"] * len(turns[::2])  # user, assistant, ...
    roles = [t["role"] for t in turns]
    assert all(a != b for a, b in itertools.pairwise(roles))
    calls = [p for m in messages for p in m.tool_calls]
    uses = [b for t in turns for b in t["content"] if b["type"] == "tool_use"]
    assert [(u["id"], u["name"], u["input"]) for u in uses] == [
        (c.tool_call_id, c.tool_name, c.args) for c in calls
    ]
    for turn, following in itertools.pairwise(turns):
        ids = [b["id"] for b in turn["content"] if b["type"] == "tool_use"]
        results = following["content"][: len(ids)]
        assert [b["tool_use_id"] for b in results] == ids
        for block, call in zip(results, [c for c in calls if c.tool_call_id in ids], strict=True):
            assert block.get("is_error", False) == call.is_error
    system = [m.text for m in messages if m.role == "system"]
    assert request.get("system") == ("\n\n".join(system) if system else None)


# -- human in the loop: the answer comes back in the next request ------------------------------


def _ui_body(tool_part: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chat_1",
        "messages": [
            {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Book Paris"}]},
            {"id": "a1", "role": "assistant", "parts": [{"type": "step-start"}, tool_part]},
        ],
        "trigger": "submit-message",
    }


def test_an_approved_call_is_pending_until_the_run_executes_it() -> None:
    run_input = ui_message_stream.parse_request(
        _ui_body(
            {
                "type": "tool-book",
                "toolCallId": "call_1",
                "state": "approval-responded",
                "input": {"city": "Paris"},
                "approval": {"id": "approval_1", "approved": True, "reason": "fine"},
            }
        )
    )
    [call] = run_input.pending_tool_calls
    assert call.approval == sb.ToolApproval("approval_1", True, "fine")
    assert (call.tool_name, call.args, call.has_result) == ("book", {"city": "Paris"}, False)
    call.set_result({"booked": True})  # the run executes the approved tool
    assert to_openai(run_input.messages)[-1] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": '{"booked": true}',
    }
    assert run_input.pending_tool_calls == []


def test_a_denied_call_is_answered_as_denied_in_every_format() -> None:
    run_input = ui_message_stream.parse_request(
        _ui_body(
            {
                "type": "tool-book",
                "toolCallId": "call_1",
                "state": "output-denied",
                "input": {"city": "Paris"},
                "approval": {"id": "approval_1", "approved": False, "reason": "too expensive"},
            }
        )
    )
    denied = "The user denied this tool call: too expensive"
    assert to_openai(run_input.messages)[-1]["content"] == denied
    assert to_openai_responses(run_input.messages)[-1]["output"] == denied
    [result] = to_anthropic(run_input.messages)["messages"][-1]["content"]
    assert result == {
        "type": "tool_result",
        "tool_use_id": "call_1",
        "content": denied,
        "is_error": True,
    }
    assert to_langchain(run_input.messages)[-1].status == "error"


def test_a_frontend_tool_result_becomes_the_matching_tool_message() -> None:
    run_input = ui_message_stream.parse_request(
        _ui_body(
            {
                "type": "tool-askColor",  # executed in the browser (addToolResult)
                "toolCallId": "call_9",
                "state": "output-error",
                "input": {},
                "errorText": "the user closed the dialog",
            }
        )
    )
    chat = to_openai(run_input.messages)
    assert chat[-2]["tool_calls"][0]["id"] == "call_9"
    assert chat[-1] == {
        "role": "tool",
        "tool_call_id": "call_9",
        "content": "the user closed the dialog",
    }


# -- AG-UI: the answers to a run's interrupts come back as `resume` -----------------------------

AG_UI_INTERRUPTED = [  # the thread as it stood when the run ended with tool-call interrupts
    {"id": "u1", "role": "user", "content": "Book Paris and tell Ann"},
    {
        "id": "a1",
        "role": "assistant",
        "toolCalls": [
            {
                "id": "call_book",
                "type": "function",
                "function": {"name": "book", "arguments": '{"city": "Paris"}'},
            },
            {
                "id": "call_mail",
                "type": "function",
                "function": {"name": "mail", "arguments": '{"to": "ann@example.com"}'},
            },
            {
                "id": "call_pay",
                "type": "function",
                "function": {"name": "pay", "arguments": '{"eur": 90}'},
            },
        ],
    },
]
RESUME = [  # one entry per interrupt: the run named each after the call it was raised for
    {
        "interruptId": "call_book",
        "status": "resolved",
        "payload": {"approved": True, "editedArgs": {"city": "Lyon"}},
    },
    {
        "interruptId": "call_mail",
        "status": "resolved",
        "payload": {"approved": False, "reason": "not now"},
    },
    {"interruptId": "call_pay", "status": "cancelled"},
    {"interruptId": "int_budget", "status": "resolved", "payload": {"limit": 100}},
]


def _ag_ui_resume_body() -> dict[str, Any]:
    """What @ag-ui/client's HttpAgent POSTs for ``runAgent({resume})`` on that thread."""
    from support.oracle import run_oracle

    spec = {
        "uiMessages": [],
        "threadMessages": [],
        "agUiMessages": AG_UI_INTERRUPTED,
        "agUiResume": RESUME,
    }
    body: dict[str, Any] = run_oracle("requests.mjs", json.dumps(spec).encode())["ag-ui"]
    return body


def test_ag_ui_resume_entries_are_the_approvals_of_their_tool_calls() -> None:
    body = _ag_ui_resume_body()
    assert body["resume"] == RESUME
    run_input = ag_ui.parse_request(body)
    book, mail, pay = run_input.messages[1].tool_calls
    assert book.approval == sb.ToolApproval("call_book", True)
    assert book.args == {"city": "Lyon"}  # approved with edits: the edits replace the args
    assert mail.approval == sb.ToolApproval("call_mail", False, "not now")
    assert mail.args == {"to": "ann@example.com"}
    assert pay.approval == sb.ToolApproval("call_pay", False)  # abandoned: not to be run
    assert run_input.options["resume"] == RESUME  # every answer, for the run to read
    approved = [c for c in run_input.pending_tool_calls if c.approval and c.approval.approved]
    assert approved == [book]
    book.set_result({"booked": "Lyon"})  # the run executes the approved call

    chat = to_openai(run_input.messages)
    assert chat[1]["tool_calls"][0]["function"] == {"name": "book", "arguments": '{"city": "Lyon"}'}
    assert chat[2:] == [
        {"role": "tool", "tool_call_id": "call_book", "content": '{"booked": "Lyon"}'},
        {
            "role": "tool",
            "tool_call_id": "call_mail",
            "content": "The user denied this tool call: not now",
        },
        {"role": "tool", "tool_call_id": "call_pay", "content": "The user denied this tool call."},
    ]
    outputs = [i for i in to_openai_responses(run_input.messages) if "output" in i]
    assert [o["call_id"] for o in outputs] == ["call_book", "call_mail", "call_pay"]
    results = to_anthropic(run_input.messages)["messages"][-1]["content"]
    assert [(r["tool_use_id"], r.get("is_error", False)) for r in results] == [
        ("call_book", False),
        ("call_mail", True),
        ("call_pay", True),
    ]
    assert [m.status for m in to_langchain(run_input.messages)[2:]] == [
        "success",
        "error",
        "error",
    ]


def test_ag_ui_without_resume_leaves_calls_unanswered() -> None:
    body = {"threadId": "t", "runId": "r", "messages": AG_UI_INTERRUPTED}
    run_input = ag_ui.parse_request(body)
    assert all(call.approval is None for call in run_input.messages[1].tool_calls)
    assert "resume" not in run_input.options


@pytest.mark.parametrize(
    ("resume", "message"),
    [
        ({"interruptId": "x"}, "'resume' must be a JSON array"),
        (["x"], r"resume\[0\] must be a JSON object"),
        ([{"status": "resolved"}], r"resume\[0\] needs a string 'interruptId'"),
        ([{"interruptId": "x", "status": "done"}], "'resolved' or 'cancelled'"),
    ],
)
def test_ag_ui_refuses_a_malformed_resume(resume: Any, message: str) -> None:
    body = {"threadId": "t", "runId": "r", "messages": [], "resume": resume}
    with pytest.raises(RequestError, match=message):
        ag_ui.parse_request(body)
