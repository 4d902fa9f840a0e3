"""Bridges: an upstream model or agent stream becomes a run's chunks in one call.

>>> from streambridge.bridges import openai_chat
>>> async def run(controller):
...     stream = await client.chat.completions.create(model=..., messages=..., stream=True)
...     await openai_chat(controller, stream)

Each bridge reads SDK objects (sync or async streams) or plain dicts of the same shape, so none
imports its SDK to read a stream: the core, and this package, import no openai, anthropic,
langgraph or langchain module.  Only ``langgraph(..., state_sync=True)`` needs ``langchain-core``
(the ``langgraph`` extra), to merge message chunks as LangChain does.
"""

from __future__ import annotations

from ._common import UpstreamError
from .anthropic_messages import anthropic_messages
from .langgraph import langgraph
from .openai_chat import openai_chat
from .openai_responses import openai_responses

__all__ = ["UpstreamError", "anthropic_messages", "langgraph", "openai_chat", "openai_responses"]
