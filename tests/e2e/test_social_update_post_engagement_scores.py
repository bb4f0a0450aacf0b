"""social_update_post_engagement_scores end to end with dag.test(): this test's posts get the
documented score at the interval's end, a rerun of the interval writes 0 rows, the next day
rescores and drops posts that left the window, a bad setting fails without retries, a bad
--conf is rejected naming the field. The app database is shared with other tests: only this
test's rows are asserted on (and the job's rerun count, which is 0 for everyone's rows)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from include.social.engagement import engagement_score
from tests.e2e.conftest import run_dag, task_result, task_states

T = datetime(2026, 7, 3, 5, 0, tzinfo=UTC)  # logical date = the data interval's end
H, DAY = timedelta(hours=1), timedelta(days=1)



@pytest.fixture
def posts(app_db) -> dict[str, int]:
    """A fresh post with 4 likes and 2 comments, a quiet one, and one that leaves the window
    a day later; the likes come from four users of the test's own."""
    tag = uuid.uuid4().hex[:10]
    with psycopg.connect(app_db) as conn:
        users = [conn.execute("INSERT INTO social.users (email, username) VALUES (%s, %s) RETURNING id",
                              (f"eng_{n}_{tag}@e2e.test", f"eng_{n}_{tag}")).fetchone()[0] for n in range(4)]

        def post(created_at):
            return conn.execute("INSERT INTO social.posts (author_id, created_at) VALUES (%s, %s) RETURNING id",
                                (users[0], created_at)).fetchone()[0]

        made = {"hot": post(T - 7 * H), "quiet": post(T - 3 * DAY), "leaving": post(T - 30 * DAY + H)}
        conn.cursor().executemany("INSERT INTO social.likes (user_id, post_id, created_at) VALUES (%s, %s, %s)",
                                  [(u, made["hot"], T - 6 * H) for u in users] + [(users[1], made["leaving"], T - DAY)])
        conn.cursor().executemany("INSERT INTO social.comments (post_id, author_id, created_at) VALUES (%s, %s, %s)",
                                  [(made["hot"], users[1], T - 5 * H)] * 2)
    return made


def scores(app_db, posts) -> dict[str, tuple]:
    names = {v: k for k, v in posts.items()}
    with psycopg.connect(app_db) as conn:
        rows = conn.execute("SELECT post_id, score, likes, comments, computed_for, xmin::text "
                            "FROM social.post_engagement_scores WHERE post_id = ANY(%s)", (list(names),))
        return {names[r[0]]: r[1:] for r in rows}


def test_scores_at_the_interval_end_rerun_writes_nothing_next_day_moves_on(repo_dags, app_db, posts):
    dag = repo_dags["social_update_post_engagement_scores"]
    run = run_dag(dag, T)
    assert run.state == "success", task_states(run)
    first = scores(app_db, posts)
    assert {k: v[:4] for k, v in first.items()} == {
        "hot": (0.37037037, 4, 2, T),  # (4 + 3 * 2) / (7 + 2) ** 1.5
        "quiet": (0.0, 0, 0, T),
        "leaving": (engagement_score(1, 0, 30 * 24 - 1), 1, 0, T),
    }

    rerun = run_dag(dag, T)
    assert rerun.state == "success", task_states(rerun)
    result = task_result(rerun, "update_scores")
    assert result["scores_written"] == 0 and result["scores_removed"] == 0
    assert scores(app_db, posts) == first, "same rows, same row versions"

    next_day = run_dag(dag, T + DAY)
    assert next_day.state == "success", task_states(next_day)
    later = scores(app_db, posts)
    assert set(later) == {"hot", "quiet"}, "the post older than 30 days left the table"
    assert later["hot"][:4] == (engagement_score(4, 2, 31), 4, 2, T + DAY)
    assert later["quiet"] == first["quiet"], "a zero score does not decay: not rewritten"


def test_a_bad_window_setting_fails_at_once_and_writes_nothing(repo_dags, app_db, posts, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_SOCIAL_ENGAGEMENT_WINDOW_DAYS", '"thirty"')
    dag = repo_dags["social_update_post_engagement_scores"]
    for task in dag.tasks:  # retries left on, without a delay: a retry would show as try 2
        task.retries, task.retry_delay = 3, timedelta(0)
    dag.deadline = None
    run = dag.test(logical_date=T + 2 * DAY)
    assert run.state == "failed"
    [ti] = run.get_task_instances()
    assert ti.state == "failed" and ti.try_number == 1
    assert scores(app_db, posts) == {}


def test_bad_conf_is_rejected_naming_the_field(repo_dags):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="full"):
        repo_dags["social_update_post_engagement_scores"].test(logical_date=T, run_conf={"full": 1})
