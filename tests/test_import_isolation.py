"""The core never imports a web framework: it imports and runs with every framework blocked."""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCKED = ["starlette", "django", "flask", "quart", "channels", "fastapi", "werkzeug"]
# The bridges read SDK objects and dicts alike: neither the core nor streambridge.bridges may
# import a model SDK (each is an optional extra).
SDKS = ["openai", "anthropic", "langgraph", "langchain", "langchain_core"]
# The Redis store's client is imported when a RedisStore is built, never by the core.
CLIENTS = ["coredis"]

SCRIPT = textwrap.dedent(
    """
    import importlib
    import importlib.abc
    import pkgutil
    import sys

    BLOCKED = set(sys.argv[1].split(","))


    class BlockFrameworks(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ImportError(f"blocked for this test: {name}")
            return None


    for name in list(sys.modules):
        if name.partition(".")[0] in BLOCKED:
            del sys.modules[name]
    sys.meta_path.insert(0, BlockFrameworks())

    # The blocker works (starlette is installed in the dev environment, for the benchmarks).
    for name in ("starlette", "starlette.responses", "django", "werkzeug", "openai", "anthropic"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass
        else:
            raise SystemExit(f"{name} was importable: the blocker does not work")

    import streambridge as sb


    def fail(name):
        raise SystemExit(f"cannot import {name}: {sys.exc_info()[1]!r}")


    modules = ["streambridge"]
    for info in pkgutil.walk_packages(sb.__path__, "streambridge.", onerror=fail):
        importlib.import_module(info.name)
        modules.append(info.name)
    print("modules", len(modules), " ".join(sorted(modules)))

    import anyio


    async def run(controller):
        controller.append_text("hi")
        controller.state["k"] = 1


    async def main():
        async with sb.encode(sb.create_run(run, state={})) as body:
            return b"".join([data async for data in body])


    for backend in ("asyncio", "trio"):
        print(backend, anyio.run(main, backend=backend))

    # The ASGI host serves a request with every framework blocked too.
    from streambridge.asgi import StreamApp


    async def serve():
        sent = []
        body = [{"type": "http.request", "body": b'{"messages": []}', "more_body": False}]

        async def receive():
            if body:
                return body.pop()
            await anyio.sleep_forever()  # the client stays

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/", "query_string": b"", "headers": []}
        await StreamApp(run, heartbeat=None)(scope, receive, send)
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


    for backend in ("asyncio", "trio"):
        print("asgi", backend, anyio.run(serve, backend=backend))

    # So does the WSGI host, through its event-loop thread.
    import io
    from streambridge.wsgi import StreamWSGIApp

    started = []
    environ = {"REQUEST_METHOD": "POST", "QUERY_STRING": "", "CONTENT_LENGTH": "16",
               "wsgi.input": io.BytesIO(b'{"messages": []}')}
    answer = StreamWSGIApp(run, heartbeat=None)(environ, lambda *args: started.append(args))
    print("wsgi", (int(started[0][0].split()[0]), b"".join(answer)))
    answer.close()

    # A bridge runs on plain dicts with every SDK blocked.
    from streambridge.bridges import anthropic_messages, langgraph, openai_chat


    async def bridged(controller):
        delta = {"index": 0, "delta": {"content": "a"}}
        await openai_chat(controller, [{"id": "c", "choices": [delta]}])
        await anthropic_messages(controller, [{"type": "content_block_start", "index": 0,
                                               "content_block": {"type": "text", "text": "b"}}])
        await langgraph(controller, [])


    async def bridge_main():
        async with sb.create_run(bridged) as stream:
            return "".join([getattr(chunk, "text_delta", "") async for chunk in stream])


    for backend in ("asyncio", "trio"):
        print("bridges", backend, anyio.run(bridge_main, backend=backend))

    # The one bridge option that needs its SDK says which extra installs it.
    async def state_sync(controller):
        await langgraph(controller, [], state_sync=True)


    async def state_sync_main():
        async with sb.create_run(state_sync, raise_errors=True) as stream:
            return [chunk async for chunk in stream]


    try:
        anyio.run(state_sync_main)
    except ImportError as exc:
        print("extra", exc)

    # The Redis store is there, and says which extra it needs.
    try:
        sb.RedisStore()
    except ImportError as exc:
        print("redis", exc)

    leaked = sorted(name for name in sys.modules if name.partition(".")[0] in BLOCKED)
    if leaked:
        raise SystemExit(f"framework modules imported: {leaked}")
    print("ok")
    """
)


def test_core_imports_and_runs_with_web_frameworks_and_model_sdks_blocked() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, ",".join(BLOCKED + SDKS + CLIENTS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "ok"
    modules = lines[0].split()
    assert modules[0] == "modules"
    imported = set(modules[2:])
    assert int(modules[1]) == len(imported)
    expected_core = {"streambridge.run", "streambridge.chunks", "streambridge.encoding"}
    serving = (
        {"streambridge.asgi", "streambridge.transport"}
        | {
            f"streambridge.transport.{name}"
            for name in ("endpoint", "envelope", "errors", "events", "headers", "options", "driver")
        }
        | {f"streambridge.transport.{name}" for name in ("request", "session", "shutdown")}
        | {"streambridge.wsgi", "streambridge.transport.blocking", "streambridge.transport.portal"}
    )
    bridges = {"streambridge.bridges"} | {
        f"streambridge.bridges.{name}"
        for name in ("openai_chat", "openai_responses", "anthropic_messages", "langgraph")
    }
    assert expected_core | serving | bridges | {"streambridge.protocols.data_stream"} <= imported
    for backend in ("asyncio", "trio"):
        assert f"bridges {backend} ab" in lines
    assert (
        "redis RedisStore needs the 'coredis' package: pip install 'streambridge[redis]'" in lines
    )
    assert "streambridge.runs.redis" in imported
    assert (
        "extra this bridge needs the 'langchain_core' package: "
        "pip install 'streambridge[langgraph]'" in lines
    )
    body = 'b\'0:"hi"\\naui-state:[{"type":"set","path":["k"],"value":1}]\\nd:'
    for backend in ("asyncio", "trio"):
        [line] = [line for line in lines if line.startswith(backend + " ")]
        assert line.startswith(f"{backend} {body}"), line
        assert '"finishReason":"stop"' in line
        [served] = [line for line in lines if line.startswith(f"asgi {backend} ")]
        assert served.startswith(f"asgi {backend} (200, {body}"), served
    [wsgi] = [line for line in lines if line.startswith("wsgi ")]
    assert wsgi.startswith(f"wsgi (200, {body}"), wsgi
