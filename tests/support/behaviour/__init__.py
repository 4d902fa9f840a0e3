"""The behaviour suite's side of the servers: the apps every host serves (``app.py`` and one
module per framework), the commands and pool that start them (``hosts.py``), and what the
suite measures and checks.  Servers import these by module path (``support.behaviour.app:...``)."""
