"""Hosts that keep their runs in Redis (``RedisStore``): the stored hosts of ``stored_app.py``
again, any number of processes of each sharing runs.

Every process of a test session uses the Redis at ``REDIS_URL`` (the behaviour suite's
``servers`` fixture sets it before it starts them) and the key prefix ``SB_TEST_REDIS_PREFIX``, so
a run started on one process is read and stopped on another.  Their lease is short
(``SB_TEST_REDIS_LEASE``, 1 s), so a killed process's runs fail within the test's patience.
"""

from __future__ import annotations

import os
from typing import Any

import streambridge as sb
from streambridge.asgi import StreamApp
from streambridge.wsgi import StreamWSGIApp

from .app import run
from .resources import with_asgi_report
from .stored_app import stored_options

PREFIX_VARIABLE = "SB_TEST_REDIS_PREFIX"
LEASE_VARIABLE = "SB_TEST_REDIS_LEASE"


def redis_options() -> dict[str, Any]:
    """:func:`stored_options` with this session's Redis for a store."""
    store = sb.RedisStore(
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"),
        prefix=os.environ.get(PREFIX_VARIABLE, "sbtest-hosts"),
        lease=float(os.environ.get(LEASE_VARIABLE, "1.0")),
        idle_ttl=120,
    )
    return {**stored_options(), "store": store}


redis_app = with_asgi_report(StreamApp(run, **redis_options()))
redis_wsgi_app = StreamWSGIApp(run, **redis_options())
