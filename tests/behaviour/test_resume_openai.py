"""OpenAI Responses' own resume and stop, judged by the ``openai`` SDK (strict validation) on a
real server that keeps its runs: ``background=True``, ``retrieve(id, stream=True,
starting_after=N)``, ``retrieve(id)`` and ``cancel(id)``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import openai
import pytest
from openai.types.beta import AssistantStreamEvent

from support.behaviour.hosts import UVICORN, Host, LiveHost, ServerPool
from support.behaviour.stored_app import LONG_PIECES

HOST = Host("stored-app-uvicorn", "support.behaviour.stored_app:stored_app", UVICORN)
TEXT = "".join(f"{i} " for i in range(LONG_PIECES))


def sdk_client(servers: ServerPool, protocol: str) -> openai.OpenAI:
    """The SDK, strict, pointed at the stored host; ``protocol`` picks the host's protocol (its
    default is data-stream)."""
    live: LiveHost = servers.get(HOST)
    return openai.OpenAI(
        base_url=f"http://127.0.0.1:{live.port}/v1",
        api_key="test",
        max_retries=0,
        default_query={"protocol": protocol},
        _strict_response_validation=True,
    )


@pytest.fixture
def client(servers: ServerPool) -> openai.OpenAI:
    return sdk_client(servers, "openai-responses")


def test_a_background_response_resumes_after_any_event(client: openai.OpenAI) -> None:
    stream = client.responses.create(
        model="gpt-test", input="Hi", stream=True, background=True, extra_body={"scenario": "long"}
    )
    events = iter(stream)
    first = [next(events) for _ in range(6)]
    stream.close()  # the connection drops; the run goes on
    response_id = first[0].response.id  # type: ignore[union-attr]
    resumed = list(
        client.responses.retrieve(
            response_id, stream=True, starting_after=first[-1].sequence_number
        )
    )
    whole = list(client.responses.retrieve(response_id, stream=True))
    assert [event.sequence_number for event in first + resumed] == list(range(len(whole)))
    assert first + resumed == whole
    assert whole[-1].type == "response.completed"
    final = client.responses.retrieve(response_id)
    assert final.id == response_id
    assert final.status == "completed"
    assert final.output_text == TEXT


def test_the_response_so_far_while_it_runs(client: openai.OpenAI) -> None:
    with client.responses.create(
        model="gpt-test", input="Hi", stream=True, background=True, extra_body={"scenario": "long"}
    ) as stream:
        created = next(iter(stream))
        now = client.responses.retrieve(created.response.id)  # type: ignore[union-attr]
    assert now.status == "in_progress"
    assert now.model == "gpt-test"


def test_cancel_stops_the_run_and_says_so(client: openai.OpenAI, tmp_path: Path) -> None:
    marker = tmp_path / "marker.json"
    stream = client.responses.create(
        model="gpt-test",
        input="Hi",
        stream=True,
        background=True,
        extra_body={"scenario": "long", "marker": str(marker)},
    )
    events = iter(stream)
    response_id = next(events).response.id  # type: ignore[union-attr]
    next(events)
    asked = time.monotonic()
    cancelled = client.responses.cancel(response_id)
    rest = list(events)  # the open stream ends cleanly
    assert cancelled.id == response_id
    assert cancelled.status == "cancelled"
    # A stopped response's stream ends with the response cancelled (there is no
    # response.cancelled event): never as a completed one.
    assert rest[-1].type == "response.incomplete"
    assert rest[-1].response.status == "cancelled"  # type: ignore[union-attr]
    ended = json.loads(marker.read_text())
    assert ended["outcome"] == "cancelled"
    assert ended["ended"] - asked < 0.15
    assert client.responses.retrieve(response_id).status == "cancelled"


def test_an_unknown_response_is_the_sdks_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_run_" + "0" * 32)
    with pytest.raises(openai.NotFoundError):
        client.responses.cancel("resp_run_" + "0" * 32)


# -- Assistants: attach to a run, retrieve it, cancel it ---------------------------------------


# The SDK warns on every Assistants call; the protocol is still what its clients speak.
assistants_api = pytest.mark.filterwarnings(
    "ignore:The Assistants API is deprecated in favor of the Responses API:DeprecationWarning"
)


@pytest.fixture
def assistants(servers: ServerPool) -> openai.OpenAI:
    return sdk_client(servers, "openai-assistants")


def _start_run(client: openai.OpenAI, **extra: object) -> tuple[object, str, str]:
    stream = client.beta.threads.runs.create(
        thread_id="thread_resume",
        assistant_id="asst_1",
        stream=True,
        extra_body={"scenario": "long", **extra},
    )
    created = next(iter(stream))
    assert created.event == "thread.run.created"
    return stream, created.data.id, created.data.thread_id  # type: ignore[union-attr]


@assistants_api
def test_an_assistants_run_is_attached_to_and_retrieved(assistants: openai.OpenAI) -> None:
    stream, run_id, thread_id = _start_run(assistants)
    stream.close()  # type: ignore[attr-defined]
    attached = assistants.get(
        f"/threads/{thread_id}/runs/{run_id}/stream",
        cast_to=AssistantStreamEvent,  # type: ignore[arg-type]
        stream=True,
        stream_cls=openai.Stream[AssistantStreamEvent],
    )
    events = list(attached)
    assert events[0].event == "thread.run.created"
    assert events[-1].event == "thread.run.completed"
    text = "".join(
        part.text.value or ""  # type: ignore[union-attr]
        for event in events
        if event.event == "thread.message.delta"
        for part in event.data.delta.content or []
    )
    assert text == TEXT
    run = assistants.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
    assert (run.id, run.thread_id, run.status) == (run_id, thread_id, "completed")


@assistants_api
def test_an_assistants_run_is_cancelled_by_id(assistants: openai.OpenAI, tmp_path: Path) -> None:
    marker = tmp_path / "marker.json"
    stream, run_id, thread_id = _start_run(assistants, marker=str(marker))
    running = assistants.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
    assert running.status == "in_progress"
    cancelled = assistants.beta.threads.runs.cancel(run_id, thread_id=thread_id)
    rest = list(stream)  # type: ignore[call-overload]  # the open stream ends cleanly
    assert cancelled.status == "cancelled"
    assert [event.event for event in rest[-2:]] == [
        "thread.run.step.cancelled",
        "thread.run.cancelled",
    ]
    assert rest[-1].data.status == "cancelled"
    assert json.loads(marker.read_text())["outcome"] == "cancelled"
