"""``StreamWSGIApp(run)`` and the Flask plugin's ``stream_view(run)``, for gunicorn gthread."""

from __future__ import annotations

from flask import Flask

from streambridge.wsgi import StreamWSGIApp
from streambridge_flask import stream_view

from .run import PATH, run

wsgi_app = StreamWSGIApp(run)
flask_app = Flask(__name__)
flask_app.add_url_rule(PATH, view_func=stream_view(run), methods=["POST"])
