"""The demo assistant as a plain WSGI app, for any WSGI server: every path streams it, in any
protocol (?protocol=).

    gunicorn -k gthread --threads 8 --chdir examples wsgi_app:app
"""

from __future__ import annotations

from streambridge.demo import demo_run
from streambridge.wsgi import StreamWSGIApp

app = StreamWSGIApp(demo_run)
