"""Engagement scores against a real PostgreSQL, with posts whose scores are worked out by hand:
score = (likes + 3 * comments) / (age_hours + 2) ** 1.5 at the interval's end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from include.common.time_budget import SoftTimeLimitExceeded
from include.social.engagement import engagement_score, update_engagement_scores
from tests.budgets import ScriptedBudget

T = datetime(2026, 6, 1, 5, 0, tzinfo=UTC)  # the data interval's end
H = timedelta(hours=1)
D = timedelta(days=1)


@pytest.fixture
def conn(social_db):
    with psycopg.connect(social_db) as conn:
        # the scores have no foreign key to the posts (migration 0006): emptied by name
        conn.execute("TRUNCATE social.users, social.post_engagement_scores RESTART IDENTITY CASCADE")
        conn.execute("INSERT INTO social.users (email, username) "
                     "SELECT 'u' || i || '@example.test', 'u' || i FROM generate_series(1, 10) i")
        conn.commit()
        yield conn


def post(conn, created_at, *, likes=(), comments=()) -> int:
    """A post by user 1; `likes` and `comments` are the created_at of each (likes by users 2..)."""
    post_id = conn.execute("INSERT INTO social.posts (author_id, created_at) VALUES (1, %s) RETURNING id",
                           (created_at,)).fetchone()[0]
    for user_id, at in enumerate(likes, start=2):
        conn.execute("INSERT INTO social.likes (user_id, post_id, created_at) VALUES (%s, %s, %s)",
                     (user_id, post_id, at))
    for at in comments:
        conn.execute("INSERT INTO social.comments (post_id, author_id, created_at) VALUES (%s, 2, %s)",
                     (post_id, at))
    return post_id


def scores(conn) -> dict[int, tuple[float, int, int, datetime]]:
    rows = conn.execute("SELECT post_id, score, likes, comments, computed_for FROM social.post_engagement_scores")
    return {r[0]: tuple(r[1:]) for r in rows}


def test_the_formula_by_hand():
    assert engagement_score(4, 2, 7) == 0.37037037  # 10 / 9 ** 1.5 = 10 / 27
    assert engagement_score(1, 0, 2) == 0.125  # 1 / 4 ** 1.5
    assert engagement_score(0, 0, 0) == 0.0


def test_scores_the_window_at_the_interval_end_and_drops_older_rows(conn):
    # 4 likes and 2 comments before the end; the like at T + 1h and the comment at T + 2h are after it
    p1 = post(conn, T - 7 * H, likes=[T - 6 * H] * 4 + [T + H], comments=[T - 5 * H, T - H, T + 2 * H])
    p2 = post(conn, T - 2 * H, likes=[T - H])
    p3 = post(conn, T - 10 * D)  # no engagement: score 0
    edge = post(conn, T - 30 * D, comments=[T - 29 * D])  # exactly at the window's start: in
    old = post(conn, T - 30 * D - timedelta(seconds=1), likes=[T - 20 * D])  # just out
    future = post(conn, T + H, likes=[T + 2 * H])  # created after the end: not scored
    conn.execute("INSERT INTO social.post_engagement_scores (post_id, score, likes, comments, computed_for) "
                  "VALUES (%s, 0.5, 1, 0, %s)", (old, T - D))
    conn.commit()

    result = update_engagement_scores(conn, T)

    assert result == {"posts_scanned": 4, "scores_written": 4, "scores_removed": 1, "batches": 2}
    assert scores(conn) == {
        p1: (0.37037037, 4, 2, T),  # (4 + 3 * 2) / (7 + 2) ** 1.5 = 10 / 27
        p2: (0.125, 1, 0, T),
        p3: (0.0, 0, 0, T),
        edge: (engagement_score(0, 1, 720), 0, 1, T),
    }
    assert scores(conn)[edge][0] == pytest.approx(3 / 722 ** 1.5, abs=1e-9)
    assert future not in scores(conn)


def test_rerun_writes_nothing_and_a_change_writes_one_row(conn):
    post(conn, T - 7 * H, likes=[T - 6 * H] * 4, comments=[T - 5 * H] * 2)
    p2 = post(conn, T - 2 * H, likes=[T - H])
    post(conn, T - 10 * D)
    conn.commit()
    update_engagement_scores(conn, T)
    xmins = conn.execute("SELECT array_agg(xmin::text ORDER BY post_id) FROM social.post_engagement_scores").fetchone()

    assert update_engagement_scores(conn, T) == {"posts_scanned": 0, "scores_written": 0, "scores_removed": 0,
                                                 "batches": 1}, "nothing marked since: nothing rescored"
    assert update_engagement_scores(conn, T, full=True) == {"posts_scanned": 3, "scores_written": 0,
                                                            "scores_removed": 0, "batches": 1}
    assert conn.execute("SELECT array_agg(xmin::text ORDER BY post_id) "
                        "FROM social.post_engagement_scores").fetchone() == xmins, "a rerun writes no row"

    conn.execute("INSERT INTO social.likes (user_id, post_id, created_at) VALUES (9, %s, %s)", (p2, T - H))
    conn.commit()
    assert update_engagement_scores(conn, T)["scores_written"] == 1
    assert scores(conn)[p2] == (0.25, 2, 0, T)  # 2 / 8


def test_next_day_rescores_decayed_posts_and_a_backfill_does_not_go_back(conn):
    liked = post(conn, T - 7 * H, likes=[T - 6 * H, T + H])
    quiet = post(conn, T - 10 * D)
    leaving = post(conn, T - 30 * D + H, likes=[T - 29 * D])  # in the window at T, out of it at T + 1d
    conn.commit()
    update_engagement_scores(conn, T)

    result = update_engagement_scores(conn, T + D)
    assert result == {"posts_scanned": 2, "scores_written": 1, "scores_removed": 1, "batches": 2}
    assert scores(conn)[liked] == (engagement_score(2, 0, 31), 2, 0, T + D)
    assert scores(conn)[quiet] == (0.0, 0, 0, T), "a zero score does not decay: the row is not rewritten"
    assert leaving not in scores(conn)

    backfill = update_engagement_scores(conn, T)
    assert backfill["scores_written"] == 1, "only the row removed by the later run comes back"
    assert scores(conn)[liked] == (engagement_score(2, 0, 31), 2, 0, T + D), "the later score stays"


def test_key_range_batches_give_the_same_rows(conn):
    for i in range(7):
        post(conn, T - (i + 1) * D, likes=[T - H] * (i % 3), comments=[T - H] * (i % 2))
    conn.commit()
    one = update_engagement_scores(conn, T)
    expected = scores(conn)
    conn.execute("TRUNCATE social.post_engagement_scores")
    conn.commit()

    batched = update_engagement_scores(conn, T, batch_size=2)
    assert batched == {"posts_scanned": 7, "scores_written": 7, "scores_removed": 0, "batches": 4}
    assert one["scores_written"] == 7 and scores(conn) == expected


def test_removal_goes_in_bounded_batches(conn):
    old = [post(conn, T - 60 * D) for _ in range(5)]
    conn.cursor().executemany("INSERT INTO social.post_engagement_scores (post_id, score, likes, comments, "
                              "computed_for) VALUES (%s, 0, 0, 0, %s)", [(p, T - 40 * D) for p in old])
    conn.commit()
    result = update_engagement_scores(conn, T, delete_batch_size=2)
    assert result == {"posts_scanned": 0, "scores_written": 0, "scores_removed": 5, "batches": 3}
    assert scores(conn) == {}


def test_soft_time_limit_keeps_finished_ranges(conn):
    ids = [post(conn, T - (i + 1) * D, likes=[T - H]) for i in range(4)]
    conn.commit()
    budget = ScriptedBudget([True, False])
    with pytest.raises(SoftTimeLimitExceeded, match="^soft time limit: 1 batches done, rerun continues; ") as err:
        update_engagement_scores(conn, T, batch_size=2, budget=budget)
    assert [err.value.result] == [{"posts_scanned": 2, "scores_written": 2, "scores_removed": 0, "batches": 1}]
    with psycopg.connect(conn.info.dsn) as other:
        done = {r[0] for r in other.execute("SELECT post_id FROM social.post_engagement_scores")}
    assert done == set(ids[:2])
    assert update_engagement_scores(conn, T)["scores_written"] == 2, "the rerun does the rest"


@pytest.mark.parametrize("kwargs, message", [
    ({"interval_end": T.replace(tzinfo=None)}, "timezone-aware"),
    ({"window_days": 0}, "window_days must be a positive integer, got 0"),
    ({"window_days": "30"}, "window_days must be a positive integer, got '30'"),
    ({"batch_size": -1}, "batch_size must be a positive integer, got -1"),
])
def test_bad_arguments_are_rejected(conn, kwargs, message):
    args = {"interval_end": T} | kwargs
    with pytest.raises(ValueError, match=message):
        update_engagement_scores(conn, args.pop("interval_end"), **args)


def test_a_rerun_for_the_same_end_recounts_only_the_posts_that_changed(conn):
    quiet = post(conn, T - 3 * H, likes=[T - 2 * H])
    liked = post(conn, T - 7 * H, likes=[T - 6 * H] * 4, comments=[T - 5 * H] * 2)
    conn.commit()
    update_engagement_scores(conn, T, full=True)
    # A row corrupted behind the job's back on a post nobody touched: a rerun for the same end
    # skips the post (which shows it recounts only marked posts), a full run repairs it.
    conn.execute("UPDATE social.post_engagement_scores SET score = 99 WHERE post_id = %s", (quiet,))
    conn.execute("DELETE FROM social.comments WHERE post_id = %s AND id = (SELECT min(id) FROM social.comments "
                 "WHERE post_id = %s)", (liked, liked))  # a deletion is caught too
    fresh = post(conn, T - H)
    conn.commit()
    result = update_engagement_scores(conn, T)
    assert result == {"posts_scanned": 2, "scores_written": 2, "scores_removed": 0, "batches": 1}, "liked and fresh"
    assert scores(conn)[liked] == (engagement_score(4, 1, 7), 4, 1, T)
    assert scores(conn)[fresh] == (0.0, 0, 0, T)
    assert scores(conn)[quiet][0] == 99
    assert conn.execute("SELECT count(*) FROM social.engagement_dirty_posts").fetchone()[0] == 0

    assert update_engagement_scores(conn, T, full=True)["scores_written"] == 1
    assert scores(conn)[quiet] == (engagement_score(1, 0, 3), 1, 0, T)


def test_another_interval_end_rescores_the_whole_window(conn):
    liked = post(conn, T - 7 * H, likes=[T - 6 * H])
    update_engagement_scores(conn, T)
    conn.execute("UPDATE social.post_engagement_scores SET score = 99 WHERE post_id = %s", (liked,))
    conn.commit()
    assert update_engagement_scores(conn, T + H)["scores_written"] == 1, "the ages changed: all recounted"
    assert scores(conn)[liked] == (engagement_score(1, 0, 8), 1, 0, T + H)


def test_a_deleted_post_takes_its_score_along(conn):
    gone, kept = post(conn, T - 3 * H, likes=[T - 2 * H]), post(conn, T - 4 * H)
    conn.commit()
    update_engagement_scores(conn, T)
    conn.execute("DELETE FROM social.posts WHERE id = %s", (gone,))  # the posts' delete trigger (migration 0006)
    conn.commit()
    assert set(scores(conn)) == {kept}


def test_a_score_whose_post_is_gone_is_removed_with_the_old_rows(conn):
    # A score written while its post was being deleted (no foreign key checks it): the next run drops it.
    kept = post(conn, T - 3 * H)
    conn.execute("INSERT INTO social.post_engagement_scores (post_id, score, likes, comments, computed_for) "
                 "VALUES (%s, 1, 1, 0, %s)", (kept + 1000, T - D))
    conn.commit()
    result = update_engagement_scores(conn, T)
    assert result["scores_removed"] == 1 and set(scores(conn)) == {kept}


def test_a_rerun_drops_the_marks_of_posts_outside_the_window(conn):
    recent, ancient = post(conn, T - 3 * H), post(conn, T - 400 * D)
    conn.commit()
    update_engagement_scores(conn, T)
    conn.execute("INSERT INTO social.likes (user_id, post_id, created_at) VALUES (2, %s, %s), (3, %s, %s)",
                 (ancient, T - H, recent, T - H))
    conn.commit()
    marked = dict(conn.execute("SELECT post_id, post_created_at FROM social.engagement_dirty_posts").fetchall())
    assert marked == {ancient: T - 400 * D, recent: T - 3 * H}, "the triggers note each post's creation"
    result = update_engagement_scores(conn, T)
    assert result == {"posts_scanned": 1, "scores_written": 1, "scores_removed": 0, "batches": 1}
    assert set(scores(conn)) == {recent}
    assert conn.execute("SELECT count(*) FROM social.engagement_dirty_posts").fetchone()[0] == 0
