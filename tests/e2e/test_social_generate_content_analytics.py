"""social_generate_content_analytics end to end with dag.test(): the row of the whole calendar
day before the run from this test's users, posts, likes and comments (activity in the run's
interval after that day's midnight is not counted), a rerun leaves it untouched, an
unreachable database fails the run. The app database is shared with other tests: the day is in 2031, where only
this test's rows are."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from tests.e2e.conftest import run_dag, task_result, task_states

T = datetime(2031, 7, 15, 4, 0, tzinfo=UTC)  # logical date = the interval's end: [07-14 04:00, 07-15 04:00)
DAY = date(2031, 7, 14)  # counted midnight to midnight
INSIDE = datetime(2031, 7, 14, 1, 0, tzinfo=UTC)  # before the interval, but on the day
AFTER_MIDNIGHT = datetime(2031, 7, 15, 1, 0, tzinfo=UTC)  # in the interval, but the next day



@pytest.fixture
def activity(app_db) -> dict[str, int]:
    """Three users joined in the interval; u1 and u2 post, u2 and u3 like u1's post, u3
    comments on u2's; one like lands after the day's midnight (outside)."""
    suffix = uuid.uuid4().hex[:8]
    with psycopg.connect(app_db) as conn:
        u = [conn.execute("INSERT INTO social.users (email, username, created_at) VALUES (%s, %s, %s) RETURNING id",
                          (f"ca{i}_{suffix}@e2e.test", f"ca{i}_{suffix}", INSIDE)).fetchone()[0] for i in range(3)]
        p1, p2 = (conn.execute("INSERT INTO social.posts (author_id, created_at) VALUES (%s, %s) RETURNING id",
                               (author, INSIDE)).fetchone()[0] for author in u[:2])
        conn.cursor().executemany("INSERT INTO social.likes (user_id, post_id, created_at) VALUES (%s, %s, %s)",
                                  [(u[1], p1, INSIDE), (u[2], p1, INSIDE), (u[0], p2, AFTER_MIDNIGHT)])
        conn.execute("INSERT INTO social.comments (author_id, post_id, created_at) VALUES (%s, %s, %s)",
                     (u[2], p2, INSIDE))
    return {"p1": p1, "p2": p2}


def stored(app_db):
    with psycopg.connect(app_db) as conn:
        return conn.execute("SELECT new_posts, new_comments, new_likes, new_users, active_users, top_posts, "
                            "computed_at, xmin::text FROM social.daily_content_analytics WHERE day = %s",
                            (DAY,)).fetchone()


def test_writes_the_days_row_and_a_rerun_keeps_it(repo_dags, app_db, activity):
    dag = repo_dags["social_generate_content_analytics"]
    run = run_dag(dag, T)
    assert run.state == "success", task_states(run)
    top = [{"post_id": activity["p1"], "likes": 2, "comments": 0},
           {"post_id": activity["p2"], "likes": 0, "comments": 1}]
    assert task_result(run, "compute_daily_analytics") == {
        "day": DAY.isoformat(), "new_posts": 2, "new_comments": 1, "new_likes": 2, "new_users": 3,
        "active_users": 3, "top_posts": top, "written": True}
    first = stored(app_db)
    assert first[:6] == (2, 1, 2, 3, 3, top)

    rerun = run_dag(dag, T)
    assert rerun.state == "success", task_states(rerun)
    assert task_result(rerun, "compute_daily_analytics")["written"] is False
    assert stored(app_db) == first, "same row, not rewritten"


def test_an_unreachable_database_fails_the_run(repo_dags, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SOCIAL_DB", '{"conn_type": "postgres", "host": "127.0.0.1", '
                       '"port": 1, "login": "postgres", "schema": "nowhere"}')
    run = run_dag(repo_dags["social_generate_content_analytics"], T + timedelta(days=3))
    assert run.state == "failed"
