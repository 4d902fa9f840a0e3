"""What a client sent to start a run, in one shape for every wire protocol."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .messages import FilePart, Message, Tool, ToolCallPart

if TYPE_CHECKING:
    from .convert import AnthropicRequest

__all__ = ["RunInput", "new_run_id"]


def new_run_id() -> str:
    """``run_`` and 32 random hex digits (128 bits, as a UUID's; os.urandom is what uuid4
    draws from, without building a UUID)."""
    return "run_" + os.urandom(16).hex()


@dataclass(slots=True)
class RunInput:
    """The request that started a run.

    Each protocol's request parser fills it from that protocol's POST body; ``raw`` keeps the
    decoded body for anything the common fields do not carry.  ``messages`` is the
    conversation, typed the same way for every protocol (:class:`~streambridge.Message`), and
    the ``to_*`` methods hand it to a model SDK.  ``run_id`` and ``created_at``
    give the encoders their ids and timestamps, so encoding the same chunks with the same input
    gives the same bytes (``create_run`` fills a missing ``run_id``).
    """

    messages: list[Message] = field(default_factory=list)
    """The conversation so far, oldest first, in the one shape every protocol is read into."""
    tools: list[Any] = field(default_factory=list)
    """The tools the frontend offers, as its protocol sent them (see :attr:`frontend_tools`)."""
    state: Any = None
    """The agent state the client sent (a JSON value), which the run starts from."""
    thread_id: str | None = None
    """The conversation's id, where the protocol sends one (a thread, a chat)."""
    run_id: str | None = None
    """This run's id: the client's where its protocol sends one, else a fresh one."""
    raw: Any = None
    """The request body as decoded JSON, for what the common fields do not carry."""
    system: str | None = None
    """System prompt or instructions, where the protocol's request carries one."""
    options: dict[str, Any] = field(default_factory=dict)
    """Protocol-specific request options an encoder honours (e.g. ``include_usage``, ``model``)."""
    created_at: int = field(default_factory=lambda: int(time.time()))
    """When the run was requested, in Unix seconds."""

    # -- conveniences ----------------------------------------------------------------------

    @property
    def last_user_message(self) -> Message | None:
        """The last message whose role is ``user``, or ``None``."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message
        return None

    @property
    def last_user_text(self) -> str:
        """The text of the last user message (``""`` when there is none)."""
        message = self.last_user_message
        return message.text if message is not None else ""

    @property
    def files(self) -> list[FilePart]:
        """The files attached to the last user message."""
        message = self.last_user_message
        return message.files if message is not None else []

    @property
    def system_prompt(self) -> str | None:
        """The system prompt: the request's own (``system``, ``instructions``) when the
        messages hold none, else the text of the system messages."""
        texts = [m.text for m in self.messages if m.role == "system"]
        if texts:
            return "\n\n".join(texts)
        return self.system

    @property
    def frontend_tools(self) -> list[Tool]:
        """The frontend's function tools, in one shape whatever protocol sent them."""
        tools = []
        for tool in self.tools:
            if not isinstance(tool, dict):
                continue
            function = tool.get("function")
            spec: dict[str, Any] = function if isinstance(function, dict) else tool
            if tool.get("type", "function") != "function" or not isinstance(spec.get("name"), str):
                continue
            description, parameters = spec.get("description"), spec.get("parameters")
            tools.append(
                Tool(
                    spec["name"],
                    description if isinstance(description, str) else None,
                    parameters if isinstance(parameters, dict) else None,
                )
            )
        return tools

    @property
    def pending_tool_calls(self) -> list[ToolCallPart]:
        """Tool calls of the conversation that have no result yet: approved ones to run,
        requested approvals, calls the frontend has not answered."""
        return [
            call for message in self.messages for call in message.tool_calls if not call.has_result
        ]

    # -- to the model SDKs -----------------------------------------------------------------

    def to_openai(self, *, system: bool = True) -> list[dict[str, Any]]:
        """The conversation as OpenAI chat ``messages``, the request's system prompt first
        (``system=False`` leaves it out)."""
        from .convert import to_openai

        return to_openai(self.messages, system=self._system_apart() if system else None)

    def to_openai_responses(self, *, system: bool = True) -> list[dict[str, Any]]:
        """The conversation as OpenAI Responses ``input`` items."""
        from .convert import to_openai_responses

        return to_openai_responses(self.messages, system=self._system_apart() if system else None)

    def to_anthropic(self) -> AnthropicRequest:
        """``{"system"?: ..., "messages": [...]}`` for ``client.messages.create(**...)``."""
        from .convert import to_anthropic

        return to_anthropic(self.messages, system=self._system_apart())

    def to_langchain(self, *, system: bool = True) -> list[Any]:
        """The conversation as LangChain messages (needs ``langchain-core``)."""
        from .convert import to_langchain

        return to_langchain(self.messages, system=self._system_apart() if system else None)

    def _system_apart(self) -> str | None:
        """The request's system prompt when the messages do not carry it themselves."""
        if any(m.role == "system" for m in self.messages):
            return None
        return self.system
