"""social_update_trending_hashtags end to end with dag.test(): the interval's ranking and the
marks, a rerun writes nothing, a backfill of an older hour leaves the marks on the latest,
a bad setting fails without writing. The app database is shared with other tests: the runs
use hours of 2031, where only this test's hashtag uses are, and assert on its hashtags."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.e2e.conftest import run_dag, task_result, task_states

T = datetime(2031, 5, 5, 10, 0, tzinfo=UTC)  # logical date = the data interval's end
HOUR = timedelta(hours=1)



@pytest.fixture
def tags(app_db) -> dict[str, int]:
    """Three tags of this test: hot (uses 2 h old), warm (24 h), cold (72 h), 3 uses each."""
    suffix = uuid.uuid4().hex[:8]
    ids = {}
    with psycopg.connect(app_db) as conn:
        author = conn.execute("INSERT INTO social.users (email, username) VALUES (%s, %s) RETURNING id",
                              (f"trend_{suffix}@e2e.test", f"trend_{suffix}")).fetchone()[0]
        for name, age in (("hot", 2), ("warm", 24), ("cold", 72)):
            ids[name] = conn.execute("INSERT INTO social.hashtags (tag) VALUES (%s) RETURNING id",
                                     (f"{name}{suffix}",)).fetchone()[0]
            for _ in range(3):
                at = T - timedelta(hours=age)
                post = conn.execute("INSERT INTO social.posts (author_id, created_at) VALUES (%s, %s) RETURNING id",
                                    (author, at)).fetchone()[0]
                conn.execute("INSERT INTO social.post_hashtags VALUES (%s, %s, %s)", (post, ids[name], at))
    return ids


def ranking(app_db, end) -> list[tuple[int, int, float]]:
    with psycopg.connect(app_db) as conn:
        return conn.execute("SELECT rank, hashtag_id, score FROM social.trending_hashtags WHERE interval_end = %s "
                            "ORDER BY rank", (end,)).fetchall()


def marks(app_db, ids) -> dict[int, tuple]:
    with psycopg.connect(app_db) as conn:
        return {r[0]: r[1:] for r in conn.execute(
            "SELECT id, is_trending, trending_rank, trending_updated_at, xmin::text FROM social.hashtags "
            "WHERE id = ANY(%s)", (list(ids),))}


def test_ranks_marks_reruns_and_backfills(repo_dags, app_db, tags, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_SOCIAL_TRENDING_TOP_N", "2")
    dag = repo_dags["social_update_trending_hashtags"]
    run = run_dag(dag, T)
    assert run.state == "success", task_states(run)
    assert task_result(run, "rank_hashtags") == {
        "interval_end": T.isoformat(), "hashtags_scored": 3, "trending": 2, "marked": 2, "unmarked": 0,
        "marks_moved": True}
    rows = ranking(app_db, T)
    assert [(r[0], r[1]) for r in rows] == [(1, tags["hot"]), (2, tags["warm"])]
    assert [r[2] for r in rows] == pytest.approx([3 * 2 ** (-2 / 24), 1.5])
    current = marks(app_db, tags.values())
    assert {i: m[:3] for i, m in current.items()} == {
        tags["hot"]: (True, 1, T), tags["warm"]: (True, 2, T), tags["cold"]: (False, None, None)}

    rerun = run_dag(dag, T)
    assert rerun.state == "success", task_states(rerun)
    assert (task_result(rerun, "rank_hashtags")["marked"], task_result(rerun, "rank_hashtags")["unmarked"]) == (0, 0)
    assert ranking(app_db, T) == rows
    assert marks(app_db, tags.values()) == current, "a rerun rewrites no hashtag row"

    backfill = run_dag(dag, T - HOUR)  # the hour before: cold is 71 h old, hot 1 h, still the same order
    assert backfill.state == "success", task_states(backfill)
    assert task_result(backfill, "rank_hashtags")["marks_moved"] is False
    assert [r[1] for r in ranking(app_db, T - HOUR)] == [tags["hot"], tags["warm"]]
    assert marks(app_db, tags.values()) == current, "the marks stay on the latest interval"


def test_a_bad_setting_fails_and_writes_nothing(repo_dags, app_db, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_SOCIAL_TRENDING_MIN_USES", "0")
    later = T + 24 * HOUR
    run = run_dag(repo_dags["social_update_trending_hashtags"], later)
    assert run.state == "failed"
    assert ranking(app_db, later) == []
