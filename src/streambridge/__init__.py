"""streambridge: write an assistant's run once, stream it to any chat frontend.

>>> import streambridge as sb
>>> async def run(controller: sb.RunController) -> None:
...     controller.append_text("Hello")
>>> body = sb.encode(sb.create_run(run), protocol="data-stream")
"""

from __future__ import annotations

from . import chunks
from .encoding import EncodedStream, encode
from .exceptions import BufferOverflowError, RequestError, RunError
from .input import RunInput
from .messages import (
    DataPart,
    FilePart,
    Message,
    MessageAccumulator,
    Part,
    ReasoningPart,
    SourcePart,
    TextPart,
    Tool,
    ToolApproval,
    ToolCallPart,
    ToolResultPart,
    Usage,
)
from .protocols import WireProtocol, get_protocol, protocol_names
from .run import (
    CancellationSignal,
    FinishHook,
    RunController,
    RunFunction,
    RunStream,
    ToolCallController,
    create_run,
)
from .runs import MemoryStore, RedisStore, RunStatus
from .state import StateError, StateProxy
from .transport.signals import unwatch_signals, watch_signals

__all__ = [
    "BufferOverflowError",
    "CancellationSignal",
    "DataPart",
    "EncodedStream",
    "MemoryStore",
    "FilePart",
    "FinishHook",
    "Message",
    "MessageAccumulator",
    "Part",
    "ReasoningPart",
    "RedisStore",
    "RequestError",
    "RunController",
    "RunError",
    "RunFunction",
    "RunInput",
    "RunStatus",
    "RunStream",
    "SourcePart",
    "StateError",
    "StateProxy",
    "TextPart",
    "Tool",
    "ToolApproval",
    "ToolCallController",
    "ToolCallPart",
    "ToolResultPart",
    "Usage",
    "WireProtocol",
    "chunks",
    "create_run",
    "encode",
    "get_protocol",
    "protocol_names",
    "unwatch_signals",
    "watch_signals",
]

__version__ = "0.1.0"
