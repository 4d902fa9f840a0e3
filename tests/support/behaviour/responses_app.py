"""A FastAPI app written the assistant-stream way: the handler reads the request, defines a run
that closes over it, and returns ``DataStreamResponse(create_run(run))`` (or another of
streambridge_starlette's responses).  ``tests/behaviour/test_starlette_responses.py`` serves it on
real servers.

The JSON body names the run (``"scenario"``, ``"marker"``: as in app.py); the query picks the
response class (``?response=DataStreamResponse``, default :class:`RunResponse`), its protocol
(``?protocol=``, for :class:`RunResponse`) and whether it is handed a run function instead of a
``create_run`` stream (``?form=function``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

import streambridge as sb
from streambridge_starlette import (
    AssistantTransportResponse,
    DataStreamResponse,
    OpenAIStreamResponse,
    RunResponse,
    shutdown_responses,
)

from .app import OPTIONS, PATH, run_scenario
from .resources import REPORT_PATH, async_report

ALIASES = {
    "DataStreamResponse": DataStreamResponse,
    "AssistantTransportResponse": AssistantTransportResponse,
    "OpenAIStreamResponse": OpenAIStreamResponse,
}
HEARTBEAT = OPTIONS["heartbeat"]
SEND_TIMEOUT = OPTIONS["send_timeout"]


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
    await shutdown_responses()


app = FastAPI(lifespan=lifespan)


@app.post(PATH)
async def chat(request: Request) -> Response:
    body: dict[str, Any] = await request.json()

    async def run(controller: sb.RunController) -> None:
        await run_scenario(controller, body.get("scenario", "plain_text"), body.get("marker"))

    query = request.query_params
    alias = ALIASES.get(query.get("response", ""))
    stream = run if query.get("form") == "function" else sb.create_run(run)
    if alias is not None:
        return alias(stream, heartbeat=HEARTBEAT, send_timeout=SEND_TIMEOUT)
    return RunResponse(
        stream,
        query.get("protocol", "data-stream"),
        heartbeat=HEARTBEAT,
        send_timeout=SEND_TIMEOUT,
    )


@app.get(REPORT_PATH)
async def report() -> dict[str, Any]:
    return await async_report()
