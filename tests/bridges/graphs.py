"""Real LangGraph graphs for the bridge tests: a tool-calling agent whose chat model is a
scripted fake (langchain-core's BaseChatModel streaming set chunks), a ToolNode, and the same
agent inside a parent graph as a subgraph; the same agent with langchain-openai's ChatOpenAI
reading recorded streams from the local upstream; two models streaming at once in parallel
branches; and a human-in-the-loop graph that interrupts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import interrupt


def _call(index: int, args: str, call_id: str | None = None, name: str | None = None) -> Any:
    return {"index": index, "id": call_id, "name": name, "args": args, "type": "tool_call_chunk"}


USAGE = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}

# The first turn streams text, then two parallel calls whose argument chunks interleave; the
# second answers.
TURNS: list[list[dict[str, Any]]] = [
    [
        {"content": "Let me "},
        {"content": "look."},
        {"tool_call_chunks": [_call(0, "", "call_a", "get_weather")]},
        {"tool_call_chunks": [_call(1, '{"rea', "call_b", "explode")]},
        {"tool_call_chunks": [_call(0, '{"city": "Ber')]},
        {"tool_call_chunks": [_call(1, 'son": "x"}'), _call(0, 'lin 🐻"}')]},
        {
            "usage_metadata": USAGE,
            "response_metadata": {"finish_reason": "tool_calls"},
            "chunk_position": "last",
        },
    ],
    [
        {"content": "Sunny in "},
        {"content": "Berlin."},
        {
            "usage_metadata": USAGE,
            "response_metadata": {"finish_reason": "stop"},
            "chunk_position": "last",
        },
    ],
]


class ScriptedChatModel(BaseChatModel):
    """Streams the chunks of ``TURNS``, one turn per call (by the number of AI messages in the
    conversation so far)."""

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _turn(self, messages: list[BaseMessage]) -> int:
        return sum(isinstance(m, AIMessage) for m in messages)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        turn = self._turn(messages)
        for fields in TURNS[turn]:
            chunk = ChatGenerationChunk(
                message=AIMessageChunk(**{"content": "", "id": f"ai-{turn}", **fields})
            )
            if run_manager is not None:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        total: Any = None
        for chunk in self._stream(messages, stop, None, **kwargs):
            total = chunk if total is None else total + chunk
        message = total.message
        return ChatResult(
            generations=[
                ChatGeneration(
                    message=AIMessage(
                        id=message.id,
                        content=message.content,
                        tool_calls=message.tool_calls,
                        usage_metadata=message.usage_metadata,
                        response_metadata=message.response_metadata,
                    )
                )
            ]
        )


class Baton:
    """Whose turn it is to stream a chunk: two models that take turns interleave their
    chunks the same way on every run."""

    def __init__(self) -> None:
        self.turn = 0
        self.changed = asyncio.Condition()

    async def wait_for(self, player: int) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: self.turn == player), 10)

    async def pass_to(self, player: int) -> None:
        async with self.changed:
            self.turn = player
            self.changed.notify_all()


class TurnTakingChatModel(BaseChatModel):
    """Streams ``texts``, one chunk per turn of ``baton``.  Only the first chunk is named
    (``first_id``, as langchain-openai names a Responses message's first chunk); LangChain
    names the others after the run (``lc_run-...``)."""

    texts: list[str]
    first_id: str | None
    player: int
    baton: Any

    @property
    def _llm_type(self) -> str:
        return "turn-taking"

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for position, text in enumerate(self.texts):
            await self.baton.wait_for(self.player)
            message_id = self.first_id if position == 0 else None
            yield ChatGenerationChunk(message=AIMessageChunk(content=text, id=message_id))
            await self.baton.pass_to(1 - self.player)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        raise NotImplementedError("streams only")


def two_branch_graph() -> Any:
    """Two nodes of one step, each a model streaming at the same time, their chunks
    interleaved: ``first`` names its message ``"msg-first"`` on its first chunk only, the
    ``second``'s chunks carry LangChain's run id."""
    baton = Baton()
    models = {
        "first": TurnTakingChatModel(
            texts=["One, ", "two."], first_id="msg-first", player=0, baton=baton
        ),
        "second": TurnTakingChatModel(
            texts=["Three, ", "four."], first_id=None, player=1, baton=baton
        ),
    }
    graph = StateGraph(MessagesState)
    for name, model in models.items():

        async def node(state: MessagesState, model: Any = model) -> dict[str, Any]:
            return {"messages": [await model.ainvoke(state["messages"])]}

        graph.add_node(name, node)
        graph.add_edge(START, name)
        graph.add_edge(name, END)
    return graph.compile()


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    get_stream_writer()({"progress": f"looking up {city}"})
    return f"sunny in {city}"


@tool
def explode(reason: str) -> str:
    """Always fails."""
    raise ValueError(f"boom: {reason}")


def agent_graph() -> Any:
    model = ScriptedChatModel()

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    return agent_and_tools(agent, ToolNode([get_weather, explode], handle_tool_errors=True))


def agent_and_tools(agent: Any, tools: ToolNode) -> Any:
    """The agent node, and the tool node it calls until it answers without a tool call."""
    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("tools", tools)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph.compile()


def chat_openai_graph(base_urls: list[str], http_client: Any) -> Any:
    """The agent, its model a streaming ``ChatOpenAI``: turn ``n`` asks the server at
    ``base_urls[n]`` (each serves one recorded chat-completions stream).

    ``http_client`` (an ``openai.DefaultAsyncHttpxClient`` open on the loop that runs the
    graph): by default ChatOpenAI shares one HTTP client per base URL across the whole process,
    and its pooled connections belong to the event loop that opened them, so a second loop
    (each recording runs on one of its own) would reuse a connection of a closed loop."""
    # stream_usage: off by default for a base_url other than OpenAI's; the recordings end with it.
    models = [chat_openai(url, http_client, stream_usage=True) for url in base_urls]

    async def agent(state: MessagesState) -> dict[str, Any]:
        turn = sum(isinstance(m, AIMessage) for m in state["messages"])
        return {"messages": [await models[turn].ainvoke(state["messages"])]}

    return agent_and_tools(agent, ToolNode([get_weather]))


def chat_openai(base_url: str, http_client: Any, **options: Any) -> Any:
    """A streaming ``ChatOpenAI`` at ``base_url`` (a local upstream), with ``get_weather``."""
    return ChatOpenAI(
        model="gpt-test",
        api_key="test",  # type: ignore[arg-type]
        base_url=base_url,
        http_async_client=http_client,
        max_retries=0,
        streaming=True,
        **options,
    ).bind_tools([get_weather])


def responses_graph(base_url: str, http_client: Any) -> Any:
    """One turn of ChatOpenAI on the Responses API (the way langchain-openai streams reasoning
    summaries), then its tool call answered by the ToolNode."""
    model = chat_openai(base_url, http_client, use_responses_api=True)

    async def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("tools", ToolNode([get_weather]))
    graph.add_edge(START, "agent")
    graph.add_edge("agent", "tools")
    graph.add_edge("tools", END)
    return graph.compile()


def interrupt_graph(subgraph: bool = False) -> Any:
    """A node that asks a human (``interrupt``) before it answers; with ``subgraph``, inside a
    parent graph.  Interrupts need a checkpointer: resume with ``Command(resume=...)`` and the
    same ``thread_id``."""

    def ask(state: MessagesState) -> dict[str, Any]:
        answer = interrupt({"question": "Proceed?"})
        return {"messages": [AIMessage(f"You said {answer}.", id="ai-answer")]}

    graph = StateGraph(MessagesState)
    graph.add_node("ask", ask)
    graph.add_edge(START, "ask")
    if not subgraph:
        return graph.compile(checkpointer=InMemorySaver())
    parent = StateGraph(MessagesState)
    parent.add_node("inner", graph.compile())
    parent.add_edge(START, "inner")
    return parent.compile(checkpointer=InMemorySaver())


def parent_graph() -> Any:
    graph = StateGraph(MessagesState)
    graph.add_node("assistant", agent_graph())
    graph.add_edge(START, "assistant")
    graph.add_edge("assistant", END)
    return graph.compile()


INPUT = {"messages": [HumanMessage("Weather in Berlin?", id="human-1")]}
MODES = ["messages", "updates", "custom"]


def record(graph: Any, inputs: Any = INPUT, **options: Any) -> list[Any]:
    """The items of ``graph.astream(...)``, recorded on asyncio (LangGraph's own loop)."""

    async def collect() -> list[Any]:
        return [item async for item in graph.astream(inputs, **options)]

    return asyncio.run(collect())


def record_events(graph: Any, inputs: Any = INPUT, **options: Any) -> list[Any]:
    async def collect() -> list[Any]:
        return [item async for item in graph.astream_events(inputs, version="v2", **options)]

    return asyncio.run(collect())
