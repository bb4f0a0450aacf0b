"""videos_ml_predictions end to end with dag.test(): the interval's day D gets a prediction
row per tracked video of this test (model for a long history, the marked baseline for a
short one), computed from the stats up to D-1; a rerun changes nothing; a bad variable fails
the run before anything is written."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from include.videos.predictions import BASELINE_VERSION, model_version
from tests.e2e.conftest import run_dag, task_states

LOGICAL = datetime(2026, 3, 17, 0, 0, tzinfo=UTC)  # the run of [2026-03-16, 2026-03-17)
D = date(2026, 3, 16)  # a Monday
WEEKLY = (0.7, 0.8, 0.9, 1.0, 1.1, 1.6, 1.9)


@pytest.fixture
def my_videos(app_db):
    """A creator of this test only with a long weekly history, a short one, a failed video."""
    tag = secrets.token_hex(4)
    with psycopg.connect(app_db) as conn:
        (creator,) = conn.execute(
            "INSERT INTO videos.creators (name, email, channel_id) VALUES (%s, %s, %s) RETURNING id",
            (f"e2e {tag}", f"e2e-pred-{tag}@example.com", f"UCpred{tag}".ljust(24, "x"))).fetchone()
        long, short, failed = (conn.execute(
            "INSERT INTO videos.videos (creator_id, platform_id, title, status, published_at) "
            "VALUES (%s, %s, 'e2e', %s, '2025-01-01') RETURNING id", (creator, f"pred-{tag}-{n}", status)
        ).fetchone()[0] for n, status in enumerate(("success", "success", "failed")))
        conn.execute("""
            INSERT INTO videos.daily_stats (video_id, day, views, likes, comments, shares, watch_minutes)
            SELECT v, d::date, round(1000 * (%s::float8[])[extract(isodow FROM d)::int] * (1 + 0.002 * n)), 0, 0, 0, 0
              FROM unnest(%s::bigint[]) v,
                   generate_series(%s::date - 150, %s::date, '1 day') WITH ORDINALITY AS g(d, n)""",
            (list(WEEKLY), [long, failed], D, D))  # including D itself, which is not history yet
        conn.execute("""
            INSERT INTO videos.daily_stats (video_id, day, views, likes, comments, shares, watch_minutes)
            SELECT %s, %s::date - n, 10 * n, 0, 0, 0, 0 FROM generate_series(1, 10) n""", (short, D))
    yield {"long": long, "short": short, "failed": failed}
    with psycopg.connect(app_db) as conn:
        conn.execute("DELETE FROM videos.creators WHERE id = %s", (creator,))


def rows(app_db, ids) -> dict[int, tuple]:
    with psycopg.connect(app_db) as conn:
        return {r[0]: r[1:] for r in conn.execute(
            """SELECT video_id, method, model_version, predicted_views, backtest_mae, baseline_mae,
                      xmin::text, created_at
                 FROM videos.predictions WHERE made_for = %s AND video_id = ANY(%s)""", (D, list(ids)))}


def test_predictions_for_the_day_and_a_rerun_changes_nothing(repo_dags, app_db, my_videos):
    dag = repo_dags["videos_ml_predictions"]
    run = run_dag(dag, LOGICAL)
    assert run.state == "success", task_states(run)
    first = rows(app_db, my_videos.values())
    assert set(first) == {my_videos["long"], my_videos["short"]}

    method, version, views, backtest_mae, baseline_mae, _, _ = first[my_videos["long"]]
    assert (method, version) == ("model", model_version())
    assert len(views) == 7 and min(views) > 0
    assert backtest_mae < baseline_mae  # the weekly shape is learnt, the flat mean misses it
    # The weekend of D+5, D+6 (Saturday, Sunday) above the week's start.
    assert D.weekday() == 0 and min(views[5:]) > max(views[:3])

    # 10 days, 10 * n views on D-n: the mean of D-7..D-1 is 40; the backtest baseline (the
    # mean of the known D-10..D-8, 90) misses the actual 70..10 by 20..80: MAE 50.
    assert first[my_videos["short"]][:5] == ("baseline", BASELINE_VERSION, [40] * 7, None, 50.0)

    rerun = run_dag(dag, LOGICAL)
    assert rerun.state == "success", task_states(rerun)
    assert rows(app_db, my_videos.values()) == first  # same values, same row versions


def test_a_bad_min_history_fails_the_run_before_writing(repo_dags, app_db, my_videos, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_VIDEOS_MIN_HISTORY_DAYS", "3")
    run = run_dag(repo_dags["videos_ml_predictions"], LOGICAL + timedelta(days=1))
    assert task_states(run) == {"predict_views": "failed"}
    with psycopg.connect(app_db) as conn:
        assert conn.execute("SELECT count(*) FROM videos.predictions WHERE made_for = %s",
                            (D + timedelta(days=1),)).fetchone()[0] == 0
