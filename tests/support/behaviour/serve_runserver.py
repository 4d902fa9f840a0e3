"""``python -m support.behaviour.serve_runserver module PORT``: serve a Django project configured by
``module`` on Django's development server (``manage.py runserver``, without the reloader)."""

from __future__ import annotations

import importlib
import sys

from django.core.management import call_command


def main() -> None:
    module, port = sys.argv[1].partition(":")[0], sys.argv[2]
    importlib.import_module(module)  # configures the settings
    call_command("runserver", f"127.0.0.1:{port}", use_reloader=False)


if __name__ == "__main__":
    main()
