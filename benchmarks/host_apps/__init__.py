"""The apps ``hosts.py`` serves: one run (``run.py``) mounted the way each framework mounts it.

Each module is imported by its own server process, so the Django and Channels modules can each
configure Django their own way.  No test-only behaviour: every streambridge option at its
default (15 s heartbeat), no middleware, no resource-report route.
"""
