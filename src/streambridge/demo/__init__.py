"""The demo: a scripted assistant (no API key) and a static page that renders it live."""

from __future__ import annotations

from .assistant import demo_run

__all__ = ["demo_run"]
