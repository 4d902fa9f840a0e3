"""A tool the tests need is missing: a skip on a user's machine, a failure under CI (DESIGN §6)."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def skip_or_fail(reason: str) -> None:
    """Skip for a missing tool on a user's machine; under CI a missing tool is a failure."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: install it in .ci/run)")
    pytest.skip(reason)
