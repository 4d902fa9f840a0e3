"""``openai-responses``: the streaming events of OpenAI's Responses API (``POST /v1/responses``).

Each event is an SSE event named after its ``type`` (``event: response.output_text.delta``)
whose data is the event's JSON, with a gapless ``sequence_number`` from 0.  The stream opens with
``response.created`` and ``response.in_progress``; text streams into ``message`` output items,
reasoning into the summary of ``reasoning`` items, tool calls into ``function_call`` items, and
a complete stream ends with ``response.completed``, ``response.incomplete`` (the last step
stopped at its length limit) or ``response.failed`` (an error), carrying the whole response with
its usage.  A stopped run's stream ends with ``response.incomplete`` whose response has
``status: "cancelled"``: the Responses stream has no event of its own for a cancelled response,
and its SDK reads ``response.incomplete`` as an unfinished end, whatever the status it carries.
There is no ``[DONE]``: OpenAI ends a Responses stream after its final event.

What the Responses events cannot say has no frame (data, state, message annotations, step
boundaries, parent ids, a tool result's error flag and artifact, files other than images); see
``docs/protocols/openai-responses.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from .._jsonlib import dumps, dumps_str, loads
from ..chunks import (
    Annotations,
    Chunk,
    Data,
    Error,
    File,
    ReasoningDelta,
    Source,
    StateUpdate,
    StepFinish,
    StepStart,
    TextDelta,
    ToolCallArgsFinish,
    ToolCallBegin,
    ToolCallDelta,
    ToolResult,
)
from ..exceptions import RequestError
from ..input import RunInput
from ..messages import FilePart, Message, Part, ReasoningPart, TextPart, ToolCallPart
from ..tally import CANCELLED, RunTally
from . import Decoded, StreamEnd, WireProtocol, register
from ._conversation import Conversation, args_text, file_from, image_from, string, text_of
from ._request import optional, require_object
from ._sse import KEEPALIVE
from ._tool_args import ToolCallArgs

__all__ = [
    "OPENAI_RESPONSES",
    "OpenAIResponsesDecoder",
    "OpenAIResponsesEncoder",
    "parse_request",
]

DEFAULT_MODEL = "streambridge"
"""The ``model`` a response names when the request named none."""

_TEXT_DELTA = "response.output_text.delta"
_REASONING_DELTA = "response.reasoning_summary_text.delta"
_ARGS_DELTA = "response.function_call_arguments.delta"

# Streaming deltas are the hot path: a precomputed head, the sequence number, a precomputed
# middle naming the item, then one string encode (a dict dump per delta is ~7x slower).
_TEXT_HEAD = f'event: {_TEXT_DELTA}\ndata: {{"type":"{_TEXT_DELTA}","sequence_number":'
_TEXT_TAIL = ',"logprobs":[]}\n\n'
_REASONING_HEAD = (
    f'event: {_REASONING_DELTA}\ndata: {{"type":"{_REASONING_DELTA}","sequence_number":'
)
_ARGS_HEAD = f'event: {_ARGS_DELTA}\ndata: {{"type":"{_ARGS_DELTA}","sequence_number":'

# Step finish reasons that end the response as ``incomplete``, with OpenAI's reason.
_INCOMPLETE_REASONS = {"length": "max_output_tokens", "content-filter": "content_filter"}
_FINISH_REASONS = {reason: finish for finish, reason in _INCOMPLETE_REASONS.items()}

# Files the Responses API can show: images, as the result of an image generation call.
_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/svg+xml": "svg",
}
_IMAGE_MIME_TYPES = {fmt: mime for mime, fmt in _IMAGE_FORMATS.items()}

_TOOL_CHOICES = ("auto", "none", "required")


class _Message:
    """An open ``message`` output item with its one ``output_text`` part."""

    __slots__ = ("annotations", "id", "index", "pieces")

    def __init__(self, index: int, item_id: str) -> None:
        self.index = index
        self.id = item_id
        self.pieces: list[str] = []
        self.annotations: list[dict[str, Any]] = []


class _Reasoning:
    """An open ``reasoning`` output item with its one summary part."""

    __slots__ = ("id", "index", "middle", "pieces")

    def __init__(self, index: int, item_id: str) -> None:
        self.index = index
        self.id = item_id
        self.pieces: list[str] = []
        self.middle = (
            f',"item_id":{dumps_str(item_id)},"output_index":{index},"summary_index":0,"delta":'
        )


class _Call:
    """An open ``function_call`` output item whose arguments still stream."""

    __slots__ = ("call_id", "id", "index", "middle", "name", "pieces")

    def __init__(self, index: int, item_id: str, call_id: str, name: str) -> None:
        self.index = index
        self.id = item_id
        self.call_id = call_id
        self.name = name
        self.pieces: list[str] = []
        self.middle = f',"item_id":{dumps_str(item_id)},"output_index":{index},"delta":'


class OpenAIResponsesEncoder:
    """Encodes one stream as Responses API streaming events.

    Ids and timestamps come only from the input: the response is ``"resp_" + run_id``, each
    output item ``<prefix>_<run_id>_<output index>``, ``created_at`` is ``input.created_at`` and
    ``model`` is ``input.options["model"]``.
    """

    def __init__(self, input: RunInput | None = None) -> None:
        input = input or RunInput(run_id="run", created_at=0)
        run_id = input.run_id or "run"
        options = input.options
        model = options.get("model")
        previous = options.get("previous_response_id")
        parallel = options.get("parallel_tool_calls")
        tool_choice = options.get("tool_choice")
        self._run_id = run_id
        self._response_head: dict[str, Any] = {
            "id": "resp_" + run_id,
            "object": "response",
            "created_at": int(input.created_at),
        }
        self._response_rest: dict[str, Any] = {
            "instructions": input.system if isinstance(input.system, str) else None,
            "model": model if isinstance(model, str) else DEFAULT_MODEL,
        }
        self._response_tail: dict[str, Any] = {
            "parallel_tool_calls": parallel if isinstance(parallel, bool) else True,
            "previous_response_id": previous if isinstance(previous, str) else None,
            "tool_choice": tool_choice if tool_choice in _TOOL_CHOICES else "auto",
            "tools": [],
        }
        self._seq = 0
        self._started = False
        self._output: list[str | None] = []  # each output item's JSON, once it is done
        self._content: _Message | _Reasoning | None = None  # the open message or reasoning
        self._args: ToolCallArgs[_Call] = ToolCallArgs()  # the open function_call items
        self._begun: set[str] = set()  # every tool call id seen
        self._text_middle: str | None = None  # set while a message is open: the hot path
        self._text_pieces: list[str] = []  # the open message's text
        self._error_message: str | None = None
        self._tally = RunTally()

    # -- framing ---------------------------------------------------------------------------------

    def _raw_event(self, type: str, fields: str) -> str:
        """An event whose fields (after its type and sequence number) are JSON text already."""
        seq = self._seq
        self._seq = seq + 1
        return "".join(
            (
                "event: ",
                type,
                '\ndata: {"type":"',
                type,
                '","sequence_number":',
                str(seq),
                ",",
                fields,
                "}\n\n",
            )
        )

    def _event(self, type: str, fields: dict[str, Any]) -> str:
        # Encoded before a sequence number is taken: a refused value leaves no gap.
        return self._raw_event(type, dumps(fields)[1:-1])

    def _delta(self, head: str, middle: str, text: str) -> str:
        seq = self._seq
        self._seq = seq + 1
        return "".join((head, str(seq), middle, dumps_str(text), "}\n\n"))

    def _response(
        self,
        status: str,
        usage: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        incomplete_details: dict[str, Any] | None = None,
    ) -> str:
        """The response object as JSON text, its output spliced from the items' JSON."""
        head = dumps(
            {
                **self._response_head,
                "status": status,
                "error": error,
                "incomplete_details": incomplete_details,
                **self._response_rest,
            }
        )
        tail = dumps({**self._response_tail, "usage": usage})
        output = ",".join(item for item in self._output if item is not None)
        return head[:-1] + ',"output":[' + output + "]," + tail[1:]

    def _opening(self) -> str:
        """``response.created`` and ``response.in_progress``, before the first other event."""
        if self._started:
            return ""
        self._started = True
        response = '"response":' + self._response("in_progress")
        return self._raw_event("response.created", response) + self._raw_event(
            "response.in_progress", response
        )

    def _add_item(self, item: dict[str, Any]) -> str:
        return self._event(
            "response.output_item.added", {"output_index": len(self._output) - 1, "item": item}
        )

    def _new_index(self, prefix: str) -> tuple[int, str]:
        self._output.append(None)
        index = len(self._output) - 1
        return index, f"{prefix}_{self._run_id}_{index}"

    def _done_item(self, index: int, item: str) -> str:
        """``response.output_item.done`` for an item given as JSON text (kept for the end)."""
        self._output[index] = item
        return self._raw_event("response.output_item.done", f'"output_index":{index},"item":{item}')

    # -- output items ----------------------------------------------------------------------------

    def _open_message(self) -> str:
        """Make a message the open item (closing whatever else streamed); its events."""
        if type(self._content) is _Message:
            return ""
        out = self._close_content()
        index, item_id = self._new_index("msg")
        out += self._add_item(
            {
                "id": item_id,
                "type": "message",
                "status": "in_progress",
                "content": [],
                "role": "assistant",
            }
        )
        out += self._event(
            "response.content_part.added",
            {
                "item_id": item_id,
                "output_index": index,
                "content_index": 0,
                "part": {"type": "output_text", "annotations": [], "logprobs": [], "text": ""},
            },
        )
        message = self._content = _Message(index, item_id)
        self._text_pieces = message.pieces
        self._text_middle = (
            f',"item_id":{dumps_str(item_id)},"output_index":{index},"content_index":0,"delta":'
        )
        return out

    def _close_content(self, status: str = "completed") -> str:
        """Close the open message or reasoning item (``""`` if none is open).

        The whole text goes out three times (its done event, its part's, its item's) and once
        more in the final response: it is encoded once and spliced in.
        """
        content = self._content
        if content is None:
            return ""
        self._content = None
        self._text_middle = None
        text = dumps_str("".join(content.pieces))
        where = f'"item_id":{dumps_str(content.id)},"output_index":{content.index}'
        head = f'{{"id":{dumps_str(content.id)},"type":'
        if type(content) is _Message:
            part = (
                '{"type":"output_text","annotations":'
                + dumps(content.annotations)
                + ',"logprobs":[],"text":'
                + text
                + "}"
            )
            item = f'{head}"message","status":"{status}","content":[{part}],"role":"assistant"}}'
            return (
                self._raw_event(
                    "response.output_text.done",
                    f'{where},"content_index":0,"text":{text},"logprobs":[]',
                )
                + self._raw_event(
                    "response.content_part.done", f'{where},"content_index":0,"part":{part}'
                )
                + self._done_item(content.index, item)
            )
        summary = '{"type":"summary_text","text":' + text + "}"
        item = f'{head}"reasoning","summary":[{summary}],"status":"{status}"}}'
        return (
            self._raw_event(
                "response.reasoning_summary_text.done", f'{where},"summary_index":0,"text":{text}'
            )
            + self._raw_event(
                "response.reasoning_summary_part.done",
                f'{where},"summary_index":0,"part":{summary}',
            )
            + self._done_item(content.index, item)
        )

    def _close_call(self, call: _Call, missing: str, status: str = "completed") -> str:
        out = ""
        if missing:
            out = self._delta(_ARGS_HEAD, call.middle, missing)
            call.pieces.append(missing)
        arguments = "".join(call.pieces)
        item = {
            "id": call.id,
            "type": "function_call",
            "status": status,
            "arguments": arguments,
            "call_id": call.call_id,
            "name": call.name,
        }
        return (
            out
            + self._event(
                "response.function_call_arguments.done",
                {"item_id": call.id, "output_index": call.index, "arguments": arguments},
            )
            + self._done_item(call.index, dumps(item))
        )

    def _close_calls(self, status: str = "completed") -> str:
        return "".join(
            self._close_call(call, missing, status) for call, missing in self._args.close_all()
        )

    # -- chunks ----------------------------------------------------------------------------------

    def encode(self, chunk: Chunk) -> str:
        if type(chunk) is TextDelta and self._text_middle is not None:  # the hot path
            self._text_pieces.append(chunk.text_delta)
            seq = self._seq
            self._seq = seq + 1
            return "".join(
                (_TEXT_HEAD, str(seq), self._text_middle, dumps_str(chunk.text_delta), _TEXT_TAIL)
            )
        return _ENCODERS[type(chunk)](self, chunk)

    def _text_delta(self, chunk: TextDelta) -> str:
        out = self._opening() + self._open_message()
        return out + self.encode(chunk)  # now on the hot path

    def _reasoning_delta(self, chunk: ReasoningDelta) -> str:
        out = self._opening()
        content = self._content
        if type(content) is not _Reasoning:
            out += self._close_content()
            index, item_id = self._new_index("rs")
            content = _Reasoning(index, item_id)
            out += self._add_item({"id": item_id, "type": "reasoning", "summary": []})
            out += self._event(
                "response.reasoning_summary_part.added",
                {
                    "item_id": item_id,
                    "output_index": index,
                    "summary_index": 0,
                    "part": {"type": "summary_text", "text": ""},
                },
            )
            self._content = content
        content.pieces.append(chunk.reasoning_delta)
        return out + self._delta(_REASONING_HEAD, content.middle, chunk.reasoning_delta)

    def _tool_call_begin(self, chunk: ToolCallBegin) -> str:
        if chunk.tool_call_id in self._begun:
            return ""  # a call id names one function_call item (the engine refuses repeats)
        self._begun.add(chunk.tool_call_id)
        out = self._opening() + self._close_content()
        index, item_id = self._new_index("fc")
        call = _Call(index, item_id, chunk.tool_call_id, chunk.tool_name)
        self._args.begin(chunk.tool_call_id, call)
        self._tally.tool_call(chunk.tool_call_id)
        return out + self._add_item(
            {
                "id": item_id,
                "type": "function_call",
                "status": "in_progress",
                "arguments": "",
                "call_id": chunk.tool_call_id,
                "name": chunk.tool_name,
            }
        )

    def _tool_call_delta(self, chunk: ToolCallDelta) -> str:
        if not chunk.args_text_delta:
            return ""
        call = self._args.append(chunk.tool_call_id, chunk.args_text_delta)
        if call is None:
            return ""  # a call whose arguments are closed (or never began) takes no more
        call.pieces.append(chunk.args_text_delta)
        return self._delta(_ARGS_HEAD, call.middle, chunk.args_text_delta)

    def _tool_call_args_finish(self, chunk: ToolCallArgsFinish) -> str:
        closed = self._args.close(chunk.tool_call_id)
        return "" if closed is None else self._close_call(*closed)

    def _tool_result(self, chunk: ToolResult) -> str:
        output = dumps(chunk.result)  # before any event: a refused value sends nothing
        if chunk.artifact is not None:
            dumps(chunk.artifact)  # not sent, but must be JSON as in every protocol
        out = self._opening()
        closed = self._args.close(chunk.tool_call_id)
        if closed is not None:
            out += self._close_call(*closed)
        out += self._close_content()
        index, item_id = self._new_index("fco")
        item = {
            "id": item_id,
            "type": "function_call_output",
            "status": "in_progress",
            "call_id": chunk.tool_call_id,
            "output": output,
        }
        self._tally.tool_result(chunk.tool_call_id)
        done = dumps({**item, "status": "completed"})
        return out + self._add_item(item) + self._done_item(index, done)

    def _source(self, chunk: Source) -> str:
        out = self._opening() + self._open_message()
        message = self._content
        assert type(message) is _Message
        if len(message.pieces) > 1:
            message.pieces[:] = ["".join(message.pieces)]
        offset = len(message.pieces[0]) if message.pieces else 0
        annotation = {
            "type": "url_citation",
            "start_index": offset,
            "end_index": offset,
            "url": chunk.url,
            "title": chunk.title or "",
        }
        out += self._event(
            "response.output_text.annotation.added",
            {
                "item_id": message.id,
                "output_index": message.index,
                "content_index": 0,
                "annotation_index": len(message.annotations),
                "annotation": annotation,
            },
        )
        message.annotations.append(annotation)
        return out

    def _file(self, chunk: File) -> str:
        output_format = _IMAGE_FORMATS.get(chunk.mime_type)
        if output_format is None:
            return ""  # the Responses API has no output item for other files
        out = self._opening() + self._close_content()
        index, item_id = self._new_index("ig")
        item = {
            "id": item_id,
            "type": "image_generation_call",
            "status": "in_progress",
            "result": None,
            "output_format": output_format,
        }
        return (
            out
            + self._add_item(item)
            + self._done_item(index, dumps({**item, "status": "completed", "result": chunk.data}))
        )

    def _unsent(self, chunk: Data | Annotations | StateUpdate) -> str:
        # No Responses event carries these; they must still be JSON, so that a run fails the
        # same way whatever protocol encodes it.
        if isinstance(chunk, Data):
            dumps(chunk.data)
        elif isinstance(chunk, Annotations):
            dumps(list(chunk.annotations))
        else:
            dumps(list(chunk.operations))
        return ""

    _data = _annotations = _update_state = _unsent

    def _error(self, chunk: Error) -> str:
        out = self._opening() + self._close_calls("incomplete")
        self._tally.error()
        self._error_message = chunk.error
        return out + self._event(
            "error", {"code": "server_error", "message": chunk.error, "param": None}
        )

    def _step_start(self, chunk: StepStart) -> str:
        return ""

    def _step_finish(self, chunk: StepFinish) -> str:
        self._tally.step_finish(chunk.finish_reason, chunk.input_tokens, chunk.output_tokens)
        status = "incomplete" if chunk.finish_reason == CANCELLED else "completed"
        return self._close_calls(status) + self._close_content(status)

    def finish(self) -> str:
        tally = self._tally
        reason = tally.finish_reason()
        event = None
        if reason == "error":
            status = "failed"
        elif reason in _INCOMPLETE_REASONS:
            status = "incomplete"
        elif reason == CANCELLED:
            status, event = "cancelled", "incomplete"
        else:
            status = "completed"
        item_status = "completed" if status == "completed" else "incomplete"
        out = self._opening() + self._close_content(item_status) + self._close_calls(item_status)
        usage = {
            "input_tokens": tally.input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": tally.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": tally.input_tokens + tally.output_tokens,
        }
        error = details = None
        if status == "failed":
            message = self._error_message or "The response failed."
            error = {"code": "server_error", "message": message}
        elif status == "incomplete":
            details = {"reason": _INCOMPLETE_REASONS[reason]}
        response = self._response(status, usage, error, details)
        return out + self._raw_event("response." + (event or status), '"response":' + response)


def response_object(input: RunInput, chunks: list[Chunk], status: str) -> dict[str, Any]:
    """The ``Response`` of a stored run as ``GET /v1/responses/{id}`` and its cancel return
    it: with the output items finished so far, and the run's status in the API's words."""
    encoder = OpenAIResponsesEncoder(input)
    for chunk in chunks:
        encoder.encode(chunk)
    if status == "running":
        return cast(dict[str, Any], loads(encoder._response("in_progress")))
    last = encoder.finish().rsplit("\ndata: ", 1)[1]
    response = cast(dict[str, Any], loads(last)["response"])
    if status == "cancelled":
        response["status"] = "cancelled"
    return response


_ENCODERS: dict[type, Callable[[OpenAIResponsesEncoder, Any], str]] = {
    TextDelta: OpenAIResponsesEncoder._text_delta,
    ReasoningDelta: OpenAIResponsesEncoder._reasoning_delta,
    ToolCallBegin: OpenAIResponsesEncoder._tool_call_begin,
    ToolCallDelta: OpenAIResponsesEncoder._tool_call_delta,
    ToolCallArgsFinish: OpenAIResponsesEncoder._tool_call_args_finish,
    ToolResult: OpenAIResponsesEncoder._tool_result,
    Source: OpenAIResponsesEncoder._source,
    File: OpenAIResponsesEncoder._file,
    Data: OpenAIResponsesEncoder._data,
    Annotations: OpenAIResponsesEncoder._annotations,
    Error: OpenAIResponsesEncoder._error,
    StepStart: OpenAIResponsesEncoder._step_start,
    StepFinish: OpenAIResponsesEncoder._step_finish,
    StateUpdate: OpenAIResponsesEncoder._update_state,
}


# -- the request -------------------------------------------------------------------------------

_OPTION_KEYS = (
    "background",  # with a store: the run goes on whoever reads it
    "model",
    "previous_response_id",
    "tool_choice",
    "parallel_tool_calls",
    "temperature",
    "top_p",
    "max_output_tokens",
    "max_tool_calls",
    "reasoning",
    "text",
    "metadata",
    "include",
    "store",
    "truncation",
    "user",
)


def parse_request(body: Any) -> RunInput:
    """The body of ``POST /v1/responses`` (``client.responses.create/stream``).

    ``input`` (a string, or a list of input items) becomes ``messages`` (a string as one user
    message), ``instructions`` the ``system`` prompt, ``conversation`` the ``thread_id``;
    ``model``, ``previous_response_id`` and the other generation settings go to ``options``.
    """
    body = require_object(body, "openai-responses")
    if body.get("stream") is False:
        raise RequestError("'stream' must be true: this endpoint only streams its responses")
    if "model" in body and not isinstance(body["model"], str):
        raise RequestError("'model' must be a JSON string")
    raw_input = optional(body, "input", (str, list), [])
    if isinstance(raw_input, str):
        messages: list[Any] = [{"role": "user", "content": raw_input}]
    else:
        for item in raw_input:
            if not isinstance(item, dict):
                raise RequestError("each item of 'input' must be a JSON object")
            if "role" in item and not isinstance(item.get("content"), (str, list)):
                raise RequestError("an 'input' message's 'content' must be a string or an array")
        messages = list(raw_input)
    tools = optional(body, "tools", list, [])
    if not all(isinstance(tool, dict) for tool in tools):
        raise RequestError("each item of 'tools' must be a JSON object")
    conversation = optional(body, "conversation", (str, dict), None)
    if isinstance(conversation, dict):
        conversation = conversation.get("id")
        if not isinstance(conversation, str):
            raise RequestError("'conversation' must be an id or an object with a string 'id'")
    return RunInput(
        messages=parse_messages(messages),
        tools=list(tools),
        thread_id=conversation,
        system=optional(body, "instructions", str, None),
        options={key: body[key] for key in _OPTION_KEYS if body.get(key) is not None},
        raw=body,
    )


def parse_messages(items: list[dict[str, Any]]) -> list[Message]:
    """Responses input items, typed.  Messages by role (``developer`` is a system message);
    the model's items between two user turns (``reasoning`` summaries and text, ``message``
    outputs, ``function_call``) make one assistant message, and a ``function_call_output``
    is the result of the call it names."""
    out = Conversation()
    assistant: Message | None = None
    for item in items:
        kind, role = item.get("type"), item.get("role")
        if kind == "function_call_output":
            call_id = string(item.get("call_id"))
            if call_id is not None:
                output = item.get("output")
                result = output if isinstance(output, str) else _output_text(output)
                out.result(call_id, result)
            continue
        if kind in ("function_call", "reasoning") or role == "assistant":
            if assistant is None:
                assistant = out.add("assistant", [])
            _assistant_item(out, assistant, item)
        elif role in ("system", "developer"):
            assistant = None
            out.add("system", text_of(item.get("content")))
        elif role == "user":
            assistant = None
            out.add("user", _user_parts(item.get("content")))
    return out.messages


def _output_text(output: Any) -> str:
    return "".join(p.text for p in text_of(output) if isinstance(p, TextPart))


def _assistant_item(out: Conversation, target: Message, item: dict[str, Any]) -> None:
    kind = item.get("type")
    if kind == "function_call" and isinstance(item.get("call_id"), str):
        call = ToolCallPart(
            item["call_id"], str(item.get("name", "")), args_text(item.get("arguments")), True
        )
        out.add_tool_call(target, call)
    elif kind == "reasoning":
        target.parts.extend(_reasoning_parts(item))
    else:
        target.parts.extend(text_of(item.get("content")))


def _reasoning_parts(item: dict[str, Any]) -> list[Part]:
    """A ``reasoning`` item: a part for each summary text, each carrying the item's id and
    encrypted content (what the API needs to be given it back; an item with no summary keeps
    them on an empty part), then its raw reasoning ``content``, if any, as text alone."""
    openai: dict[str, Any] = {}
    if isinstance(item.get("id"), str):
        openai["itemId"] = item["id"]
    if isinstance(item.get("encrypted_content"), str):
        openai["reasoningEncryptedContent"] = item["encrypted_content"]
    summary = [text for text in _texts(item.get("summary")) if text]
    parts: list[Part] = [
        ReasoningPart(text, provider_metadata={"openai": dict(openai)} if openai else None)
        for text in summary or ([""] if openai else [])
    ]
    parts.extend(ReasoningPart(text) for text in _texts(item.get("content")))
    return parts


def _texts(entries: Any) -> list[str]:
    if not isinstance(entries, list):
        return []
    return [e["text"] for e in entries if isinstance(e, dict) and isinstance(e.get("text"), str)]


def _user_parts(content: Any) -> list[Part]:
    if not isinstance(content, list):
        return text_of(content)
    parts: list[Part] = []
    for item in content:
        kind = item.get("type") if isinstance(item, dict) else None
        found: Part | None = None
        if kind == "input_text" and isinstance(item.get("text"), str):
            found = TextPart(item["text"])
        elif kind == "input_image":
            found = image_from(item.get("image_url"), item.get("file_id"))
        elif kind == "input_file":
            found = file_from(item.get("file_data"), filename=item.get("filename"))
            if found is None and isinstance(item.get("file_url"), str):
                found = FilePart.from_url(item["file_url"], filename=string(item.get("filename")))
            if found is None and isinstance(item.get("file_id"), str):
                found = FilePart(None, None, file_id=item["file_id"])
        elif kind == "input_audio" and isinstance(item.get("input_audio"), dict):
            audio = item["input_audio"]
            if isinstance(audio.get("data"), str):
                found = FilePart(audio["data"], f"audio/{audio.get('format', 'wav')}")
        if found is not None:
            parts.append(found)
    return parts


# -- decoding ----------------------------------------------------------------------------------


class _DecodedCall:
    __slots__ = ("args", "call_id", "finished")

    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.args = ""
        self.finished = False


class OpenAIResponsesDecoder:
    """Reads Responses streaming events back into chunks.

    The event's ``type`` (in its data) decides; events this library does not produce (web
    search, audio, ...) give nothing.  A stream that ends without ``response.completed``,
    ``response.incomplete`` or ``response.failed`` was cut: no :class:`StreamEnd`.
    """

    def __init__(self) -> None:
        self._calls: dict[int, _DecodedCall] = {}  # output index -> function call
        self._awaiting: set[str] = set()  # call ids without a function_call_output
        self._errored = False

    def decode(self, event: str | None, data: str) -> list[Decoded]:
        if not data:
            return []  # keepalive
        value = loads(data)
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            raise ValueError(f"not a Responses streaming event: {data[:80]!r}")
        handler = _DECODERS.get(value["type"])
        if handler is None:
            return []
        try:
            return handler(self, value)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed {value['type']} event: {data[:80]!r}") from exc

    def close(self) -> list[Decoded]:
        return []

    def _call(self, value: dict[str, Any]) -> _DecodedCall:
        try:
            return self._calls[value["output_index"]]
        except KeyError:
            raise ValueError(
                f"{value['type']} for output index {value.get('output_index')!r}, "
                "which is not a function call"
            ) from None

    def _item_added(self, value: dict[str, Any]) -> list[Decoded]:
        item = value["item"]
        if item.get("type") != "function_call":
            return []
        call = _DecodedCall(item["call_id"])
        self._calls[value["output_index"]] = call
        self._awaiting.add(call.call_id)
        out: list[Decoded] = [ToolCallBegin(call.call_id, item["name"])]
        return out + self._args(call, item.get("arguments") or "")

    def _args(self, call: _DecodedCall, delta: str) -> list[Decoded]:
        if not delta or call.finished:
            return []
        call.args += delta
        return [ToolCallDelta(call.call_id, delta)]

    def _args_done(self, call: _DecodedCall, arguments: str) -> list[Decoded]:
        if call.finished:
            return []
        # Whatever the deltas left out (a stream that sent the arguments whole).
        rest = arguments[len(call.args) :] if arguments.startswith(call.args) else ""
        out = self._args(call, rest)
        call.finished = True
        return [*out, ToolCallArgsFinish(call.call_id)]

    def _item_done(self, value: dict[str, Any]) -> list[Decoded]:
        item = value["item"]
        kind = item.get("type")
        if kind == "function_call":
            return self._args_done(self._call(value), item.get("arguments") or "")
        if kind == "function_call_output":
            self._awaiting.discard(item["call_id"])
            return [ToolResult(item["call_id"], _tool_output(item.get("output")))]
        if kind == "image_generation_call" and isinstance(item.get("result"), str):
            mime_type = _IMAGE_MIME_TYPES.get(item.get("output_format") or "png", "image/png")
            return [File(item["result"], mime_type)]
        return []

    def _annotation(self, value: dict[str, Any]) -> list[Decoded]:
        annotation = value.get("annotation") or {}
        if annotation.get("type") != "url_citation":
            return []
        source_id = f"{value['item_id']}_{value['annotation_index']}"
        return [Source(source_id, annotation["url"], annotation.get("title") or None)]

    def _error(self, value: dict[str, Any]) -> list[Decoded]:
        self._errored = True
        # OpenAI documents the message at the top; some servers nest it under "error".
        nested = value.get("error")
        message = value.get("message")
        if not isinstance(message, str) and isinstance(nested, dict):
            message = nested.get("message")
        return [Error(message if isinstance(message, str) else "An error occurred.")]

    def _end(self, value: dict[str, Any]) -> list[Decoded]:
        response = value["response"]
        usage = response.get("usage") or {}
        status = value["type"]
        out: list[Decoded] = []
        if status == "response.failed":
            reason = "error"
            error = response.get("error") or {}
            if not self._errored and isinstance(error.get("message"), str):
                out.append(Error(error["message"]))
        elif response.get("status") == "cancelled":
            reason = CANCELLED
        elif status == "response.incomplete":
            details = response.get("incomplete_details") or {}
            reason = _FINISH_REASONS.get(str(details.get("reason")), "length")
        else:
            reason = "tool-calls" if self._awaiting else "stop"
        out.append(StreamEnd(reason, usage.get("input_tokens"), usage.get("output_tokens")))
        return out


def _tool_output(output: Any) -> Any:
    """A function_call_output's ``output``: this library sends the result as JSON text."""
    if isinstance(output, str):
        try:
            return loads(output)
        except ValueError:
            return output  # plain text from another server
    return output


_DECODERS: dict[str, Callable[[OpenAIResponsesDecoder, dict[str, Any]], list[Decoded]]] = {
    "response.output_item.added": OpenAIResponsesDecoder._item_added,
    "response.output_item.done": OpenAIResponsesDecoder._item_done,
    "response.output_text.delta": lambda d, v: [TextDelta(v["delta"])],
    "response.reasoning_summary_text.delta": lambda d, v: [ReasoningDelta(v["delta"])],
    "response.reasoning_text.delta": lambda d, v: [ReasoningDelta(v["delta"])],
    "response.function_call_arguments.delta": lambda d, v: d._args(d._call(v), v["delta"]),
    "response.function_call_arguments.done": lambda d, v: d._args_done(d._call(v), v["arguments"]),
    "response.output_text.annotation.added": OpenAIResponsesDecoder._annotation,
    "error": OpenAIResponsesDecoder._error,
    "response.completed": OpenAIResponsesDecoder._end,
    "response.incomplete": OpenAIResponsesDecoder._end,
    "response.failed": OpenAIResponsesDecoder._end,
}

OPENAI_RESPONSES = register(
    WireProtocol(
        name="openai-responses",
        media_type="text/event-stream",
        framing="sse",
        new_encoder=OpenAIResponsesEncoder,
        parse_request=parse_request,
        new_decoder=OpenAIResponsesDecoder,
        keepalive=KEEPALIVE,
        headers={},
        run_object=response_object,
    )
)
