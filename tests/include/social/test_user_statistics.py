"""User counters against a real PostgreSQL: a small follow graph whose counts are known."""

from __future__ import annotations

import psycopg
import pytest

from include.common.time_budget import SoftTimeLimitExceeded
from include.social.user_statistics import update_user_statistics
from tests.budgets import ScriptedBudget


@pytest.fixture
def conn(social_db):
    with psycopg.connect(social_db) as conn:
        # job_state too: each test starts before the first full run
        conn.execute("TRUNCATE social.users, social.job_state, social.stats_dirty_users RESTART IDENTITY CASCADE")
        conn.commit()
        yield conn


def users(conn, *ids_and_counts) -> None:
    """Users with explicit ids and (followers, following, posts) counters as stored."""
    conn.cursor().executemany(
        "INSERT INTO social.users (id, email, username, followers_count, following_count, posts_count) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        [(uid, f"u{uid}@example.test", f"u{uid}", *counts) for uid, counts in ids_and_counts])


def follow(conn, *pairs) -> None:
    conn.cursor().executemany("INSERT INTO social.follows (follower_id, followee_id) VALUES (%s, %s)", pairs)


def post(conn, author, n=1) -> None:
    conn.execute("INSERT INTO social.posts (author_id) SELECT %s FROM generate_series(1, %s)", (author, n))


def counters(conn) -> dict[int, tuple[int, int, int]]:
    rows = conn.execute("SELECT id, followers_count, following_count, posts_count FROM social.users ORDER BY id")
    return {r[0]: tuple(r[1:]) for r in rows}


def graph(conn) -> None:
    """1 -> 2, 1 -> 3, 2 -> 3, 3 -> 1; user 1 posts twice, user 3 once; user 50 does nothing.
    User 2's stored counters are already right; 50's are stale."""
    users(conn, (1, (0, 0, 0)), (2, (1, 1, 0)), (3, (0, 0, 0)), (50, (5, 5, 5)))
    follow(conn, (1, 2), (1, 3), (2, 3), (3, 1))
    post(conn, 1, 2)
    post(conn, 3, 1)
    conn.commit()


EXPECTED = {1: (1, 2, 2), 2: (1, 1, 0), 3: (2, 1, 1), 50: (0, 0, 0)}


def test_counts_every_user_and_writes_only_the_changed_rows(conn):
    graph(conn)
    assert update_user_statistics(conn) == {"users_scanned": 4, "users_updated": 3, "batches": 1}
    assert counters(conn) == EXPECTED
    xmins = conn.execute("SELECT array_agg(xmin::text ORDER BY id) FROM social.users").fetchone()
    assert update_user_statistics(conn, full=True) == {"users_scanned": 4, "users_updated": 0, "batches": 1}
    assert update_user_statistics(conn) == {"users_scanned": 0, "users_updated": 0, "batches": 1}, "nothing marked"
    assert conn.execute("SELECT array_agg(xmin::text ORDER BY id) FROM social.users").fetchone() == xmins, \
        "a rerun writes no row"


def test_key_range_batches_give_the_same_counts(conn):
    graph(conn)
    # ids 1..50 in ranges of 2: [1,3) [3,5) ... [49,51): 25 ranges, most of them empty.
    assert update_user_statistics(conn, batch_size=2) == {"users_scanned": 4, "users_updated": 3, "batches": 25}
    assert counters(conn) == EXPECTED


def test_follows_across_ranges_are_counted_on_both_sides(conn):
    users(conn, *((uid, (0, 0, 0)) for uid in range(1, 11)))
    follow(conn, *((uid, 10) for uid in range(1, 10)), (10, 1))  # everyone follows 10, who follows 1
    conn.commit()
    update_user_statistics(conn, batch_size=3)
    result = counters(conn)
    assert result[10] == (9, 1, 0)
    assert result[1] == (1, 1, 0)
    assert all(result[uid] == (0, 1, 0) for uid in range(2, 10))


def test_no_users_is_no_work(conn):
    assert update_user_statistics(conn) == {"users_scanned": 0, "users_updated": 0, "batches": 0}


def test_soft_time_limit_keeps_finished_ranges(conn):
    graph(conn)
    budget = ScriptedBudget([True, False])
    with pytest.raises(SoftTimeLimitExceeded, match="^soft time limit: 1 of 25 batches done, rerun continues; "):
        update_user_statistics(conn, batch_size=2, budget=budget)
    with psycopg.connect(conn.info.dsn) as other:
        rows = other.execute("SELECT id, followers_count, following_count, posts_count FROM social.users ORDER BY id")
        seen = {r[0]: tuple(r[1:]) for r in rows}
    assert seen == {1: EXPECTED[1], 2: EXPECTED[2], 3: (0, 0, 0), 50: (5, 5, 5)}, "only range [1, 3) was done"


def test_bad_batch_size_is_rejected(conn):
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        update_user_statistics(conn, batch_size=0)


def test_rerun_recounts_only_the_users_touched_and_catches_deletions(conn):
    graph(conn)
    update_user_statistics(conn, full=True)
    assert conn.execute("SELECT count(*) FROM social.stats_dirty_users").fetchone()[0] == 0, "the marks are drained"
    # Deletions leave no created_at behind: the triggers mark both sides of the follow and the author.
    conn.execute("DELETE FROM social.follows WHERE follower_id = 1 AND followee_id = 3")
    conn.execute("DELETE FROM social.posts WHERE id = (SELECT min(id) FROM social.posts WHERE author_id = 1)")
    follow(conn, (50, 1))
    # A counter corrupted behind the job's back, on a user nobody touched: an incremental run
    # does not look at it (which shows it recounts only the marked users), a full run does.
    conn.execute("UPDATE social.users SET posts_count = 7 WHERE id = 2")
    conn.commit()
    result = update_user_statistics(conn)
    assert result == {"users_scanned": 3, "users_updated": 3, "batches": 1}, "users 1, 3 and 50 were marked"
    assert counters(conn) == {1: (2, 1, 1), 2: (1, 1, 7), 3: (1, 1, 1), 50: (0, 1, 0)}
    assert update_user_statistics(conn, full=True)["users_updated"] == 1
    assert counters(conn) == {1: (2, 1, 1), 2: (1, 1, 0), 3: (1, 1, 1), 50: (0, 1, 0)}


def test_a_stopped_incremental_run_keeps_the_marks_of_the_ranges_not_done(conn):
    graph(conn)
    update_user_statistics(conn, full=True)
    follow(conn, (2, 1), (50, 3))
    conn.commit()
    budget = ScriptedBudget([True, False])
    with pytest.raises(SoftTimeLimitExceeded):
        update_user_statistics(conn, batch_size=2, budget=budget)
    marked = {r[0] for r in conn.execute("SELECT user_id FROM social.stats_dirty_users")}
    assert marked == {3, 50}, "range [1, 3) is drained, the rest waits for the rerun"
    update_user_statistics(conn)
    assert counters(conn) == {1: (2, 2, 2), 2: (1, 2, 0), 3: (3, 1, 1), 50: (0, 1, 0)}


def test_a_mark_recounts_only_the_counters_its_change_can_move(conn):
    graph(conn)
    update_user_statistics(conn, full=True)
    conn.execute("UPDATE social.users SET followers_count = 40 WHERE id = 3")  # by hand: not marked
    post(conn, 3)
    follow(conn, (50, 2))
    conn.commit()
    kinds = set(conn.execute("SELECT user_id, counter FROM social.stats_dirty_users").fetchall())
    assert kinds == {(3, "posts"), (50, "following"), (2, "followers")}
    assert update_user_statistics(conn) == {"users_scanned": 3, "users_updated": 3, "batches": 1}
    assert counters(conn) == {1: (1, 2, 2), 2: (2, 1, 0), 3: (40, 1, 2), 50: (0, 1, 0)}, \
        "user 3's posts were recounted, its followers (moved by no change) were not"
