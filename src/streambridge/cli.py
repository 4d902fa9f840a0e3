"""``streambridge demo | serve | tail``: run the demo, serve any run function, read any stream.

    streambridge demo [--port 8000]                      the demo assistant and its page
    streambridge serve app.module:run [--protocol P]     serve a run function at /api/chat
    streambridge tail URL [--protocol P] [--message M]   print a stream's chunks as they arrive

``demo`` and ``serve`` need an ASGI server (uvicorn); ``tail`` needs the client extra.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from typing import Any

from .protocols import protocol_names
from .run import RunFunction

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


def _serve(app: Any, host: str, port: int) -> None:
    try:
        import uvicorn
    except ImportError:
        raise SystemExit(
            "serving needs an ASGI server: pip install uvicorn (or mount the app in your own)"
        ) from None
    # The shutdown hook ends open streams cleanly before uvicorn waits for them.
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=3)


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
        while (await receive())["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "http":
        return
    body = json.dumps({"error": {"message": "not found"}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _tail(args: argparse.Namespace) -> None:
    import anyio

    from .client import stream_chunks

    body = {"messages": [{"role": "user", "content": args.message}]}

    async def read() -> None:
        async for item in stream_chunks(args.url, protocol=args.protocol, json=body):
            print(item, flush=True)

    anyio.run(read)


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

    tail = commands.add_parser("tail", help="POST a message to URL and print the chunks")
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
