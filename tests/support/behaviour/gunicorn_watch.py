"""The gunicorn config file ``docs/guide/serving.md`` gives for ``--preload`` (and for apps whose
hosts are first built by a request): ``gunicorn -c python:support.behaviour.gunicorn_watch``.

With ``--preload`` the app is imported in gunicorn's master, and each worker then installs its
own signal handlers over everything the import did; its streams are served from request
threads, where no signal handler may be installed.  This hook runs in the worker's main thread
after gunicorn's handlers are in place."""

from __future__ import annotations

from typing import Any

import streambridge


def post_worker_init(worker: Any) -> None:
    streambridge.watch_signals()
