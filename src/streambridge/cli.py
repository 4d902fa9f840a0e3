"""``streambridge demo | serve | tail``: run the demo, serve any run function, read any stream.

    streambridge demo [--port 8000]                      the demo assistant and its page
    streambridge serve app.module:run [--protocol P]     serve a run function at /api/chat
    streambridge tail URL [RUN_ID] [--protocol P]        follow a run (or POST a message) and
                                                         print its text as it streams

``demo`` and ``serve`` need an ASGI server (uvicorn); ``tail`` needs the client extra.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import logging
import os
import socket
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

import anyio

from .asgi import serve_lifespan
from .chunks import (
    Data,
    Error,
    File,
    ReasoningDelta,
    Source,
    TextDelta,
    ToolCallArgsFinish,
    ToolCallBegin,
    ToolCallDelta,
    ToolResult,
)
from .protocols import Decoded, StreamEnd, protocol_names
from .run import RunFunction, check_run_function
from .transport.shutdown import OpenStreams

if TYPE_CHECKING:
    from .asgi import StreamMiddleware

__all__ = ["main"]


def _load_run(target: str) -> RunFunction:
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise SystemExit(f"expected module:function, got {target!r} (e.g. myapp.chat:run)")
    sys.path.insert(0, "")  # like python -m: the current directory is importable
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise SystemExit(
                f"cannot import {module_name!r}: there is no module {exc.name!r} here. Run this "
                "from the directory that holds it, or give its dotted path from there "
                "(e.g. myapp.chat:run for myapp/chat.py)"
            ) from None
        raise SystemExit(f"cannot import {module_name!r}: it needs {exc.name!r} ({exc})") from None
    except Exception as exc:  # the module itself fails: say where, not a bare error
        raise SystemExit(
            f"cannot import {module_name!r}: importing it raised {type(exc).__name__}: {exc}"
        ) from None
    if not hasattr(module, attribute):
        raise SystemExit(f"{module_name!r} has no run function {attribute!r}")
    run = getattr(module, attribute)
    try:
        check_run_function(run)
    except TypeError as exc:
        raise SystemExit(f"{target} is not a run function: {exc}") from None
    return run  # type: ignore[no-any-return]


def _require_server() -> None:
    """A clear exit, before anything says it is serving, when there is no server to serve with."""
    if importlib.util.find_spec("uvicorn") is None:
        raise SystemExit(
            "serving needs an ASGI server: pip install 'streambridge[server]' (uvicorn), or "
            "mount the app in your own server"
        )


def _serve(app: StreamMiddleware, host: str, port: int) -> None:
    _require_server()
    import uvicorn

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # End open streams cleanly (the protocol's error event and end, WebSockets closed)
            # before uvicorn waits for their connections to close.
            with anyio.move_on_after(3):
                await app.shutdown()
            await super().shutdown(sockets)

    config = uvicorn.Config(
        app, host=host, port=port, log_level="info", timeout_graceful_shutdown=3
    )
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl+C after shutting down
        Server(config).run()


def _demo(args: argparse.Namespace) -> None:
    from .demo.app import demo_app
    from .demo.assistant import demo_run
    from .demo.model import ModelServer, model_run

    server = ModelServer.from_environ(os.environ)
    try:
        assistant = demo_run if server is None else model_run(server)
    except RuntimeError as exc:  # no openai package: say what to install
        raise SystemExit(f"streambridge demo: {exc}") from None
    _require_server()
    print(f"streambridge demo: open http://{args.host}:{args.port}/ (Ctrl+C to stop)")
    print(
        "  the assistant is scripted (set OPENAI_BASE_URL / OPENAI_API_KEY for a model)"
        if server is None
        else f"  the assistant is {server.describe()}"
    )
    app = demo_app(protocol=args.protocol, heartbeat=args.heartbeat, assistant=assistant)
    _serve(app, args.host, args.port)


def _serve_command(args: argparse.Namespace) -> None:
    from .asgi import StreamMiddleware

    run = _load_run(args.target)
    _require_server()
    options = {"protocol": args.protocol, "heartbeat": args.heartbeat}
    app = StreamMiddleware(_not_found, routes={args.path: run}, **options)
    print(f"streambridge: serving {args.target} at http://{args.host}:{args.port}{args.path}")
    _serve(app, args.host, args.port)


async def _not_found(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await serve_lifespan(OpenStreams(), receive, send)  # no streams of its own to end
        return
    if scope["type"] != "http":
        return
    body = json.dumps({"error": {"message": "not found"}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _request_body(protocol: str, message: str) -> dict[str, Any]:
    """The body the protocol's own client sends for one user message (see its docs page)."""
    user = {"role": "user", "content": message}
    parts = [{"type": "text", "text": message}]
    bodies: dict[str, dict[str, Any]] = {
        "assistant-transport": {
            "commands": [{"type": "add-message", "message": {"role": "user", "parts": parts}}]
        },
        "ui-message-stream": {
            "id": "tail",
            "messages": [{"id": "tail-1", "role": "user", "parts": parts}],
            "trigger": "submit-message",
        },
        "openai-chat": {
            "model": "streambridge",
            "messages": [user],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        "openai-responses": {"model": "streambridge", "input": message, "stream": True},
        "openai-assistants": {
            "assistant_id": "asst_streambridge",
            "thread": {"messages": [user]},
            "stream": True,
        },
        "ag-ui": {
            "threadId": "tail",
            "runId": "tail-run",
            "messages": [{"id": "tail-1", **user}],
            "tools": [],
            "context": [],
            "forwardedProps": {},
        },
    }
    return bodies.get(protocol, {"messages": [user]})  # data-stream


class _Printer:
    """A stream as a person reads it: text as it comes, the rest one bracketed line each."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._kind: str | None = None  # "text" or "reasoning" while one streams
        self._names: dict[str, str] = {}
        self._shown: set[str] = set()
        self._args: dict[str, str] = {}
        self.errors: list[str] = []
        self.end: StreamEnd | None = None

    def add(self, item: Decoded) -> None:
        if isinstance(item, TextDelta):
            self._stream("text", item.text_delta)
        elif isinstance(item, ReasoningDelta):
            self._stream("reasoning", item.reasoning_delta)
        elif isinstance(item, ToolCallBegin):
            self._names[item.tool_call_id] = item.tool_name
            self._args[item.tool_call_id] = ""
        elif isinstance(item, ToolCallDelta):
            self._args[item.tool_call_id] = (
                self._args.get(item.tool_call_id, "") + item.args_text_delta
            )
        elif isinstance(item, ToolCallArgsFinish):
            self._call(item.tool_call_id)
        elif isinstance(item, ToolResult):
            self._call(item.tool_call_id)
            name = self._names.get(item.tool_call_id, item.tool_call_id)
            label = "tool error" if item.is_error else "result"
            self._line(f"[{label}] {name} -> {_short(item.result)}")
        elif isinstance(item, Source):
            self._line(f"[source] {item.title + ' ' if item.title else ''}{item.url}")
        elif isinstance(item, File):
            self._line(f"[file] {item.mime_type}, {len(item.data)} characters of base64")
        elif isinstance(item, Data):
            self._line(f"[data{' ' + item.name if item.name else ''}] {_short(item.data)}")
        elif isinstance(item, Error):
            self.errors.append(item.error)
            self._line(f"[error] {item.error}")
        elif isinstance(item, StreamEnd):
            self.end = item

    def finish(self) -> None:
        for call_id in self._names:
            self._call(call_id)  # calls whose arguments never said they were complete
        end = self.end
        if end is None:
            self._line("[end] the stream ended without saying how")
            return
        usage = ""
        if end.input_tokens is not None or end.output_tokens is not None:
            usage = f", {end.input_tokens or 0} tokens in, {end.output_tokens or 0} out"
        self._line(f"[end] {end.finish_reason or 'unknown'}{usage}")

    def line(self, text: str) -> None:
        self._line(text)

    def _call(self, call_id: str) -> None:
        if call_id in self._shown:
            return
        self._shown.add(call_id)
        args = self._args.get(call_id, "")
        self._line(f"[tool] {self._names.get(call_id, call_id)}({args})")

    def _stream(self, kind: str, text: str) -> None:
        if self._kind != kind:
            self._break()
            if kind == "reasoning":
                self._out.write("[reasoning] ")
            self._kind = kind
        self._out.write(text)
        self._out.flush()

    def _break(self) -> None:
        if self._kind is not None:
            self._out.write("\n")
            self._kind = None

    def _line(self, text: str) -> None:
        self._break()
        print(text, file=self._out, flush=True)


def _short(value: Any, limit: int = 200) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Notice(logging.Handler):
    """The client's reconnections, one line each on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"streambridge tail: {record.getMessage()}", file=sys.stderr, flush=True)


def _tail(args: argparse.Namespace) -> None:
    try:
        import httpx

        from .client import ResumeError, attach, get_run, stream_chunks
    except ImportError:
        raise SystemExit(
            "tail needs the client extra: pip install 'streambridge[client]'"
        ) from None

    client_log = logging.getLogger("streambridge.client")
    client_log.addHandler(_Notice())
    client_log.setLevel(logging.INFO)
    printer = _Printer(sys.stdout)
    status: str | None = None

    async def read() -> None:
        nonlocal status
        if args.run_id is None:
            body = _request_body(args.protocol, args.message)
            url = httpx.URL(args.url)
            if "protocol" not in url.params:  # a streambridge host serves the protocol asked for
                url = url.copy_merge_params({"protocol": args.protocol})
            items = stream_chunks(str(url), protocol=args.protocol, json=body)
        else:
            items = attach(args.url, args.run_id, protocol=args.protocol, after=args.after)
        async for item in items:
            if args.chunks:
                print(item, flush=True)
            else:
                printer.add(item)
        if not args.chunks:
            printer.finish()
        if args.run_id is not None:
            status = (await get_run(args.url, args.run_id)).status
            if not args.chunks:
                printer.line(f"[run {args.run_id}] {status}")

    try:
        anyio.run(read)
    except httpx.HTTPStatusError as exc:
        raise SystemExit(
            f"{args.url}: HTTP {exc.response.status_code}: {exc.response.text}"
        ) from None
    except (httpx.HTTPError, ResumeError) as exc:
        raise SystemExit(f"streambridge tail: {exc}") from None
    except ValueError as exc:  # a stream the protocol's decoder does not read
        raise SystemExit(f"streambridge tail: cannot decode the stream: {exc}") from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    failed = status in ("error", "cancelled") if status is not None else bool(printer.errors)
    if failed or (printer.end is not None and printer.end.finish_reason == "error"):
        raise SystemExit(1)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streambridge", description="Run the demo, serve a run function, read a stream."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    protocols = protocol_names()

    def server_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--host", default="127.0.0.1")
        command.add_argument("--port", type=int, default=8000)
        command.add_argument("--protocol", default="data-stream", choices=protocols)
        command.add_argument("--heartbeat", type=float, default=15.0, help="seconds")

    demo = commands.add_parser("demo", help="serve the demo assistant and its page")
    server_options(demo)
    demo.set_defaults(handler=_demo)

    serve = commands.add_parser("serve", help="serve a run function (module:function)")
    serve.add_argument("target", help="module:function, e.g. myapp.chat:run")
    serve.add_argument("--path", default="/api/chat")
    server_options(serve)
    serve.set_defaults(handler=_serve_command)

    tail = commands.add_parser(
        "tail",
        help="follow a run by id (or POST a message) and print it as it streams",
        description=(
            "Follow run RUN_ID of the host serving URL (the URL runs are POSTed to; the host "
            "keeps runs with store=): print its text as it streams, tool calls and results one "
            "line each, how it ended and the run's final status.  A dropped connection is "
            "resumed after the last event received.  Without RUN_ID, POST one user message to "
            "URL (the body protocol P's own client sends, ?protocol=P added) and follow the "
            "answer.  Exit status: 0 when the run is done, 1 when it failed, was cancelled or "
            "could not be followed."
        ),
    )
    tail.add_argument("url", help="where runs are POSTed, e.g. http://127.0.0.1:8000/api/chat")
    tail.add_argument("run_id", nargs="?", help="the run to follow (x-resumable-stream-id)")
    tail.add_argument(
        "--protocol", default="data-stream", choices=protocols, help="the protocol to read in"
    )
    tail.add_argument(
        "--after",
        type=int,
        default=-1,
        metavar="N",
        help="with RUN_ID: start after event N (events count from 0; default: from the start)",
    )
    tail.add_argument(
        "--message", default="What is the weather in Paris?", help="without RUN_ID: what to ask"
    )
    tail.add_argument(
        "--chunks", action="store_true", help="print each decoded chunk instead of the text"
    )
    tail.set_defaults(handler=_tail)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    args.handler(args)


if __name__ == "__main__":
    main()
