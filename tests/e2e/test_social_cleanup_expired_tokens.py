"""social_cleanup_expired_tokens end to end with dag.test(): expired and inactive users' tokens
and sessions go, the rest stays, a rerun deletes nothing more, a bad setting fails without retries.
The app database is shared with other tests: only this test's rows are asserted on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.e2e.conftest import run_dag, task_result, task_states

T = datetime(2026, 7, 2, 2, 0, tzinfo=UTC)  # logical date = the data interval's end
DAY = timedelta(days=1)



@pytest.fixture
def people(app_db) -> dict:
    """An active and an inactive user, each with a valid and an expired token and session."""
    tag = uuid.uuid4().hex[:10]
    rows = {}
    with psycopg.connect(app_db) as conn:
        for who, last_activity in (("active", T - DAY), ("inactive", T - 40 * DAY)):
            user_id = conn.execute(
                "INSERT INTO social.users (email, username, created_at, last_activity_at) "
                "VALUES (%s, %s, %s, %s) RETURNING id",
                (f"tok_{who}_{tag}@e2e.test", f"tok_{who}_{tag}", T - 90 * DAY, last_activity)).fetchone()[0]
            rows[who] = user_id
            for state, expires in (("valid", T + DAY), ("expired", T - DAY)):
                conn.execute("INSERT INTO social.auth_tokens (user_id, token_hash, kind, expires_at) "
                             "VALUES (%s, %s, 'refresh', %s)", (user_id, f"{who}-{state}-{tag}", expires))
                conn.execute("INSERT INTO social.sessions (user_id, session_key, expires_at) VALUES (%s, %s, %s)",
                             (user_id, f"{who}-{state}-{tag}", expires))
    rows["tag"] = tag
    return rows


def remaining(app_db, people) -> tuple[list[str], list[str]]:
    ids = [people["active"], people["inactive"]]
    with psycopg.connect(app_db) as conn:
        tokens = [r[0] for r in conn.execute(
            "SELECT token_hash FROM social.auth_tokens WHERE user_id = ANY(%s) ORDER BY 1", (ids,))]
        sessions = [r[0] for r in conn.execute(
            "SELECT session_key FROM social.sessions WHERE user_id = ANY(%s) ORDER BY 1", (ids,))]
    return tokens, sessions


def test_deletes_expired_and_inactive_and_a_rerun_deletes_nothing(repo_dags, app_db, people):
    dag = repo_dags["social_cleanup_expired_tokens"]
    run = run_dag(dag, T)
    assert run.state == "success", task_states(run)
    result = task_result(run, "delete_expired_tokens")
    assert set(result) == {"expired_tokens", "expired_sessions", "inactive_tokens", "inactive_sessions", "batches"}
    assert result["expired_tokens"] >= 2 and result["inactive_tokens"] >= 1 and result["inactive_sessions"] >= 1
    kept = f"active-valid-{people['tag']}"
    assert remaining(app_db, people) == ([kept], [kept])

    rerun = run_dag(dag, T)
    assert rerun.state == "success", task_states(rerun)
    assert task_result(rerun, "delete_expired_tokens") == dict.fromkeys(result, 0)
    assert remaining(app_db, people) == ([kept], [kept])


def test_a_bad_inactive_days_setting_fails_at_once_and_deletes_nothing(repo_dags, app_db, people, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_SOCIAL_INACTIVE_DAYS", "0")
    dag = repo_dags["social_cleanup_expired_tokens"]
    for task in dag.tasks:  # retries left on, without a delay: a retry would show as try 2
        task.retries, task.retry_delay = 3, timedelta(0)
    dag.deadline = None
    run = dag.test(logical_date=T + DAY)
    assert run.state == "failed"
    [ti] = run.get_task_instances()
    assert ti.state == "failed" and ti.try_number == 1
    assert len(remaining(app_db, people)[0]) == 4, "nothing was deleted"
