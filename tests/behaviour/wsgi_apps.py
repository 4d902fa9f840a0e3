"""The WSGI hosts of the behaviour suite: the same run (app.py) as StreamWSGIApp and as a Flask
view, each also answering ``GET /_resources`` (resources.py)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify

from streambridge.wsgi import StreamWSGIApp
from streambridge_flask import stream_view

from .app import OPTIONS, PATH, run
from .resources import REPORT_PATH, sync_report, with_wsgi_report

wsgi_app: Any = with_wsgi_report(StreamWSGIApp(run, **OPTIONS))

flask_app = Flask(__name__)
# No methods=: the view answers a wrong method itself, with the JSON 405 every host gives.
flask_app.add_url_rule(PATH, view_func=stream_view(run, **OPTIONS))


@flask_app.get(REPORT_PATH)
def report() -> Response:
    return jsonify(sync_report())
