"""A fresh, migrated app database per test for the platform services."""

from __future__ import annotations

import secrets

import pytest

from tools import devenv


@pytest.fixture
def platform_db(session_env):
    name = f"jobyard_test_platform_{secrets.token_hex(4)}"
    url = devenv.ensure_database(session_env["server"], name)
    devenv.migrate_app_db(url)
    yield url
    devenv.drop_database(session_env["server"], name)
