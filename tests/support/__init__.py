"""What the tests share and are not tests themselves: scenarios, oracles, recorded runs, fake
protocols, the one Django configuration, and (``support.behaviour``) the apps and servers of the
behaviour suite.  ``tests/`` is on ``sys.path`` (pytest puts it there, and the behaviour suite's
servers get it on ``PYTHONPATH``), so this is the package ``support``."""
