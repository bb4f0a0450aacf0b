"""A fresh, migrated app database per test for the platform services."""

from __future__ import annotations

import pytest

from tools import devenv


@pytest.fixture
def platform_db(session_env):
    with devenv.scratch_database("jobyard_test_platform", session_env["server"]) as url:
        yield url
