"""A Django Channels project whose ASGI application serves the demo assistant."""

SECRET_KEY = "streambridge-example-only"  # a real project reads its key from the environment
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["channels"]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
ROOT_URLCONF = "chat_project.urls"
ASGI_APPLICATION = "chat_project.asgi.application"
