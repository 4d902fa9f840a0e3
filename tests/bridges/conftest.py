from __future__ import annotations

from collections.abc import Iterator

import pytest

from .upstream import Upstream, start_upstream


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    """The local model server every bridge test's SDK talks to."""
    server_upstream, server, thread = start_upstream()
    yield server_upstream
    server.should_exit = True
    thread.join(10)
