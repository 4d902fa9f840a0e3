"""The least a Channels project needs: no database, no middleware, no templates."""

SECRET_KEY = "behaviour-suite-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["channels"]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
ASGI_APPLICATION = "support.behaviour.channels_host.asgi.application"
