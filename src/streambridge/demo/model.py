"""The demo's other assistant: a real model, on any server that speaks OpenAI chat completions.

When the environment names one (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, and ``OPENAI_MODEL``
for the model, ``gpt-4o-mini`` if unset), ``streambridge demo`` answers with it: the page's
conversation goes out through ``controller.input.to_openai()`` and the model's stream comes back
through the :func:`~streambridge.bridges.openai_chat` bridge.  Without those variables the demo
stays scripted and needs no key.  This is the whole run a user of the library writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..bridges import openai_chat
from ..run import RunController, RunFunction

__all__ = ["DEFAULT_MODEL", "ModelServer", "model_run"]

DEFAULT_MODEL = "gpt-4o-mini"
SYSTEM = "You are the assistant of the streambridge demo. Answer briefly."


@dataclass(frozen=True)
class ModelServer:
    """Where the demo's model is: an OpenAI-compatible server and the model to ask."""

    base_url: str | None
    api_key: str | None
    model: str = DEFAULT_MODEL

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ModelServer | None:
        """The server the environment names, or ``None`` (the scripted demo) if it names none."""
        base_url = environ.get("OPENAI_BASE_URL") or None
        api_key = environ.get("OPENAI_API_KEY") or None
        if base_url is None and api_key is None:
            return None
        return cls(base_url, api_key, environ.get("OPENAI_MODEL") or DEFAULT_MODEL)

    def describe(self) -> str:
        return f"{self.model} at {self.base_url or 'https://api.openai.com/v1'}"


def model_run(server: ModelServer) -> RunFunction:
    """A run that answers with ``server``'s model (needs the ``openai`` extra)."""
    try:
        import openai
    except ImportError:
        raise RuntimeError(
            "the demo talks to a model when OPENAI_BASE_URL or OPENAI_API_KEY is set, and that "
            "needs the openai package: pip install 'streambridge[openai]' (or unset them for the "
            "scripted demo)"
        ) from None
    # A local server (llama.cpp, vLLM, Ollama) may want no key, but the SDK insists on one.
    api_key = server.api_key or "unused"

    async def run(controller: RunController) -> None:
        messages: Any = [{"role": "system", "content": SYSTEM}, *controller.input.to_openai()]
        # A client per run: its connections belong to the event loop the run is on, and close
        # with it.
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key=api_key) as client:
            stream = await client.chat.completions.create(
                model=server.model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
            )
            await openai_chat(controller, stream)  # closes the stream if the run is cancelled

    return run
