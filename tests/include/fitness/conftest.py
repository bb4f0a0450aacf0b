"""A fresh, migrated app database per test module for the fitness services."""

from __future__ import annotations

import pytest

from tools import devenv


@pytest.fixture(scope="module")
def fitness_db(session_env):
    with devenv.scratch_database("jobyard_test_fitness", session_env["server"]) as url:
        yield url
