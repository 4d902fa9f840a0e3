"""The project's own Django views: everything the Channels consumers do not serve."""

from django.http import HttpRequest, HttpResponse
from django.urls import path


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse(
        "The demo assistant streams at POST /api/chat and over the WebSocket /api/ws.",
        content_type="text/plain",
    )


urlpatterns = [path("", home)]
