"""Per wire protocol: the request body its client sends and its official client's verdict.

One row per protocol.  ``body`` is a minimal request the protocol's own client sends and its
parser accepts (the suite adds ``"scenario"`` and ``"marker"`` keys to it); ``oracle`` feeds the
bytes a host streamed to the protocol's official client and asserts that the message it built is
the expected one, with the ``client_summary`` and ``project`` of the protocol's own tests.  Every
row runs on every host (``test_oracles.py``); a protocol with no row is still judged by
``streambridge.client``.

The JavaScript clients run once per row and host over the whole batch (their ``many`` mode); the
OpenAI SDK runs in this process, answered with the bytes (``openai_oracle.py``): the SDK's own
URLs (``/chat/completions``, ``/responses``, ``/threads/{id}/runs``) are not the test app's path.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import test_data_stream as data_stream
import test_protocol_ag_ui as ag_ui
import test_protocol_assistant_transport as assistant_transport
import test_protocol_openai_assistants as openai_assistants
import test_protocol_openai_chat as openai_chat
import test_protocol_openai_responses as openai_responses
import test_protocol_ui_message_stream as ui_message_stream
from streambridge.client import Message

from ..openai_oracle import openai_oracle_client
from ..oracle import run_oracle
from ..scenarios import summary


@dataclass(frozen=True)
class ProtocolCase:
    body: dict[str, Any]
    oracle: Callable[[list[tuple[bytes, Message]]], None]
    """``oracle([(data, expected), ...])`` raises ``AssertionError`` unless the official client
    built each ``expected`` message from its ``data`` (one client process for them all)."""
    project: Callable[[dict[str, Any]], dict[str, Any]] = lambda summary: summary
    """What the protocol can say of a message's ``scenarios.summary``: what ``streambridge.client``
    can read back of it (the protocol's round-trip projection); all of it unless told."""


def run_many(script: str, cases: list[tuple[bytes, Message]], **item: Any) -> list[Any]:
    """``script``'s output for each stream, from one node process (``item`` goes with each)."""
    streams = [{"stream": data.decode(), **item} for data, _ in cases]
    outputs: list[Any] = run_oracle(script, json.dumps(streams).encode(), many=True)
    assert len(outputs) == len(cases)
    return outputs


def tool_names(message: Message) -> list[str]:
    """The tools to declare ``strict`` to the SDK, so that it parses their arguments itself."""
    return sorted({call.tool_name for call in message.tool_calls})


# -- the rows ------------------------------------------------------------------------------------

HI = [{"role": "user", "content": "Hi"}]
HI_PARTS = [{"type": "text", "text": "Hi"}]

DATA_STREAM = {"messages": HI}


def data_stream_oracle(cases: list[tuple[bytes, Message]]) -> None:
    for message, (_, want) in zip(run_many("data-stream.mjs", cases), cases, strict=True):
        assert data_stream.client_summary(message) == data_stream.project(summary(want))


ASSISTANT_TRANSPORT = {
    # useAssistantTransportRuntime after the user's first message (no agent state yet)
    "commands": [
        {
            "type": "add-message",
            "message": {"role": "user", "parts": HI_PARTS},
            "parentId": None,
            "sourceId": None,
        }
    ],
    "tools": {},
    "callSettings": {},
    "config": {},
}


def assistant_transport_oracle(cases: list[tuple[bytes, Message]]) -> None:
    outputs = run_many("assistant-transport.mjs", cases, initialState=None)
    for output, (_, want) in zip(outputs, cases, strict=True):
        assert output["thrown"] is None
        assert assistant_transport.client_summary(output) == assistant_transport.project(
            summary(want)
        )


UI_MESSAGE_STREAM = {
    # useChat (DefaultChatTransport) sending the first message of a chat
    "id": "chat_1",
    "messages": [{"id": "msg_u1", "role": "user", "parts": HI_PARTS}],
    "trigger": "submit-message",
}


def ui_message_stream_oracle(cases: list[tuple[bytes, Message]]) -> None:
    for out, (_, want) in zip(run_many("ui-message-stream.mjs", cases), cases, strict=True):
        assert ui_message_stream.client_summary(out) == ui_message_stream.project(summary(want))


INCLUDE_USAGE = True
OPENAI_CHAT = {
    # client.chat.completions.stream(model=..., messages=..., stream_options=...)
    "model": openai_chat.MODEL,
    "messages": HI,
    "stream": True,
    "stream_options": {"include_usage": INCLUDE_USAGE},
}


def openai_chat_oracle(cases: list[tuple[bytes, Message]]) -> None:
    for data, want in cases:
        client = openai_oracle_client(data).client
        result = openai_chat.sdk_stream(
            client, include_usage=INCLUDE_USAGE, tool_names=tool_names(want)
        )
        assert result.final_error is None
        assert openai_chat.client_summary(result, None) == openai_chat.project(
            summary(want), include_usage=INCLUDE_USAGE
        )


OPENAI_RESPONSES = {
    # client.responses.stream(model=..., input="Hi")
    "model": "gpt-test",
    "input": "Hi",
    "stream": True,
}


def openai_responses_oracle(cases: list[tuple[bytes, Message]]) -> None:
    for data, want in cases:
        run = openai_responses.read_with_sdk(data, tools=tool_names(want))
        assert openai_responses.client_summary(run) == openai_responses.project(summary(want))


OPENAI_ASSISTANTS = {
    # client.beta.threads.runs.stream(thread_id=..., assistant_id=..., additional_messages=...):
    # the thread id is in the SDK's URL, not in the body
    "assistant_id": "asst_1",
    "additional_messages": HI,
    "stream": True,
}


def openai_assistants_oracle(cases: list[tuple[bytes, Message]]) -> None:
    for data, want in cases:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", openai_assistants.SDK_DEPRECATION, category=DeprecationWarning
            )
            result = openai_assistants.sdk_result(data)
        assert result.recorder.exceptions == []
        assert openai_assistants.client_summary(result) == openai_assistants.project(summary(want))


AG_UI = {
    # HttpAgent.runAgent() with a fresh agent: RunAgentInput
    "threadId": "thread_1",
    "runId": "run_1",
    "messages": [{"id": "msg_u1", "role": "user", "content": "Hi"}],
    "tools": [],
    "context": [],
    "state": {},
    "forwardedProps": {},
}


def ag_ui_oracle(cases: list[tuple[bytes, Message]]) -> None:
    outputs = run_many("ag-ui.mjs", cases, initialState=AG_UI["state"])
    for got, (_, want) in zip(outputs, cases, strict=True):
        assert ag_ui.client_summary(got) == ag_ui.project(summary(want))


PROTOCOLS: dict[str, ProtocolCase] = {
    "data-stream": ProtocolCase(DATA_STREAM, data_stream_oracle),
    "assistant-transport": ProtocolCase(ASSISTANT_TRANSPORT, assistant_transport_oracle),
    "ui-message-stream": ProtocolCase(UI_MESSAGE_STREAM, ui_message_stream_oracle),
    "openai-chat": ProtocolCase(OPENAI_CHAT, openai_chat_oracle),
    "openai-assistants": ProtocolCase(OPENAI_ASSISTANTS, openai_assistants_oracle),
    "ag-ui": ProtocolCase(AG_UI, ag_ui_oracle),
    "openai-responses": ProtocolCase(
        OPENAI_RESPONSES, openai_responses_oracle, openai_responses.project
    ),
}


def request_body(protocol: str, **extra: Any) -> dict[str, Any]:
    """The protocol's minimal request with the suite's keys added."""
    return {**PROTOCOLS[protocol].body, **extra}
