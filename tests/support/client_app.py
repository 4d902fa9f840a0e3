"""The hosts the client's resume tests read from: one that keeps its runs, one that does not.

The run is paced (about a second), so a reader can attach mid-run, and carries every kind of
part a message has, so a duplicated or lost event shows in the message the client builds.  The
short heartbeat puts keepalives between the events, which a resuming client must not count.
"""

from __future__ import annotations

import anyio

import streambridge as sb
from streambridge.asgi import StreamApp

PIECES = 40
INTERVAL = 0.02
HEARTBEAT = 0.01


def piece(index: int) -> str:
    return f"word{index:02d} and some more "


def expected_text() -> str:
    return "".join(piece(index) for index in range(PIECES))


async def run(controller: sb.RunController) -> None:
    controller.append_reasoning("Thinking it over")
    tool = controller.add_tool_call("get_weather", "call_1")
    for part in ['{"city"', ': "Os', 'lo"}']:
        tool.append_args_text(part)
        await anyio.sleep(INTERVAL)
    tool.set_response({"temp": 7})
    controller.state["draft"] = ""
    for index in range(PIECES):
        controller.append_text(piece(index))
        if index % 10 == 0:
            controller.state["draft"] += f"{index}."
        await anyio.sleep(INTERVAL)
    controller.add_step_finish(finish_reason="stop", input_tokens=3, output_tokens=PIECES)


stored_app = StreamApp(run, store=sb.MemoryStore(), heartbeat=HEARTBEAT)
plain_app = StreamApp(run, heartbeat=HEARTBEAT)
