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
from .protocols import WireProtocol, get_protocol, protocol_names
from .run import (
    CancellationSignal,
    RunController,
    RunFunction,
    RunStream,
    ToolCallController,
    create_run,
)
from .runs import MemoryStore, RunStatus
from .state import StateError, StateProxy

__all__ = [
    "BufferOverflowError",
    "CancellationSignal",
    "EncodedStream",
    "MemoryStore",
    "RequestError",
    "RunController",
    "RunError",
    "RunFunction",
    "RunInput",
    "RunStatus",
    "RunStream",
    "StateError",
    "StateProxy",
    "ToolCallController",
    "WireProtocol",
    "chunks",
    "create_run",
    "encode",
    "get_protocol",
    "protocol_names",
]

__version__ = "0.1.0"
