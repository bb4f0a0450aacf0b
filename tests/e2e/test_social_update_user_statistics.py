"""social_update_user_statistics end to end with dag.test(): this test's users get the right
counters, a rerun writes no row, `full` repairs a counter changed by hand, a bad --conf is
rejected naming the field, an unreachable database fails the run. The app database is
shared with other tests: only this test's rows are asserted on."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from tests.e2e.conftest import run_dag, task_states

T = datetime(2026, 7, 2, 3, 0, tzinfo=UTC)


@pytest.fixture
def trio(app_db) -> list[int]:
    """a -> b, a -> c, b -> c; a posts twice; the stored counters are all stale (9)."""
    tag = uuid.uuid4().hex[:10]
    with psycopg.connect(app_db) as conn:
        ids = [conn.execute(
            "INSERT INTO social.users (email, username, followers_count, following_count, posts_count) "
            "VALUES (%s, %s, 9, 9, 9) RETURNING id", (f"stats_{n}_{tag}@e2e.test", f"stats_{n}_{tag}")).fetchone()[0]
            for n in "abc"]
        a, b, c = ids
        conn.cursor().executemany("INSERT INTO social.follows (follower_id, followee_id) VALUES (%s, %s)",
                                  [(a, b), (a, c), (b, c)])
        conn.execute("INSERT INTO social.posts (author_id) VALUES (%s), (%s)", (a, a))
    return ids


def counters(app_db, ids) -> list[tuple]:
    with psycopg.connect(app_db) as conn:
        return conn.execute("SELECT followers_count, following_count, posts_count, xmin::text FROM social.users "
                            "WHERE id = ANY(%s) ORDER BY id", (ids,)).fetchall()


def test_counters_are_recomputed_and_a_rerun_writes_nothing(repo_dags, app_db, trio):
    dag = repo_dags["social_update_user_statistics"]
    run = run_dag(dag, T)
    assert run.state == "success", task_states(run)
    first = counters(app_db, trio)
    assert [row[:3] for row in first] == [(0, 2, 2), (1, 1, 0), (2, 0, 0)]

    rerun = run_dag(dag, T)
    assert rerun.state == "success", task_states(rerun)
    assert counters(app_db, trio) == first, "same counters, same row versions: nothing rewritten"


def test_an_unreachable_database_fails_the_run(repo_dags, app_db, trio, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SOCIAL_DB", json.dumps(
        {"conn_type": "postgres", "host": "127.0.0.1", "port": 1, "login": "postgres", "schema": "nowhere"}))
    run = run_dag(repo_dags["social_update_user_statistics"], T)
    assert run.state == "failed"
    assert [row[:3] for row in counters(app_db, trio)] == [(9, 9, 9)] * 3


def test_full_recount_repairs_a_counter_the_triggers_did_not_see(repo_dags, app_db, trio):
    dag = repo_dags["social_update_user_statistics"]
    assert run_dag(dag, T).state == "success"
    with psycopg.connect(app_db) as conn:  # a counter set by hand: no trigger marks the user
        conn.execute("UPDATE social.users SET posts_count = 7 WHERE id = %s", (trio[0],))
    assert run_dag(dag, T).state == "success"
    assert counters(app_db, trio)[0][:3] == (0, 2, 7), "an incremental run looks only at marked users"
    run = run_dag(dag, T, conf={"full": True})
    assert run.state == "success", task_states(run)
    assert counters(app_db, trio)[0][:3] == (0, 2, 2)


def test_bad_conf_is_rejected_naming_the_field(repo_dags):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="full"):
        repo_dags["social_update_user_statistics"].test(logical_date=T, run_conf={"full": "yes"})
