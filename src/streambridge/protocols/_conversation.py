"""What the request parsers share to build the typed conversation (:mod:`streambridge.messages`).

Each protocol module reads its own message shapes; this module holds the parts that are the same
for all of them: pairing a tool result with the call it answers, and reading loose JSON values.
Parts a parser does not know are skipped (protocols grow new part types), never guessed at.
"""

from __future__ import annotations

import json
from typing import Any

from ..messages import (
    FilePart,
    Message,
    Part,
    ReasoningPart,
    Role,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)

__all__ = ["Conversation", "args_text", "file_from", "image_from", "string", "text_of"]


class Conversation:
    """The messages of one request, in order, with every tool call findable by id."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._calls: dict[str, ToolCallPart] = {}

    def add(self, role: Role, parts: list[Part], id: Any = None, metadata: Any = None) -> Message:
        message = Message(parts, role, id if isinstance(id, str) else None, metadata=metadata)
        for part in parts:
            if isinstance(part, ToolCallPart):
                self._calls[part.tool_call_id] = part
        self.messages.append(message)
        return message

    def assistant(self, parts: list[Part], id: Any = None) -> Message:
        """An assistant message, or the continuation of the last one: protocols that send one
        message per model turn (chat messages, AG-UI) split an answer at its tool calls, and
        the model going on after their results is the same answer, as one UI message is."""
        last = self.messages[-1] if self.messages else None
        if last is not None and last.role == "assistant" and _continues(last):
            for part in parts:
                if isinstance(part, ToolCallPart):
                    self._calls[part.tool_call_id] = part
            last.parts.extend(parts)
            return last
        return self.add("assistant", parts, id)

    def call(self, tool_call_id: str) -> ToolCallPart | None:
        return self._calls.get(tool_call_id)

    def add_tool_call(self, message: Message, part: ToolCallPart) -> None:
        message.parts.append(part)
        self._calls[part.tool_call_id] = part

    def result(
        self,
        tool_call_id: str,
        result: Any,
        *,
        is_error: bool = False,
        tool_name: str | None = None,
        artifact: Any = None,
    ) -> None:
        """A tool result: set on the call it answers, or, when that call is not in the
        request, kept as a :class:`ToolResultPart` in a ``tool`` message."""
        call = self._calls.get(tool_call_id)
        if call is not None:
            call.set_result(result, is_error=is_error, artifact=artifact)
            return
        part = ToolResultPart(tool_call_id, result, tool_name, is_error, artifact)
        last = self.messages[-1] if self.messages else None
        if last is not None and last.role == "tool":
            last.parts.append(part)
        else:
            self.add("tool", [part])


def _continues(message: Message) -> bool:
    """Whether the next assistant message goes on with this one: it ended with tool calls that
    all have results, or it holds only reasoning so far."""
    parts = message.parts
    if parts and all(isinstance(p, ReasoningPart) for p in parts):
        return True
    calls = 0
    for part in reversed(parts):
        if not isinstance(part, ToolCallPart):
            break
        if not part.has_result:
            return False
        calls += 1
    return calls > 0


def string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def args_text(value: Any) -> str:
    """A tool call's arguments as JSON text: a string as sent, anything else serialised."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


def text_of(content: Any) -> list[Part]:
    """A ``content`` that is a string, or a list of ``{"type": "text", "text"}`` parts."""
    if isinstance(content, str):
        return [TextPart(content)] if content else []
    parts: list[Part] = []
    if isinstance(content, list):
        for item in content:
            if (
                isinstance(item, dict)
                and isinstance(item.get("text"), str)
                and item.get("type") in ("text", "input_text", "output_text")
            ):
                parts.append(TextPart(item["text"]))
    return parts


def joined_text(content: Any) -> str:
    """The text of a ``content`` (see :func:`text_of`) as one string."""
    return "".join(part.text for part in text_of(content) if isinstance(part, TextPart))


def add_function_calls(out: Conversation, target: Message, calls: Any) -> None:
    """OpenAI-shaped tool calls (``[{"id", "function": {"name", "arguments"}}]``, which AG-UI's
    messages share) as finished tool call parts of ``target``."""
    for call in calls or []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(call.get("id"), str):
            name = str(function.get("name", ""))
            part = ToolCallPart(call["id"], name, args_text(function.get("arguments")), True)
            out.add_tool_call(target, part)


def file_from(
    value: Any, mime_type: Any = None, filename: Any = None, *, base64_if_bare: bool = True
) -> FilePart | None:
    """A file from a URL, a ``data:`` URL or (``base64_if_bare``) a bare base64 string."""
    if not isinstance(value, str) or not value:
        return None
    mime, name = string(mime_type), string(filename)
    if value.startswith(("data:", "http://", "https://")) or not base64_if_bare:
        return FilePart.from_url(value, mime, filename=name)
    return FilePart(value, mime, filename=name)


def image_from(url: Any, file_id: Any = None) -> FilePart | None:
    """An image given by URL (or data URL) or provider file id; ``image/*`` where the
    protocol says it is an image but not which kind."""
    found = file_from(url, base64_if_bare=False)
    if found is None and isinstance(file_id, str):
        found = FilePart(None, None, file_id=file_id)
    if found is not None and found.mime_type is None:
        found.mime_type = "image/*"
    return found
