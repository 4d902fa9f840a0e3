from __future__ import annotations

from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from streambridge.demo import demo_run
from streambridge_django import stream_view

# csrf_exempt: the demo has no login and no page to carry a CSRF token.  An app with sessions
# either keeps CSRF on and has its frontend send the X-CSRFToken header, or authenticates the
# API by a header instead of a cookie.
urlpatterns = [path("api/chat", csrf_exempt(stream_view(demo_run)))]
