"""The WSGI hosts of the behaviour suite: the same run (app.py) as StreamWSGIApp and as a Flask
view, each also answering ``GET /_resources`` (resources.py); and each with a short
``body_timeout``, for test_body_timeout.py."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify

from streambridge.wsgi import StreamWSGIApp
from streambridge_flask import add_stream_rules, stream_view

from .app import BODY_TIMEOUT_OPTIONS, BODY_TIMEOUT_PATH, OPTIONS, PATH, run
from .resources import REPORT_PATH, sync_report, with_wsgi_report
from .stored_app import stored_options

wsgi_app: Any = with_wsgi_report(StreamWSGIApp(run, **OPTIONS))
stored_wsgi_app = StreamWSGIApp(run, **stored_options())
body_timeout_wsgi_app = StreamWSGIApp(run, **BODY_TIMEOUT_OPTIONS)


def without_socket(app: Any) -> Any:
    """``app`` on a server that does not expose its sockets (uWSGI, mod_wsgi, waitress...): a
    failed write is then the only sign of a client that left."""

    def hidden(environ: dict[str, Any], start_response: Any) -> Any:
        environ.pop("gunicorn.socket", None)
        environ.pop("werkzeug.socket", None)
        return app(environ, start_response)

    return hidden


wsgi_app_without_socket = without_socket(wsgi_app)

flask_app = Flask(__name__)
# No methods=: the view answers a wrong method itself, with the JSON 405 every host gives.
flask_app.add_url_rule(PATH, view_func=stream_view(run, **OPTIONS))


@flask_app.get(REPORT_PATH)
def report() -> Response:
    return jsonify(sync_report())


stored_flask_app = Flask(__name__)
add_stream_rules(stored_flask_app, PATH, stream_view(run, **stored_options()))

body_timeout_flask_app = Flask(__name__)
body_timeout_flask_app.add_url_rule(
    BODY_TIMEOUT_PATH, view_func=stream_view(run, **BODY_TIMEOUT_OPTIONS)
)
