"""``python -m support.behaviour.serve_werkzeug module:attribute PORT``: serve a WSGI app on
werkzeug's threaded development server (what ``flask run`` uses), on 127.0.0.1."""

from __future__ import annotations

import importlib
import sys

from werkzeug.serving import run_simple


def main() -> None:
    target, port = sys.argv[1], int(sys.argv[2])
    module, _, attribute = target.partition(":")
    app = getattr(importlib.import_module(module), attribute)
    run_simple("127.0.0.1", port, app, threaded=True)


if __name__ == "__main__":
    main()
