"""A scripted assistant streamed as assistant-ui's data stream, printed as the bytes arrive.

    make demo            # or: uv run python examples/quickstart.py

No API key: the "model" is a script paced like a real one.
"""

from __future__ import annotations

import json
import time

import anyio

import streambridge as sb


async def run(controller: sb.RunController) -> None:
    controller.add_step_start()
    for word in ["The user ", "wants the ", "weather."]:
        controller.append_reasoning(word)
        await anyio.sleep(0.05)

    tool = controller.add_tool_call("get_weather")
    for piece in ['{"city": ', '"Paris"}']:
        tool.append_args_text(piece)
        await anyio.sleep(0.05)
    tool.set_response({"temperature_c": 21, "sky": "clear"})
    controller.add_source(id="met", url="https://example.com/paris", title="Paris forecast")

    controller.state["city"] = "Paris"
    controller.state["summary"] = ""
    for word in ["It", "is", "21", "°C", "and", "clear", "in", "Paris", "☀️"]:
        controller.append_text(word + " ")
        controller.state["summary"] += word + " "
        await anyio.sleep(0.04)
    controller.add_step_finish("stop", input_tokens=42, output_tokens=17)


async def main() -> None:
    started = time.perf_counter()
    async with sb.encode(sb.create_run(run, state={}), protocol="data-stream") as body:
        async for data in body:
            for line in data.decode().splitlines():
                print(f"{time.perf_counter() - started:6.3f}s  {line}")
    print(json.dumps({"headers": dict(sb.get_protocol("data-stream").headers)}))


if __name__ == "__main__":
    anyio.run(main)
