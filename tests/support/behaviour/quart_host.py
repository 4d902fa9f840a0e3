"""``hypercorn support.behaviour.quart_host:served_app``: the test run as a Quart route and
websocket."""

from __future__ import annotations

from quart import Quart
from quart_trio import QuartTrio

from streambridge_quart import add_stream_rules, stream_view, websocket_view

from .app import OPTIONS, PATH, run
from .resources import with_asgi_report
from .stored_app import stored_options

app = Quart(__name__)
# Shorter than the paced and idle runs (0.3 s, 0.35 s): were a stream not exempt from Quart's
# response timeout, those tests would see it cut.
app.config["RESPONSE_TIMEOUT"] = 0.2
app.add_url_rule(PATH, view_func=stream_view(run, **OPTIONS))
app.add_websocket(PATH, view_func=websocket_view(run, **OPTIONS))

# Quart on trio is QuartTrio (the quart-trio extension): the same views.
trio_app = QuartTrio(__name__)
trio_app.config["RESPONSE_TIMEOUT"] = 0.2
trio_app.add_url_rule(PATH, view_func=stream_view(run, **OPTIONS))
trio_app.add_websocket(PATH, view_func=websocket_view(run, **OPTIONS))

# What the servers serve: the apps with GET /_resources for the leak check (resources.py).
served_app = with_asgi_report(app)
served_trio_app = with_asgi_report(trio_app)

stored_app = Quart(__name__)
stored_app.config["RESPONSE_TIMEOUT"] = 0.2
add_stream_rules(stored_app, PATH, stream_view(run, **stored_options()))
