"""The behaviour suite's Django Channels project, served by daphne: the test app's run behind
``StreamConsumer`` (HTTP) and ``StreamWebsocketConsumer`` (WebSocket) on the suite's path."""
