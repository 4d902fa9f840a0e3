"""The conversation (:mod:`streambridge.messages`) in the shapes model SDKs take.

``to_openai`` gives chat ``messages``, ``to_openai_responses`` Responses ``input`` items,
``to_anthropic`` the Messages API's ``messages`` with ``system`` apart, ``to_langchain``
LangChain message objects.  Plain dicts (the SDKs' TypedDicts accept them), no SDK import except
LangChain's, inside its converter.

Tool calls and results pair up the way each API demands: an assistant turn whose tool calls have
results is split where the model went on after them (call, results, then the next text), and
each result follows its call.  A call the user denied (a human-in-the-loop approval) gets an
error result saying so, since every API wants an answer to each call.  A call without a result
(pending: run it, then ``call.set_result(...)``) is sent as a call alone.  What an API has no
room for (reasoning without what its provider needs to take it back, data parts, sources) is
left out; OpenAI's reasoning items, with their encrypted content, go back to the Responses API.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Sequence
from typing import Any, TypedDict

from .messages import (
    FilePart,
    Message,
    Part,
    ReasoningPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)

__all__ = [
    "AnthropicRequest",
    "to_anthropic",
    "to_langchain",
    "to_openai",
    "to_openai_responses",
]


class _AnthropicRequired(TypedDict):
    messages: list[dict[str, Any]]


class AnthropicRequest(_AnthropicRequired, total=False):
    """``client.messages.create(model=..., max_tokens=..., **request)``."""

    system: str


# -- what every converter shares -----------------------------------------------------------


def _steps(message: Message) -> Iterator[list[Part]]:
    """An assistant message cut where it goes on after tool calls that have results: each
    piece is one model turn (its text and calls), whose results come before the next."""
    step: list[Part] = []
    answered = False
    for part in message.parts:
        if isinstance(part, ToolCallPart):
            step.append(part)
            answered = answered or _answered(part)
        elif isinstance(part, TextPart | ReasoningPart | FilePart):
            if answered:
                yield step
                step, answered = [], False
            step.append(part)
    if step:
        yield step


def _answered(call: ToolCallPart) -> bool:
    return call.has_result or (call.approval is not None and call.approval.approved is False)


def _result(call: ToolCallPart) -> tuple[Any, bool]:
    """What answers a call: its result, or for a denied approval an error saying so."""
    if call.has_result:
        return call.result, call.is_error
    reason = call.approval.reason if call.approval is not None else None
    return "The user denied this tool call" + (f": {reason}" if reason else "."), True


def _text(result: Any) -> str:
    return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)


def _args(call: ToolCallPart) -> dict[str, Any]:
    """Parsed arguments as an object (what Anthropic and LangChain want)."""
    try:
        args = call.args
    except ValueError:
        return {}
    return args if isinstance(args, dict) else {"input": args}


def _texts(parts: Sequence[Part]) -> str:
    return "".join(p.text for p in parts if isinstance(p, TextPart))


def _decoded_text(file: FilePart) -> str | None:
    if file.data is None:
        return None
    try:
        return base64.b64decode(file.data, validate=True).decode()
    except (binascii.Error, ValueError):
        return None


# -- OpenAI chat ----------------------------------------------------------------------------


def to_openai(messages: Sequence[Message], *, system: str | None = None) -> list[dict[str, Any]]:
    """OpenAI chat ``messages`` (``ChatCompletionMessageParam``); ``system`` first, if given."""
    out: list[dict[str, Any]] = []
    if system:
        out.append({"role": "system", "content": system})
    for message in messages:
        if message.role == "system":
            if message.text:
                out.append({"role": "system", "content": message.text})
        elif message.role == "user":
            content = _openai_user(message.parts)
            if content:
                out.append({"role": "user", "content": content})
        elif message.role == "assistant":
            for step in _steps(message):
                out.extend(_openai_step(step))
        else:
            out.extend(_openai_results(message.tool_results))
    return out


def _openai_user(parts: Sequence[Part]) -> str | list[dict[str, Any]]:
    if all(isinstance(p, TextPart) for p in parts):
        return _texts(parts)
    content: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, FilePart):
            item = _openai_file(part)
            if item is not None:
                content.append(item)
    return content


def _openai_file(file: FilePart) -> dict[str, Any] | None:
    mime = file.mime_type or ""
    if file.is_image and file.data_url is not None:
        return {"type": "image_url", "image_url": {"url": file.data_url}}
    if mime in ("audio/wav", "audio/mp3", "audio/mpeg") and file.data is not None:
        audio_format = "wav" if mime == "audio/wav" else "mp3"
        return {"type": "input_audio", "input_audio": {"data": file.data, "format": audio_format}}
    if file.file_id is not None:
        return {"type": "file", "file": {"file_id": file.file_id}}
    if file.data is not None:
        return {
            "type": "file",
            "file": {"file_data": file.data_url, "filename": file.filename or "file"},
        }
    return None  # a remote file that is no image: chat messages cannot point at it


def _openai_step(step: list[Part]) -> list[dict[str, Any]]:
    calls = [p for p in step if isinstance(p, ToolCallPart)]
    text = _texts(step)
    if not text and not calls:
        return []
    assistant: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        assistant["tool_calls"] = [
            {
                "id": call.tool_call_id,
                "type": "function",
                "function": {"name": call.tool_name, "arguments": call.args_text or "{}"},
            }
            for call in calls
        ]
    out = [assistant]
    for call in calls:
        if _answered(call):
            result, _ = _result(call)
            out.append(
                {"role": "tool", "tool_call_id": call.tool_call_id, "content": _text(result)}
            )
    return out


def _openai_results(results: Sequence[ToolResultPart]) -> list[dict[str, Any]]:
    return [
        {"role": "tool", "tool_call_id": r.tool_call_id, "content": _text(r.result)}
        for r in results
    ]


# -- OpenAI Responses -----------------------------------------------------------------------


def to_openai_responses(
    messages: Sequence[Message], *, system: str | None = None
) -> list[dict[str, Any]]:
    """OpenAI Responses ``input`` items (``ResponseInputItemParam``).  Pass the request's
    ``instructions`` apart, or leave ``system`` to put them first as a system message."""
    out: list[dict[str, Any]] = []
    if system:
        out.append({"role": "system", "content": system})
    for message in messages:
        if message.role == "system":
            if message.text:
                out.append({"role": "system", "content": message.text})
        elif message.role == "user":
            content = _responses_user(message.parts)
            if content:
                out.append({"role": "user", "content": content})
        elif message.role == "assistant":
            out.extend(_responses_assistant(message.parts))
        else:
            out.extend(
                {
                    "type": "function_call_output",
                    "call_id": r.tool_call_id,
                    "output": _text(r.result),
                }
                for r in message.tool_results
            )
    return out


def _responses_user(parts: Sequence[Part]) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            content.append({"type": "input_text", "text": part.text})
        elif isinstance(part, FilePart):
            if part.is_image and part.data_url is not None:
                content.append(
                    {"type": "input_image", "image_url": part.data_url, "detail": "auto"}
                )
            elif part.is_image and part.file_id is not None:
                content.append({"type": "input_image", "file_id": part.file_id, "detail": "auto"})
            elif part.file_id is not None:
                content.append({"type": "input_file", "file_id": part.file_id})
            elif part.data is not None:
                content.append(
                    {
                        "type": "input_file",
                        "file_data": part.data_url,
                        "filename": part.filename or "file",
                    }
                )
            elif part.url is not None:
                content.append({"type": "input_file", "file_url": part.url})
    return content


def _responses_assistant(parts: Sequence[Part]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    text = ""
    encrypted = _encrypted_reasoning(parts)

    def end_text() -> None:
        nonlocal text
        if text:
            out.append({"role": "assistant", "content": text})
            text = ""

    for part in parts:
        if isinstance(part, TextPart):
            text += part.text
        elif isinstance(part, ReasoningPart):
            item_id = _openai_reasoning(part).get("itemId")
            if item_id not in encrypted:
                continue
            end_text()
            last = out[-1] if out else {}
            if last.get("type") != "reasoning" or last["id"] != item_id:
                last = {"type": "reasoning", "id": item_id, "summary": []}
                last["encrypted_content"] = encrypted[item_id]
                out.append(last)
            if part.text:  # the summary texts of one item are consecutive parts
                last["summary"].append({"type": "summary_text", "text": part.text})
        elif isinstance(part, ToolCallPart):
            end_text()
            out.append(
                {
                    "type": "function_call",
                    "call_id": part.tool_call_id,
                    "name": part.tool_name,
                    "arguments": part.args_text or "{}",
                }
            )
            if _answered(part):
                result, _ = _result(part)
                out.append(
                    {
                        "type": "function_call_output",
                        "call_id": part.tool_call_id,
                        "output": _text(result),
                    }
                )
    end_text()
    return out


def _openai_reasoning(part: ReasoningPart) -> dict[str, Any]:
    metadata = (part.provider_metadata or {}).get("openai")
    return metadata if isinstance(metadata, dict) else {}


def _encrypted_reasoning(parts: Sequence[Part]) -> dict[str, str]:
    """The encrypted content of each OpenAI reasoning item in ``parts``, by item id (the AI SDK
    may set it on the last of an item's parts only).

    Only these items go back: without its encrypted content an item can be named only by the
    id of an item the API stored (``store: true``), and a request that names one with
    ``store: false``, or an id the API never made (those of streambridge's own encoder), is
    refused.  Reasoning without it is left out, as reasoning from other providers is."""
    found: dict[str, str] = {}
    for part in parts:
        if isinstance(part, ReasoningPart):
            metadata = _openai_reasoning(part)
            item_id, content = metadata.get("itemId"), metadata.get("reasoningEncryptedContent")
            if isinstance(item_id, str) and isinstance(content, str):
                found[item_id] = content
    return found


# -- Anthropic ------------------------------------------------------------------------------

_ANTHROPIC_IMAGES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def to_anthropic(messages: Sequence[Message], *, system: str | None = None) -> AnthropicRequest:
    """The Messages API's ``messages`` (``MessageParam``), and ``system`` apart: the given
    prompt and the system messages' text.  Consecutive turns of one role are merged (results
    first), as the API wants user and assistant turns to alternate."""
    prompts = [system] if system else []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    for message in messages:
        if message.role == "system":
            if message.text:
                prompts.append(message.text)
        elif message.role == "user":
            add("user", _anthropic_user(message.parts))
        elif message.role == "assistant":
            for step in _steps(message):
                blocks: list[dict[str, Any]] = []
                results: list[dict[str, Any]] = []
                for part in step:
                    if isinstance(part, TextPart) and part.text:
                        blocks.append({"type": "text", "text": part.text})
                    elif isinstance(part, ToolCallPart):
                        blocks.append(
                            {
                                "type": "tool_use",
                                "id": part.tool_call_id,
                                "name": part.tool_name,
                                "input": _args(part),
                            }
                        )
                        if _answered(part):
                            result, is_error = _result(part)
                            results.append(_tool_result(part.tool_call_id, result, is_error))
                add("assistant", blocks)
                add("user", results)
        else:
            add(
                "user",
                [_tool_result(r.tool_call_id, r.result, r.is_error) for r in message.tool_results],
            )
    request: AnthropicRequest = {"messages": turns}
    if prompts:
        request["system"] = "\n\n".join(prompts)
    return request


def _tool_result(tool_use_id: str, result: Any, is_error: bool) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id}
    block["content"] = _text(result)
    if is_error:
        block["is_error"] = True
    return block


def _anthropic_user(parts: Sequence[Part]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart) and part.text:
            blocks.append({"type": "text", "text": part.text})
        elif isinstance(part, FilePart):
            block = _anthropic_file(part)
            if block is not None:
                blocks.append(block)
    return blocks


def _anthropic_file(file: FilePart) -> dict[str, Any] | None:
    mime = file.mime_type or ""
    if file.is_image:
        if file.data is not None and mime in _ANTHROPIC_IMAGES:
            source = {"type": "base64", "media_type": mime, "data": file.data}
            return {"type": "image", "source": source}
        if file.url is not None:
            return {"type": "image", "source": {"type": "url", "url": file.url}}
        return None
    if mime == "application/pdf":
        if file.data is not None:
            source = {"type": "base64", "media_type": mime, "data": file.data}
            return {"type": "document", "source": source}
        if file.url is not None:
            return {"type": "document", "source": {"type": "url", "url": file.url}}
    if mime == "text/plain":
        text = _decoded_text(file)
        if text is not None:
            source = {"type": "text", "media_type": "text/plain", "data": text}
            return {"type": "document", "source": source}
    return None


# -- LangChain ------------------------------------------------------------------------------


def to_langchain(messages: Sequence[Message], *, system: str | None = None) -> list[Any]:
    """LangChain messages: ``SystemMessage``, ``HumanMessage`` (text, or standard content
    blocks with files), ``AIMessage`` with ``tool_calls``, ``ToolMessage``.  Needs
    ``langchain-core``."""
    try:
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "to_langchain() needs langchain-core: pip install langchain-core"
        ) from exc

    out: list[Any] = []
    if system:
        out.append(SystemMessage(system))
    for message in messages:
        if message.role == "system":
            if message.text:
                out.append(SystemMessage(message.text))
        elif message.role == "user":
            content = _langchain_user(message.parts)
            if content:
                out.append(HumanMessage(content))
        elif message.role == "assistant":
            for step in _steps(message):
                calls = [p for p in step if isinstance(p, ToolCallPart)]
                out.append(
                    AIMessage(
                        _texts(step),
                        tool_calls=[
                            {
                                "name": c.tool_name,
                                "args": _args(c),
                                "id": c.tool_call_id,
                                "type": "tool_call",
                            }
                            for c in calls
                        ],
                    )
                )
                for call in calls:
                    if _answered(call):
                        result, is_error = _result(call)
                        out.append(
                            ToolMessage(
                                _text(result),
                                tool_call_id=call.tool_call_id,
                                status="error" if is_error else "success",
                            )
                        )
        else:
            for r in message.tool_results:
                out.append(
                    ToolMessage(
                        _text(r.result),
                        tool_call_id=r.tool_call_id,
                        status="error" if r.is_error else "success",
                    )
                )
    return out


def _langchain_user(parts: Sequence[Part]) -> str | list[str | dict[str, Any]]:
    if all(isinstance(p, TextPart) for p in parts):
        return _texts(parts)
    blocks: list[str | dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            blocks.append({"type": "text", "text": part.text})
        elif isinstance(part, FilePart):
            kind = "image" if part.is_image else "file"
            block: dict[str, Any] = {"type": kind}
            if part.mime_type and not part.mime_type.endswith("/*"):
                block["mime_type"] = part.mime_type
            if part.data is not None:
                block["base64"] = part.data
            elif part.url is not None:
                block["url"] = part.url
            elif part.file_id is not None:
                block["file_id"] = part.file_id
            blocks.append(block)
    return blocks
