"""Contract tests: the vendors' own Python clients, pointed at the sandbox, make the calls our
jobs make and parse the answers. A vendor client rejecting a sandbox answer is drift in the
sandbox, to be fixed there. The vendor packages are dev dependencies (requirements-dev.txt):
a missing one is an install error, never a skip."""

from __future__ import annotations

import pytest


@pytest.fixture
def sandbox_url(sandbox, session_env) -> str:
    """The sandbox's base URL, with clean fault switches, request log and pushes."""
    sandbox.reset_faults()
    sandbox.clear_requests()
    sandbox.clear_pushes()
    yield f"http://127.0.0.1:{session_env['http_port']}"
    sandbox.reset_faults()
