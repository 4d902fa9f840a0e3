"""``streambridge demo | serve | tail``: run the demo, serve any run function, read any stream.

    streambridge demo [--port 8000]                      the demo assistant and its page
    streambridge serve app.module:run [--protocol P]     serve a run function at /api/chat
    streambridge tail URL [--protocol P] [--message M]   print a stream's chunks as they arrive

``demo`` and ``serve`` need an ASGI server (uvicorn); ``tail`` needs the client extra.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import socket
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio

from .asgi import serve_lifespan
from .protocols import protocol_names
from .run import RunFunction
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
    except ImportError as exc:
        raise SystemExit(f"cannot import {module_name!r}: {exc}") from exc
    run = getattr(module, attribute, None)
    if not callable(run):
        raise SystemExit(f"{module_name!r} has no run function {attribute!r}")
    return run  # type: ignore[no-any-return]


def _serve(app: StreamMiddleware, host: str, port: int) -> None:
    try:
        import uvicorn
    except ImportError:
        raise SystemExit(
            "serving needs an ASGI server: pip install uvicorn (or mount the app in your own)"
        ) from None

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

    print(f"streambridge demo: open http://{args.host}:{args.port}/ (Ctrl+C to stop)")
    _serve(demo_app(protocol=args.protocol, heartbeat=args.heartbeat), args.host, args.port)


def _serve_command(args: argparse.Namespace) -> None:
    from .asgi import StreamMiddleware

    run = _load_run(args.target)
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


def _tail(args: argparse.Namespace) -> None:
    try:
        import httpx

        from .client import stream_chunks
    except ImportError:
        raise SystemExit(
            "tail needs the client extra: pip install 'streambridge[client]'"
        ) from None

    body = _request_body(args.protocol, args.message)
    url = httpx.URL(args.url)
    if "protocol" not in url.params:  # a streambridge host serves the protocol it is asked for
        url = url.copy_merge_params({"protocol": args.protocol})

    async def read() -> None:
        async for item in stream_chunks(str(url), protocol=args.protocol, json=body):
            print(item, flush=True)

    try:
        anyio.run(read)
    except httpx.HTTPStatusError as exc:
        raise SystemExit(
            f"{args.url}: HTTP {exc.response.status_code}: {exc.response.text}"
        ) from None
    except httpx.HTTPError as exc:
        raise SystemExit(f"{args.url}: {exc}") from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


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
        "tail", help="POST a message to URL (?protocol= added) and print the chunks"
    )
    tail.add_argument("url")
    tail.add_argument("--protocol", default="data-stream", choices=protocols)
    tail.add_argument("--message", default="What is the weather in Paris?")
    tail.set_defaults(handler=_tail)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    args.handler(args)


if __name__ == "__main__":
    main()
