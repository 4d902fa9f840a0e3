"""Timings the behaviour suite measured, printed at the end of the session (see conftest)."""

from __future__ import annotations

from collections import defaultdict

FIGURES: dict[str, list[float]] = defaultdict(list)


def record(name: str, seconds: float) -> None:
    FIGURES[name].append(seconds)
