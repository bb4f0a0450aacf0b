"""A fresh, migrated app database per test module for the videos services."""

from __future__ import annotations

import pytest

from tools import devenv


@pytest.fixture(scope="module")
def videos_db(session_env):
    with devenv.scratch_database("jobyard_test_videos", session_env["server"]) as url:
        yield url
