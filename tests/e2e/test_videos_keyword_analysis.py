"""videos_keyword_analysis end to end with dag.test(): the keywords of this test's videos and
the performance of their keywords for the interval's day; a rerun changes nothing; a bad
variable fails the run."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from tests.e2e.conftest import run_dag, task_states

LOGICAL = datetime(2026, 4, 21, 2, 0, tzinfo=UTC)  # the run of [2026-04-20 02:00, 2026-04-21 02:00)
D = date(2026, 4, 20)


@pytest.fixture
def my_videos(app_db):
    """An English and a Chinese video sharing a tag unique to this test, and a failed one."""
    tag = secrets.token_hex(4)
    shared = f"kw{tag}"
    with psycopg.connect(app_db) as conn:
        (creator,) = conn.execute(
            "INSERT INTO videos.creators (name, email, channel_id) VALUES (%s, %s, %s) RETURNING id",
            (f"e2e {tag}", f"e2e-kw-{tag}@example.com", f"UCkw{tag}".ljust(24, "x"))).fetchone()
        videos = {}
        for name, title, description, language, status in (
                ("en", "Crispy Sourdough Bread Recipe", "A sourdough bread with a crispy crust.", "en", "success"),
                ("zh", "红烧肉的家常做法", "教你做好吃的红烧肉，家常菜教程。", "zh", "success"),
                ("failed", "Crispy Sourdough Bread Recipe", "", "en", "failed")):
            (videos[name],) = conn.execute(
                "INSERT INTO videos.videos (creator_id, platform_id, title, description, tags, language, status,"
                " published_at) VALUES (%s, %s, %s, %s, %s, %s, %s, '2026-01-01') RETURNING id",
                (creator, f"kw-{tag}-{name}", title, description, [shared], language, status)).fetchone()
        # en: 100 a day over D-13..D (so 700 vs 700: trend 0); zh: 300 a day over D-6..D only.
        conn.execute("""
            INSERT INTO videos.daily_stats (video_id, day, views, likes, comments, shares, watch_minutes)
            SELECT v, d::date, views, 0, 0, 0, 0
              FROM (VALUES (%s::bigint, 100, 13), (%s::bigint, 300, 6), (%s::bigint, 5000, 13)) AS x(v, views, back),
                   generate_series(%s::date - back, %s::date, '1 day') d""",
            (videos["en"], videos["zh"], videos["failed"], D, D))
    yield videos, shared
    with psycopg.connect(app_db) as conn:
        conn.execute("DELETE FROM videos.creators WHERE id = %s", (creator,))


def snapshot(app_db, videos: dict, shared: str) -> tuple[list, list]:
    with psycopg.connect(app_db) as conn:
        keywords = conn.execute(
            """SELECT video_id, rank, keyword, score, computed_for, xmin::text FROM videos.video_keywords
                WHERE video_id = ANY(%s) ORDER BY 1, 2""", (list(videos.values()),)).fetchall()
        performance = conn.execute(
            """SELECT keyword, computed_for, videos, mean_views, trend, xmin::text FROM videos.keyword_performance
                WHERE keyword = %s ORDER BY 2""", (shared,)).fetchall()
    return keywords, performance


def test_keywords_and_performance_of_the_day_and_a_rerun_changes_nothing(repo_dags, app_db, my_videos):
    videos, shared = my_videos
    dag = repo_dags["videos_keyword_analysis"]
    run = run_dag(dag, LOGICAL)
    assert run.state == "success", task_states(run)
    keywords, performance = snapshot(app_db, videos, shared)

    by_video: dict[int, list[str]] = {}
    for video_id, _, keyword, _, computed_for, _ in keywords:
        assert computed_for == D
        by_video.setdefault(video_id, []).append(keyword)
    assert set(by_video) == {videos["en"], videos["zh"]}
    assert 1 < len(by_video[videos["en"]]) <= 10 and {"sourdough bread", shared} <= set(by_video[videos["en"]])
    assert by_video[videos["zh"]][0] == "红烧肉" and {"家常菜", shared} <= set(by_video[videos["zh"]])
    # Two videos; 7 days of 100 and 7 of 300 in D-6..D: mean 200; 700 + 2100 vs 700 before.
    [(_, day, count, mean_views, trend, _)] = performance
    assert (day, count, mean_views, trend) == (D, 2, 200.0, (2800 - 700) / 700)

    rerun = run_dag(dag, LOGICAL)
    assert rerun.state == "success", task_states(rerun)
    assert snapshot(app_db, videos, shared) == (keywords, performance)  # same rows, not rewritten


def test_a_bad_top_k_fails_the_run(repo_dags, app_db, my_videos, monkeypatch):
    videos, _ = my_videos
    monkeypatch.setenv("AIRFLOW_VAR_VIDEOS_TOP_KEYWORDS", "0")
    run = run_dag(repo_dags["videos_keyword_analysis"], LOGICAL + timedelta(days=1))
    assert task_states(run) == {"analyse_keywords": "failed"}
    with psycopg.connect(app_db) as conn:
        assert conn.execute("SELECT count(*) FROM videos.video_keywords WHERE video_id = ANY(%s) "
                            "AND computed_for > %s", (list(videos.values()), D)).fetchone()[0] == 0
