"""The demo assistant from a Flask app: POST /api/chat streams it, in any protocol (?protocol=).

    gunicorn -k gthread --threads 8 --chdir examples flask_app:app

Each open stream holds one of gunicorn's threads while the run itself runs in streambridge's
event loop; a client that goes away cancels its run.
"""

from __future__ import annotations

from flask import Flask

from streambridge.demo import demo_run
from streambridge_flask import stream_view

app = Flask(__name__)
app.add_url_rule("/api/chat", view_func=stream_view(demo_run))
