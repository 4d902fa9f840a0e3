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

from conftest import skip_or_fail

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


@pytest.mark.parametrize(
    ("script", "arguments", "expect"),
    [
        ("idle_heap.py", ["--streams", "20", "--top", "3"], "charged to streambridge lines"),
        (
            "token_cpu.py",
            ["--streams", "2", "--tokens", "5", "--rounds", "1"],
            "streambridge's part:",
        ),
    ],
)
def test_in_process_diagnostics_run(script: str, arguments: list[str], expect: str) -> None:
    result = run_script(script, arguments, timeout=60)
    assert expect in result.stdout, result.stdout


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
