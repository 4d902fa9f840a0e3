"""The conversation in one shape (issue 14): each protocol's official client sends one
multi-turn conversation (text, a file, a server tool call with its result, a frontend tool
result, reasoning where the protocol has it); the typed messages are checked part by part and
converted to every model SDK's format, validated with that SDK's own types."""

from __future__ import annotations

import contextlib
import itertools
import json
from typing import Any

import openai.types.chat
import openai.types.responses
import pytest
from anthropic.types import MessageParam
from pydantic import TypeAdapter

import streambridge as sb
from streambridge.convert import to_openai
from support.openai_oracle import openai_oracle_client
from support.oracle import run_oracle

IMAGE = sb.FilePart("aGk=", "image/png")  # "hi", a tiny inline file every protocol can carry
WEATHER_ARGS = {"city": "Paris"}
WEATHER_RESULT = {"temp": 21}
CONFIRM_ARGS = {"question": "Book?"}
CONFIRM_RESULT = {"ok": True}
ANSWER = "21 °C in Paris."

# -- what each official client sends ----------------------------------------------------------

UI_MESSAGES = [
    {"id": "s1", "role": "system", "parts": [{"type": "text", "text": "Be brief."}]},
    {
        "id": "u1",
        "role": "user",
        "parts": [
            {"type": "text", "text": "Weather in Paris?"},
            {"type": "file", "mediaType": "image/png", "url": "data:image/png;base64,aGk="},
        ],
    },
    {
        "id": "a1",
        "role": "assistant",
        "parts": [
            {"type": "step-start"},
            {"type": "reasoning", "text": "Look it up."},
            {
                "type": "tool-get_weather",
                "toolCallId": "call_1",
                "state": "output-available",
                "input": WEATHER_ARGS,
                "output": WEATHER_RESULT,
            },
            {"type": "step-start"},
            {"type": "text", "text": ANSWER},
            {"type": "source-url", "sourceId": "src_1", "url": "https://weather.example/paris"},
            {"type": "data-weather", "data": WEATHER_RESULT},
            {
                "type": "tool-confirm",  # a frontend tool: the browser added its output
                "toolCallId": "call_2",
                "state": "output-available",
                "input": CONFIRM_ARGS,
                "output": CONFIRM_RESULT,
            },
        ],
    },
    {"id": "u2", "role": "user", "parts": [{"type": "text", "text": "Thanks"}]},
]

THREAD_MESSAGES = [  # assistant-ui thread messages, which useDataStreamRuntime converts
    {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "Weather in Paris?"},
            {"type": "image", "image": "data:image/png;base64,aGk="},
        ],
    },
    {
        "role": "assistant",
        "content": [
            {"type": "reasoning", "text": "Look it up."},
            {
                "type": "tool-call",
                "toolCallId": "call_1",
                "toolName": "get_weather",
                "args": WEATHER_ARGS,
                "result": WEATHER_RESULT,
            },
            {"type": "text", "text": ANSWER},
            {
                "type": "tool-call",
                "toolCallId": "call_2",
                "toolName": "confirm",
                "args": CONFIRM_ARGS,
                "result": CONFIRM_RESULT,
            },
        ],
    },
    {"role": "user", "content": [{"type": "text", "text": "Thanks"}]},
]


def _function_call(call_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(args)},
    }


AG_UI_MESSAGES = [
    {"id": "s1", "role": "system", "content": "Be brief."},
    {
        "id": "u1",
        "role": "user",
        "content": [
            {"type": "text", "text": "Weather in Paris?"},
            {"type": "image", "source": {"type": "data", "value": "aGk=", "mimeType": "image/png"}},
        ],
    },
    {"id": "r1", "role": "reasoning", "content": "Look it up."},
    {
        "id": "a1",
        "role": "assistant",
        "toolCalls": [_function_call("call_1", "get_weather", WEATHER_ARGS)],
    },
    {"id": "t1", "role": "tool", "toolCallId": "call_1", "content": json.dumps(WEATHER_RESULT)},
    {
        "id": "a2",
        "role": "assistant",
        "content": ANSWER,
        "toolCalls": [_function_call("call_2", "confirm", CONFIRM_ARGS)],
    },
    {"id": "t2", "role": "tool", "toolCallId": "call_2", "content": json.dumps(CONFIRM_RESULT)},
    {"id": "u2", "role": "user", "content": "Thanks"},
]

CHAT_MESSAGES: list[Any] = [
    {"role": "system", "content": "Be brief."},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "Weather in Paris?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}},
        ],
    },
    {"role": "assistant", "tool_calls": [_function_call("call_1", "get_weather", WEATHER_ARGS)]},
    {"role": "tool", "tool_call_id": "call_1", "content": json.dumps(WEATHER_RESULT)},
    {
        "role": "assistant",
        "content": ANSWER,
        "tool_calls": [_function_call("call_2", "confirm", CONFIRM_ARGS)],
    },
    {"role": "tool", "tool_call_id": "call_2", "content": json.dumps(CONFIRM_RESULT)},
    {"role": "user", "content": "Thanks"},
]

RESPONSES_INPUT: list[Any] = [
    {"role": "system", "content": "Be brief."},
    {
        "role": "user",
        "content": [
            {"type": "input_text", "text": "Weather in Paris?"},
            {"type": "input_image", "image_url": "data:image/png;base64,aGk=", "detail": "auto"},
        ],
    },
    {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "Look it up."}],
    },
    {
        "type": "function_call",
        "call_id": "call_1",
        "name": "get_weather",
        "arguments": json.dumps(WEATHER_ARGS),
    },
    {"type": "function_call_output", "call_id": "call_1", "output": json.dumps(WEATHER_RESULT)},
    {"role": "assistant", "content": ANSWER},
    {
        "type": "function_call",
        "call_id": "call_2",
        "name": "confirm",
        "arguments": json.dumps(CONFIRM_ARGS),
    },
    {"type": "function_call_output", "call_id": "call_2", "output": json.dumps(CONFIRM_RESULT)},
    {"role": "user", "content": "Thanks"},
]

ASSISTANTS_MESSAGES: list[Any] = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "Weather in Paris?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}},
        ],
    },
    {"role": "assistant", "content": ANSWER},
    {"role": "user", "content": "Thanks"},
]


def _official_node_bodies() -> dict[str, Any]:
    spec = {
        "uiMessages": UI_MESSAGES,
        "threadMessages": THREAD_MESSAGES,
        "agUiMessages": AG_UI_MESSAGES,
    }
    bodies: dict[str, Any] = run_oracle("requests.mjs", json.dumps(spec).encode())
    return bodies


def _sdk_body(call: Any) -> Any:
    oracle = openai_oracle_client(b"")
    with contextlib.suppress(Exception):  # the empty answer is no stream; the request matters
        call(oracle.client)
    return oracle.request_json(0)


def _chat(client: Any) -> None:
    with client.chat.completions.stream(model="gpt-test", messages=CHAT_MESSAGES) as stream:
        list(stream)


def _responses(client: Any) -> None:
    with client.responses.stream(model="gpt-test", input=RESPONSES_INPUT) as stream:
        list(stream)


def _assistants(client: Any) -> None:
    from openai import AssistantEventHandler

    with client.beta.threads.runs.stream(  # deprecated API, still what Assistants clients send
        thread_id="thread_1",
        assistant_id="asst_1",
        additional_messages=ASSISTANTS_MESSAGES,
        event_handler=AssistantEventHandler(),
    ) as stream:
        stream.until_done()


ASSISTANT_TRANSPORT_BODY = {  # what useAssistantTransportRuntime POSTs: commands and state
    "commands": [
        {
            "type": "add-message",
            "message": {
                "role": "user",
                "parts": [
                    {"type": "text", "text": "Weather in Paris?"},
                    {"type": "image", "image": "data:image/png;base64,aGk="},
                ],
            },
        },
        {
            "type": "add-tool-result",
            "toolCallId": "call_2",
            "toolName": "confirm",
            "result": CONFIRM_RESULT,
            "isError": False,
        },
    ],
    "state": {"messages": []},
    "system": "Be brief.",
    "tools": {"confirm": {"description": "Ask the user", "parameters": {"type": "object"}}},
}


@pytest.fixture(scope="module")
def requests() -> dict[str, Any]:
    """Each protocol's request body for the conversation, as its official client sends it."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the Assistants API
        bodies = {
            "openai-chat": _sdk_body(_chat),
            "openai-responses": _sdk_body(_responses),
            "openai-assistants": _sdk_body(_assistants),
        }
    bodies.update(_official_node_bodies())
    bodies["assistant-transport"] = ASSISTANT_TRANSPORT_BODY
    return bodies


def _parsed(requests: dict[str, Any], protocol: str) -> sb.RunInput:
    return sb.get_protocol(protocol).parse_request(requests[protocol])


def _loaded(result: Any) -> Any:
    """A tool result as JSON: chat protocols carry results as text."""
    return json.loads(result) if isinstance(result, str) else result


# -- the model, part by part ------------------------------------------------------------------

FULL = ["ui-message-stream", "data-stream", "ag-ui", "openai-chat", "openai-responses"]


@pytest.mark.parametrize("protocol", FULL)
def test_every_protocol_gives_the_same_conversation(
    requests: dict[str, Any], protocol: str
) -> None:
    run_input = _parsed(requests, protocol)
    messages = run_input.messages
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"], messages
    assert run_input.system_prompt == "Be brief."
    system, question, answer, thanks = messages
    assert system.parts == [sb.TextPart("Be brief.")]
    assert question.parts[0] == sb.TextPart("Weather in Paris?")
    [file] = question.files
    assert (file.data, file.mime_type, file.url) == (IMAGE.data, IMAGE.mime_type, None)
    assert run_input.files == []  # the last user message has none
    assert run_input.last_user_text == "Thanks"
    # One assistant turn: both tool calls with their results, the answer between them.
    weather, confirm = answer.tool_calls
    assert (weather.tool_call_id, weather.tool_name, weather.args) == (
        "call_1",
        "get_weather",
        WEATHER_ARGS,
    )
    assert (confirm.tool_call_id, confirm.tool_name, confirm.args) == (
        "call_2",
        "confirm",
        CONFIRM_ARGS,
    )
    assert weather.has_result
    assert confirm.has_result
    assert (_loaded(weather.result), _loaded(confirm.result)) == (WEATHER_RESULT, CONFIRM_RESULT)
    assert not weather.is_error
    assert not confirm.is_error
    assert answer.text == ANSWER
    kinds = [type(p).__name__ for p in answer.parts if not isinstance(p, sb.ReasoningPart)]
    if protocol == "ui-message-stream":  # the only request that carries sources and data
        assert kinds == ["ToolCallPart", "TextPart", "SourcePart", "DataPart", "ToolCallPart"]
        assert answer.sources[0].url == "https://weather.example/paris"
        assert answer.data == [sb.DataPart(WEATHER_RESULT, "weather")]
    else:
        assert kinds == ["ToolCallPart", "TextPart", "ToolCallPart"]
    # Reasoning where the request carries it; assistant-ui's converter drops it, chat has none.
    has_reasoning = protocol in ("ui-message-stream", "ag-ui", "openai-responses")
    assert answer.reasoning == ("Look it up." if has_reasoning else "")
    assert thanks.text == "Thanks"
    assert run_input.pending_tool_calls == []


def test_openai_assistants_carries_text_and_files_only(requests: dict[str, Any]) -> None:
    messages = _parsed(requests, "openai-assistants").messages
    assert [m.role for m in messages] == ["user", "assistant", "user"]
    assert messages[0].parts == [sb.TextPart("Weather in Paris?"), IMAGE]
    assert messages[1].parts == [sb.TextPart(ANSWER)]
    assert messages[2].text == "Thanks"


def test_assistant_transport_keeps_a_result_whose_call_is_in_the_app_state(
    requests: dict[str, Any],
) -> None:
    run_input = _parsed(requests, "assistant-transport")
    question, results = run_input.messages
    assert question.parts == [sb.TextPart("Weather in Paris?"), IMAGE]
    assert results.role == "tool"
    assert results.parts == [sb.ToolResultPart("call_2", CONFIRM_RESULT, "confirm")]
    assert run_input.frontend_tools == [sb.Tool("confirm", "Ask the user", {"type": "object"})]
    assert to_openai(run_input.messages)[-1] == {
        "role": "tool",
        "tool_call_id": "call_2",
        "content": json.dumps(CONFIRM_RESULT),
    }


def test_the_raw_body_stays_at_raw(requests: dict[str, Any]) -> None:
    for protocol, body in requests.items():
        assert _parsed(requests, protocol).raw is body


# -- out to the model SDKs, validated by their own types -------------------------------------

CHAT_PARAMS: TypeAdapter[list[Any]] = TypeAdapter(
    list[openai.types.chat.ChatCompletionMessageParam]
)
RESPONSES_PARAMS: TypeAdapter[list[Any]] = TypeAdapter(openai.types.responses.ResponseInputParam)
ANTHROPIC_PARAMS: TypeAdapter[list[Any]] = TypeAdapter(list[MessageParam])

ALL = [*FULL, "openai-assistants", "assistant-transport"]


def _validated(adapter: TypeAdapter[list[Any]], value: list[Any]) -> list[Any]:
    """``value`` validated by an SDK's TypedDicts, all the way down: pydantic validates their
    ``Iterable`` fields lazily, so each is read here (an invalid item raises)."""

    def read(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: read(v) for key, v in item.items()}
        if isinstance(item, list | tuple):
            return [read(v) for v in item]
        if hasattr(item, "__next__"):
            return [read(v) for v in item]
        return item

    checked: list[Any] = read(adapter.validate_python(value))
    return checked


@pytest.mark.parametrize(
    ("adapter", "bad"),
    [
        (CHAT_PARAMS, [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]),
        (RESPONSES_PARAMS, [{"type": "function_call", "call_id": "c", "name": "f"}]),
        (ANTHROPIC_PARAMS, [{"role": "user", "content": [{"type": "tool_result"}]}]),
    ],
)
def test_the_sdk_validation_refuses_a_malformed_message(
    adapter: TypeAdapter[list[Any]], bad: list[Any]
) -> None:
    with pytest.raises(ValueError, match=r"validation error"):
        _validated(adapter, bad)


def _check_openai_pairs(messages: list[dict[str, Any]]) -> None:
    """Every tool call is answered by a tool message before the next non-tool message."""
    waiting: set[str] = set()
    for message in messages:
        if message["role"] == "tool":
            waiting.discard(message["tool_call_id"])
            continue
        assert not waiting, f"unanswered tool calls {waiting} before {message}"
        waiting = {call["id"] for call in message.get("tool_calls", [])}


@pytest.mark.parametrize("protocol", ALL)
def test_to_openai_is_valid_chat_messages(requests: dict[str, Any], protocol: str) -> None:
    messages = _parsed(requests, protocol).to_openai()
    assert _validated(CHAT_PARAMS, messages) == messages  # nothing the SDK does not know
    assert (
        messages[0] == {"role": "system", "content": "Be brief."} or protocol == "openai-assistants"
    )
    if protocol in FULL:
        _check_openai_pairs(messages)
        assert [m["role"] for m in messages] == [
            "system",
            "user",
            "assistant",
            "tool",
            "assistant",
            "tool",
            "user",
        ]
        assert messages[1]["content"][1] == {
            "type": "image_url",
            "image_url": {"url": "data:image/png;base64,aGk="},
        }
        assert messages[2]["tool_calls"][0]["function"]["name"] == "get_weather"
        assert _loaded(messages[3]["content"]) == WEATHER_RESULT
        assert messages[4]["content"] == ANSWER


@pytest.mark.parametrize("protocol", ALL)
def test_to_openai_responses_is_valid_input(requests: dict[str, Any], protocol: str) -> None:
    items = _parsed(requests, protocol).to_openai_responses()
    assert _validated(RESPONSES_PARAMS, items) == items
    if protocol in FULL:
        kinds = [item.get("type") or item["role"] for item in items]
        assert kinds == [
            "system",
            "user",
            "function_call",
            "function_call_output",
            "assistant",
            "function_call",
            "function_call_output",
            "user",
        ]


@pytest.mark.parametrize("protocol", ALL)
def test_to_anthropic_is_valid_messages_with_system_apart(
    requests: dict[str, Any], protocol: str
) -> None:
    request = _parsed(requests, protocol).to_anthropic()
    messages = request["messages"]
    assert _validated(ANTHROPIC_PARAMS, messages) == messages
    if protocol != "openai-assistants":
        assert request.get("system") == "Be brief."
    roles = [m["role"] for m in messages]
    assert all(a != b for a, b in itertools.pairwise(roles)), roles  # turns alternate
    for turn, following in itertools.pairwise(messages):
        uses = [b["id"] for b in turn["content"] if b["type"] == "tool_use"]
        results = [b["tool_use_id"] for b in following["content"] if b["type"] == "tool_result"]
        assert results[: len(uses)] == uses  # results open the next user turn
    if protocol in FULL:
        assert roles == ["user", "assistant", "user", "assistant", "user"]
        assert messages[0]["content"][1] == {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "aGk="},
        }
        assert messages[1]["content"] == [
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": WEATHER_ARGS}
        ]


@pytest.mark.parametrize("protocol", ALL)
def test_to_langchain_gives_paired_messages(requests: dict[str, Any], protocol: str) -> None:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
    from langchain_core.messages.utils import convert_to_openai_messages

    messages = _parsed(requests, protocol).to_langchain()
    if protocol in FULL:
        assert [type(m) for m in messages] == [
            SystemMessage,
            HumanMessage,
            AIMessage,
            ToolMessage,
            AIMessage,
            ToolMessage,
            HumanMessage,
        ]
        assert messages[2].tool_calls == [
            {"name": "get_weather", "args": WEATHER_ARGS, "id": "call_1", "type": "tool_call"}
        ]
        assert messages[3].tool_call_id == "call_1"
    # LangChain's own conversion to OpenAI messages accepts them, and they are valid there too.
    converted = convert_to_openai_messages(messages)
    _validated(CHAT_PARAMS, converted)


# -- OpenAI reasoning items go back to the Responses API ----------------------------------------

REASONING_A = {  # an item as a reasoning model returns it with reasoning.encrypted_content
    "type": "reasoning",
    "id": "rs_a",
    "summary": [
        {"type": "summary_text", "text": "**Weather.** Look it up."},
        {"type": "summary_text", "text": "**Paris.** Call the tool."},
    ],
    "encrypted_content": "gAAAAA-first-turn",
}
REASONING_B = {"type": "reasoning", "id": "rs_b", "summary": [], "encrypted_content": "gAAAAA-b"}

REASONING_INPUT: list[Any] = [  # what a client keeping the conversation itself sends back
    {"role": "user", "content": "Weather in Paris?"},
    REASONING_A,
    {
        "type": "function_call",
        "call_id": "call_1",
        "name": "get_weather",
        "arguments": json.dumps(WEATHER_ARGS),
    },
    {"type": "function_call_output", "call_id": "call_1", "output": json.dumps(WEATHER_RESULT)},
    REASONING_B,
    {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": ANSWER, "annotations": []}],
    },
    {"role": "user", "content": "Thanks"},
]


def _openai(item_id: str, encrypted: str | None = None) -> dict[str, Any]:
    metadata = {"itemId": item_id}
    if encrypted is not None:
        metadata["reasoningEncryptedContent"] = encrypted
    return {"openai": metadata}


@pytest.fixture(scope="module")
def reasoning_request() -> sb.RunInput:
    """A stateless (``store: false``) request of the official SDK that sends reasoning back."""

    def send(client: Any) -> None:
        with client.responses.stream(
            model="o4-mini",
            input=REASONING_INPUT,
            store=False,
            include=["reasoning.encrypted_content"],
        ) as stream:
            list(stream)

    return sb.get_protocol("openai-responses").parse_request(_sdk_body(send))


def test_responses_reasoning_items_keep_their_id_and_encrypted_content(
    reasoning_request: sb.RunInput,
) -> None:
    question, answer, thanks = reasoning_request.messages
    assert (question.text, thanks.text) == ("Weather in Paris?", "Thanks")
    first, second, call, empty, text = answer.parts
    assert first == sb.ReasoningPart(
        "**Weather.** Look it up.", provider_metadata=_openai("rs_a", "gAAAAA-first-turn")
    )
    assert second == sb.ReasoningPart(
        "**Paris.** Call the tool.", provider_metadata=_openai("rs_a", "gAAAAA-first-turn")
    )
    assert isinstance(call, sb.ToolCallPart)
    assert (call.tool_call_id, _loaded(call.result)) == ("call_1", WEATHER_RESULT)
    # An item without a summary is kept all the same: the model needs it back.
    assert empty == sb.ReasoningPart("", provider_metadata=_openai("rs_b", "gAAAAA-b"))
    assert text == sb.TextPart(ANSWER)
    assert answer.reasoning == "**Weather.** Look it up.**Paris.** Call the tool."
    assert reasoning_request.options["include"] == ["reasoning.encrypted_content"]


def test_to_openai_responses_gives_reasoning_items_back_in_place(
    reasoning_request: sb.RunInput,
) -> None:
    items = reasoning_request.to_openai_responses()
    assert _validated(RESPONSES_PARAMS, items) == items
    assert items == [
        {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
        REASONING_A,  # before the call it led to, summaries and encrypted content as sent
        REASONING_INPUT[2],
        REASONING_INPUT[3],
        REASONING_B,
        {"role": "assistant", "content": ANSWER},
        {"role": "user", "content": [{"type": "input_text", "text": "Thanks"}]},
    ]


def test_other_converters_leave_openai_reasoning_out(reasoning_request: sb.RunInput) -> None:
    without = sb.RunInput(
        messages=[
            sb.Message([p for p in m.parts if not isinstance(p, sb.ReasoningPart)], m.role)
            for m in reasoning_request.messages
        ]
    )
    assert reasoning_request.to_openai() == without.to_openai()
    assert reasoning_request.to_anthropic() == without.to_anthropic()
    assert reasoning_request.to_langchain() == without.to_langchain()


def test_our_encoders_reasoning_comes_back_as_sent_and_stays_with_us() -> None:
    """What streambridge's openai-responses encoder streams, a client sends back: its items
    name ids of ours and carry no encrypted content, so they stay in the conversation but are
    not sent to OpenAI, which would refuse an item it never made."""
    from streambridge.chunks import ReasoningDelta, TextDelta
    from support.openai_oracle import openai_oracle_client
    from support.scenarios import encode_chunks, fixed_input

    chunks = [ReasoningDelta("Think"), ReasoningDelta(" twice."), TextDelta(ANSWER)]
    oracle = openai_oracle_client(
        encode_chunks(chunks, "openai-responses", input=fixed_input(run_id="run_1"))
    )
    with oracle.client.responses.stream(model="o4-mini", input="Weather in Paris?") as stream:
        output = stream.get_final_response().output
    history = [item.model_dump(exclude_none=True) for item in output]
    with oracle.client.responses.stream(
        model="o4-mini",
        input=[{"role": "user", "content": "Weather in Paris?"}, *history, ANOTHER_QUESTION],
    ) as stream:
        list(stream)
    run_input = sb.get_protocol("openai-responses").parse_request(oracle.request_json(1))
    question, answer, again = run_input.messages
    assert (question.text, again.text) == ("Weather in Paris?", "And in Lyon?")
    assert answer.parts == [
        sb.ReasoningPart("Think twice.", provider_metadata=_openai("rs_run_1_0")),
        sb.TextPart(ANSWER),
    ]
    items = run_input.to_openai_responses()
    assert _validated(RESPONSES_PARAMS, items) == items
    assert [item.get("type") or item["role"] for item in items] == ["user", "assistant", "user"]


ANOTHER_QUESTION = {"role": "user", "content": "And in Lyon?"}


def test_ui_reasoning_with_openai_provider_metadata_goes_back_too() -> None:
    """An AI SDK reasoning part keeps its ``providerMetadata`` (the shape the AI SDK's OpenAI
    provider gives it: ``itemId``, with ``reasoningEncryptedContent`` on the item's last
    part), so a conversation that came through useChat gives OpenAI its reasoning back."""
    messages = [
        {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Weather in Paris?"}]},
        {
            "id": "a1",
            "role": "assistant",
            "parts": [
                {"type": "step-start"},
                {
                    "type": "reasoning",
                    "text": "Look it up.",
                    "providerMetadata": {"openai": {"itemId": "rs_a"}},
                },
                {
                    "type": "reasoning",
                    "text": "Then answer.",
                    "providerMetadata": _openai("rs_a", "gAAAAA-a"),
                },
                {"type": "text", "text": ANSWER},
            ],
        },
    ]
    body = run_oracle(
        "requests.mjs",
        json.dumps({"uiMessages": messages, "threadMessages": [], "agUiMessages": []}).encode(),
    )["ui-message-stream"]
    run_input = sb.get_protocol("ui-message-stream").parse_request(body)
    first, second, text = run_input.messages[1].parts
    assert text == sb.TextPart(ANSWER)
    assert first == sb.ReasoningPart("Look it up.", provider_metadata=_openai("rs_a"))
    assert second == sb.ReasoningPart("Then answer.", provider_metadata=_openai("rs_a", "gAAAAA-a"))
    items = run_input.to_openai_responses()
    assert _validated(RESPONSES_PARAMS, items) == items
    assert items[1:] == [
        {
            "type": "reasoning",
            "id": "rs_a",
            "summary": [
                {"type": "summary_text", "text": "Look it up."},
                {"type": "summary_text", "text": "Then answer."},
            ],
            "encrypted_content": "gAAAAA-a",
        },
        {"role": "assistant", "content": ANSWER},
    ]
