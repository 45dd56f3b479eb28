"""Real parts for tests, each on 127.0.0.1 and stopped by its context manager or fixture.

- ``database``: settings for a test's own database, PostgreSQL test databases, index reads;
- ``live_server``: the app under a real uvicorn, and waiting for a server in a subprocess;
- ``smtp``: an aiosmtpd server that records (or refuses) what it is sent;
- ``fake_remotes``: arXiv, OAI-PMH and Hugging Face served from the recordings in tests/data;
- ``queries``: counts the SQL statements an engine runs (list pages assert theirs);
- ``web_client``: what a browser does with a form (CSRF token, sign-in).

Rows come from ``tests.factories``; the fixtures that wire these are in tests/conftest.py.
"""

from __future__ import annotations

import socket
from pathlib import Path

DATA_DIR = Path(__file__).parent.parent / "data"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
