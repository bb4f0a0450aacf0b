"""A fresh, migrated app database per test module for the ads services."""

from __future__ import annotations

import pytest

from tools import devenv


@pytest.fixture(scope="module")
def ads_db(session_env):
    with devenv.scratch_database("jobyard_test_ads", session_env["server"]) as url:
        yield url
