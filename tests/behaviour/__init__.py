"""The behaviour suite: every host on its real server, judged by the same tests (DESIGN §5, §6)."""
