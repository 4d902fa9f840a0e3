from __future__ import annotations

import pytest

from support.redis_server import stop_private


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async test runs on asyncio and on trio."""
    return str(request.param)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The private Redis servers the session started end with it."""
    stop_private()
