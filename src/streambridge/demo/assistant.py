"""A scripted assistant that exercises every chunk kind, paced like a real model.

It reasons, calls a weather tool with streamed arguments, cites a source, answers in streamed
text about what the user wrote, keeps a small state (status, a running summary, a list of tool
calls) and reports token usage.  No model and no API key: the words are a script.
"""

from __future__ import annotations

import re

import anyio

from ..run import RunController

__all__ = ["demo_run"]

DEFAULT_QUESTION = "What is the weather in Paris?"
TOKEN_DELAY = 0.035
"""Seconds between tokens: about 30 tokens a second, like a fast hosted model."""
TOOL_DELAY = 0.4


def _city(question: str) -> str:
    found = re.search(r"\bin ([A-Z][\w-]+(?: [A-Z][\w-]+)*)", question)
    return found.group(1) if found else "Paris"


def _tokens(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text)


async def demo_run(controller: RunController, *, delay: float = TOKEN_DELAY) -> None:
    """The demo assistant.  ``delay`` paces the tokens (0 streams as fast as possible)."""
    question = controller.input.last_user_text.strip() or DEFAULT_QUESTION
    city = _city(question)
    state = controller.state
    state["status"] = "thinking"
    state["summary"] = ""
    state["tool_calls"] = []

    controller.add_step_start()
    for token in _tokens(f"The user asked: “{question}”. I should check the weather in {city}."):
        controller.append_reasoning(token)
        await anyio.sleep(delay)

    state["status"] = "calling get_weather"
    tool = controller.add_tool_call("get_weather")
    for piece in ['{"city": ', f'"{city}"', ', "unit": ', '"celsius"}']:
        tool.append_args_text(piece)
        await anyio.sleep(delay)
    tool.close_args()
    await anyio.sleep(delay and TOOL_DELAY)
    weather = {"city": city, "temperature_c": 21, "sky": "clear", "wind_kph": 9}
    tool.set_response(weather)
    state["tool_calls"].append({"name": "get_weather", "city": city})
    controller.add_source(
        id="weather-source",
        url=f"https://en.wikipedia.org/wiki/{city.replace(' ', '_')}",
        title=f"{city} — Wikipedia",
    )

    state["status"] = "answering"
    answer = (
        f"You asked: “{question}”\n\nIn {city} it is 21 °C under a clear sky, "
        "with a light wind of 9 km/h. ☀️ A fine day for a walk."
    )
    tokens = _tokens(answer)
    for token in tokens:
        controller.append_text(token)
        state["summary"] += token
        await anyio.sleep(delay)
    state["status"] = "done"
    controller.add_step_finish(
        "stop", input_tokens=len(_tokens(question)) + 12, output_tokens=len(tokens) + 14
    )
