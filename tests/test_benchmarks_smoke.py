"""The serving benchmark runs end to end at tiny sizes (real servers, real sockets).

It checks that the script works and prints its table, never how fast anything was: timings on a
shared machine are not a test.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from support.ci import skip_or_fail

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc (Linux)")
def test_serving_benchmark_runs_at_smoke_sizes() -> None:
    for module in ("assistant_stream", "uvicorn", "starlette"):
        if importlib.util.find_spec(module) is None:
            skip_or_fail(f"{module} is not installed: `uv sync` installs the bench group")
    result = run_script("serving.py", ["--smoke"], timeout=120)
    figures = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("| (")}
    assert figures == {"(1)", "(2)", "(3)", "(4)"}, result.stdout
    assert "server log:" not in result.stdout, result.stdout
    assert "--loop asyncio --http h11" in result.stdout, result.stdout  # the default server
    rows = table_rows(result.stdout, "| (4) 20 tokens/s a stream, every row")
    expected = {"streambridge", "assistant-stream 0.0.36", "no library", "no library, listening"}
    assert set(rows) == expected, result.stdout
    assert "(≥ 0.8x: " in rows["streambridge"][3], result.stdout  # measured against the bare app


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc (Linux)")
def test_serving_benchmark_on_trio_with_a_baseline_row() -> None:
    """--server hypercorn-trio --figures 4 --baseline HEAD: the rows that run on trio, with
    streambridge at HEAD imported from an unpacked src/, not the installed one."""
    for module in ("assistant_stream", "hypercorn", "trio"):
        if importlib.util.find_spec(module) is None:
            skip_or_fail(f"{module} is not installed: `uv sync` installs the dev and bench groups")
    if not (ROOT / ".git").exists():
        pytest.skip("--baseline needs a git checkout")
    arguments = ["--smoke", "--figures", "4", "--server", "hypercorn-trio", "--baseline", "HEAD"]
    result = run_script("serving.py", [*arguments, "--no-gc"], timeout=120)
    assert "server log:" not in result.stdout, result.stdout
    assert "hypercorn 0.18.0 --worker-class trio" in result.stdout, result.stdout
    assert "the garbage collector disabled (--no-gc" in result.stdout, result.stdout
    for name in ("assistant-stream", "no library, listening"):
        assert f"{name}: left out, it runs on asyncio only" in result.stdout, result.stdout
    figures = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("| (")}
    assert figures == {"(4)"}, result.stdout
    rows = table_rows(result.stdout, "| (4) 20 tokens/s a stream, every row")
    assert set(rows) == {"streambridge", "streambridge@HEAD", "no library"}, result.stdout
    imported = [line for line in result.stdout.splitlines() if line.startswith("streambridge")]
    assert len(imported) == 2, result.stdout
    assert "streambridge-baseline-" in imported[1], result.stdout


def test_no_gc_serves_with_the_collector_disabled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--no-gc starts each server as ``python -m`` would, with the collector off."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import serving

    monkeypatch.setenv(serving.NO_GC, "1")
    argv = serving.server_argv("serving_apps:app", 8000, None)
    assert argv[:4] == [sys.executable, "-c", serving.WITHOUT_GC, "uvicorn"]
    (tmp_path / "gc_probe.py").write_text("import gc, sys\nprint(gc.isenabled(), sys.argv[1:])\n")
    probe = [sys.executable, "-c", serving.WITHOUT_GC, "gc_probe", "--port", "8000"]
    result = subprocess.run(probe, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert result.stdout == "False ['--port', '8000']\n"


def test_bridges_benchmark_runs_and_checks_every_case() -> None:
    """Each bridge and its by-hand mapping serve the same text (the script asserts it)."""
    for module in ("openai", "anthropic"):
        if importlib.util.find_spec(module) is None:
            skip_or_fail(f"{module} is not installed: `uv sync` installs the dev group")
    result = run_script("bridges.py", ["--repeats", "1", "--deltas", "200"], timeout=120)
    rows = table_rows(result.stdout, "| upstream | bridge |")
    assert set(rows) == {"openai chat completions", "openai responses", "anthropic messages"}


def table_rows(output: str, header: str) -> dict[str, list[str]]:
    """The rows of the Markdown table under ``header``: first cell -> the other cells."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header)) + 2
    rows = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.parametrize(
    ("script", "arguments", "expect"),
    [
        ("idle_heap.py", ["--streams", "20", "--top", "3"], "charged to streambridge lines"),
        (
            "token_cpu.py",
            ["--streams", "2", "--tokens", "5", "--rounds", "1"],
            "streambridge's part:",
        ),
        ("run_store.py", ["--quick", "--repeats", "1"], "KiB of heap per waiting reader"),
        (
            "gc_cost.py",
            ["--streams", "20", "--rounds", "1"],
            "What one open stream adds to a full collection",
        ),
    ],
)
def test_in_process_diagnostics_run(script: str, arguments: list[str], expect: str) -> None:
    result = run_script(script, arguments, timeout=60)
    assert expect in result.stdout, result.stdout


def test_redis_store_benchmark_runs_at_smoke_sizes() -> None:
    from support.redis_server import redis_url

    result = run_script("redis_store.py", ["--quick", "--redis-url", redis_url()], timeout=180)
    for line in ("deltas/s", "p99", "streams", "Redis round trips"):
        assert line in result.stdout, result.stdout


def run_script(
    script: str, arguments: list[str], *, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run ``benchmarks/<script>`` as a user would; it must exit 0."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result
