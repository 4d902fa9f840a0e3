"""Run the official JavaScript clients in tests/oracles on bytes streambridge produced."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .ci import skip_or_fail

ORACLES = Path(__file__).resolve().parents[1] / "oracles"


def run_oracle(script: str, data: bytes, *, node_flags: Sequence[str] = (), **options: Any) -> Any:
    """Feed ``data`` to ``tests/oracles/<script>`` and return what it printed, parsed.

    The script fails on any thrown error and on any console.warn / console.error of the client.
    """
    node = shutil.which("node")
    if node is None:
        skip_or_fail("node is not installed: the official-client oracles cannot run")
    if not (ORACLES / "node_modules").is_dir():
        skip_or_fail("tests/oracles/node_modules is missing: run `make install` (npm ci)")
    assert node is not None
    completed = subprocess.run(
        [node, *node_flags, str(ORACLES / script), json.dumps(options)],
        input=data,
        capture_output=True,
        timeout=120,
        check=False,
    )
    if completed.returncode != 0:
        raise AssertionError(
            f"{script} rejected the stream:\n{completed.stderr.decode(errors='replace')}"
        )
    return json.loads(completed.stdout)
