"""CPU per token of a streaming response, in process: streambridge against a bare ASGI app.

``serving.py`` (4) measures a real server's CPU per token; this isolates the app's part of it.
``--streams`` requests go through each app with a stand-in ASGI server (a ``receive`` that hands
over the body and then waits for a disconnect that never comes, a ``send`` that drops the
bytes), each run sending ``--tokens`` deltas one millisecond apart, so every token is a batch of
its own:

- ``StreamApp(run)``, every option at its default, the run calling ``append_text("tok")``;
- a bare ASGI app, no library: the same loop in the request's own task, sending each token as a
  data-stream frame it encodes itself (``0:"tok"`` and a newline) with one ``send``.

The process CPU time per token is measured for both, interleaved over ``--rounds``; the
difference is what streambridge costs a token on top of what the app must do anyway.

    uv run python benchmarks/token_cpu.py [--streams N] [--tokens N] [--rounds N]

Instructions rather than time: ``--app streambridge`` (or ``bare``) serves once, unmeasured, so
that valgrind counts one app; a token's instructions are the difference between two token counts
divided by the tokens added::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv/bin/python benchmarks/token_cpu.py --app streambridge --streams 50 --tokens 101
    # the same with --tokens 1; (Ir at 101 - Ir at 1) / (50 * 100)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from stand_in_server import serve_one
from streambridge.asgi import StreamApp

INTERVAL = 0.001

App = Callable[..., Awaitable[None]]


def streambridge_app(tokens: int) -> App:
    async def run(controller: Any) -> None:
        for _ in range(tokens):
            controller.append_text("tok")
            await asyncio.sleep(INTERVAL)

    return StreamApp(run)


def bare_app(tokens: int) -> App:
    headers = [(b"content-type", b"text/plain; charset=utf-8")]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for _ in range(tokens):
            frame = f"0:{json.dumps('tok')}\n".encode()
            await send({"type": "http.response.body", "body": frame, "more_body": True})
            await asyncio.sleep(INTERVAL)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


async def cpu_per_token(app: App, streams: int, tokens: int) -> float:
    """Microseconds of process CPU per token delivered."""
    start = time.process_time()
    await asyncio.gather(*(serve_one(app) for _ in range(streams)))
    return (time.process_time() - start) / (streams * tokens) * 1e6


def measure(make: Callable[[int], App], streams: int, tokens: int) -> float:
    app = make(tokens)
    asyncio.run(cpu_per_token(app, 5, tokens))  # warm-up: imports, caches
    return asyncio.run(cpu_per_token(app, streams, tokens))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--app", choices=["streambridge", "bare"], help="serve one app, once")
    args = parser.parse_args()
    if args.app is not None:
        make = streambridge_app if args.app == "streambridge" else bare_app
        asyncio.run(cpu_per_token(make(args.tokens), args.streams, args.tokens))
        return
    ours: list[float] = []
    bare: list[float] = []
    for _ in range(args.rounds):
        ours.append(measure(streambridge_app, args.streams, args.tokens))
        bare.append(measure(bare_app, args.streams, args.tokens))
    mine, floor = statistics.median(ours), statistics.median(bare)
    print(f"CPU per token, {args.streams} streams x {args.tokens} tokens, median of {args.rounds}:")
    print(f"  StreamApp(run):         {mine:5.1f} µs")
    print(f"  bare ASGI app:          {floor:5.1f} µs")
    print(f"  streambridge's part:    {mine - floor:5.1f} µs per token ({mine / floor:.2f}x)")


if __name__ == "__main__":
    main()
