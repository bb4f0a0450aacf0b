"""The social demo data: exact counts, skew, time shape, determinism and idempotence of the
seed, and the schema left exactly as the migration made it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from include.demo import seed as demo_seed
from include.demo import social_seed
from include.demo.social_seed import DEMO_SIZES, generate, truncate

NOW = datetime(2026, 3, 2, tzinfo=UTC)
SMALL = {"users": 400, "follows": 6_000, "posts": 2_000, "comments": 3_000, "likes": 8_000, "hashtags": 120,
         "hashtag_links": 5_000}
TABLE_ROWS = {"users": 400, "auth_tokens": 800, "sessions": 400, "follows": 6_000, "posts": 2_000, "comments": 3_000,
              "likes": 8_000, "hashtags": 120, "post_hashtags": 5_000}


@pytest.fixture
def conn(social_db):
    with psycopg.connect(social_db) as conn:
        truncate(conn)
        conn.commit()
        yield conn


def fingerprints(conn) -> dict[str, str]:
    """An md5 of every row of every generated table."""
    return {t: conn.execute(f"SELECT md5(coalesce(string_agg(x::text, ';' ORDER BY x::text), '')) FROM social.{t} x")
            .fetchone()[0] for t in social_seed.GENERATED_TABLES}


def counts(conn) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM social.{t}").fetchone()[0] for t in social_seed.GENERATED_TABLES}


def schema(conn) -> set[tuple[str, str]]:
    rows = conn.execute("""
        SELECT conrelid::regclass::text, conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
         WHERE connamespace = 'social'::regnamespace
        UNION ALL
        SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'social'""").fetchall()
    return set(rows)


def test_generate_gives_exact_counts_and_keeps_the_schema(conn):
    before = schema(conn)
    result = generate(conn, **SMALL, now=NOW)
    conn.commit()
    assert result == TABLE_ROWS
    assert counts(conn) == TABLE_ROWS
    assert schema(conn) == before
    validated = conn.execute("SELECT bool_and(convalidated) FROM pg_constraint "
                             "WHERE connamespace = 'social'::regnamespace").fetchone()[0]
    assert validated
    # the identities continue after the generated ids
    new_id = conn.execute("INSERT INTO social.users (email, username) VALUES ('new@example.com', 'new') "
                          "RETURNING id").fetchone()[0]
    assert new_id == SMALL["users"] + 1
    conn.rollback()


def test_skew_a_few_popular_accounts_and_tags(conn):
    generate(conn, **SMALL, now=NOW)
    top_1pct_share = conn.execute("""
        SELECT sum(n)::float / (SELECT count(*) FROM social.follows)
          FROM (SELECT count(*) AS n FROM social.follows GROUP BY followee_id ORDER BY n DESC LIMIT 4) t"""
                                  ).fetchone()[0]
    assert top_1pct_share > 0.08  # 1% of the accounts (4 of 400) have 8x their share of followers
    top_tag, median_tag = conn.execute("""
        SELECT max(n), percentile_cont(0.5) WITHIN GROUP (ORDER BY n)
          FROM (SELECT count(*) AS n FROM social.post_hashtags GROUP BY hashtag_id) t""").fetchone()
    assert top_tag > 10 * median_tag
    most_liked, median_liked = conn.execute("""
        SELECT max(n), percentile_cont(0.5) WITHIN GROUP (ORDER BY n)
          FROM (SELECT count(*) AS n FROM social.likes GROUP BY post_id) t""").fetchone()
    assert most_liked > 10 * median_liked


def test_time_shape_activity_and_tokens(conn):
    generate(conn, **SMALL, now=NOW)
    oldest, newest, last_week = conn.execute("""
        SELECT min(created_at), max(created_at), avg((created_at > %s - interval '7 days')::int)
          FROM social.posts""", (NOW,)).fetchone()
    assert NOW - timedelta(days=731) < oldest < NOW - timedelta(days=700)
    assert NOW - timedelta(hours=1) < newest <= NOW
    assert 0.05 < last_week < 0.15
    # ids in time order for posts and comments; nothing happens before what it refers to
    for table in ("posts", "comments", "users"):
        disorder = conn.execute(f"""SELECT count(*) FROM (SELECT created_at < lag(created_at) OVER (ORDER BY id) AS back
                                      FROM social.{table}) t WHERE back""").fetchone()[0]
        assert disorder == 0, table
    for table in ("likes", "comments", "post_hashtags"):
        early = conn.execute(f"""SELECT count(*) FROM social.{table} x JOIN social.posts p ON p.id = x.post_id
                                  WHERE x.created_at < p.created_at OR x.created_at > %s""", (NOW,)).fetchone()[0]
        assert early == 0, table
    late_follow = conn.execute("""SELECT count(*) FROM social.follows f JOIN social.users a ON a.id = f.follower_id
                                    JOIN social.users b ON b.id = f.followee_id
                                   WHERE f.created_at < greatest(a.created_at, b.created_at)""").fetchone()[0]
    assert late_follow == 0
    inactive, never_after_now = conn.execute("""
        SELECT avg((last_activity_at < %(now)s - interval '30 days')::int),
               bool_and(last_activity_at <= %(now)s AND last_activity_at >= created_at)
          FROM social.users""", {"now": NOW}).fetchone()
    assert 0.08 < inactive < 0.30
    assert never_after_now
    expired, live_of_inactive = conn.execute("""
        SELECT avg((t.expires_at < %(now)s)::int),
               count(*) FILTER (WHERE t.expires_at >= %(now)s AND u.last_activity_at < %(now)s - interval '30 days')
          FROM social.auth_tokens t JOIN social.users u ON u.id = t.user_id""", {"now": NOW}).fetchone()
    assert 0.4 < expired < 0.9
    assert live_of_inactive > 0
    assert conn.execute("SELECT count(*) FROM social.sessions WHERE expires_at < %s", (NOW,)).fetchone()[0] > 0


def test_same_seed_same_data_other_seed_other_data(conn):
    generate(conn, **SMALL, now=NOW)
    first = fingerprints(conn)
    truncate(conn)
    generate(conn, **SMALL, now=NOW)
    assert fingerprints(conn) == first
    truncate(conn)
    generate(conn, **SMALL, now=NOW, seed=7)
    other = fingerprints(conn)
    assert other["follows"] != first["follows"] and other["likes"] != first["likes"]
    assert other["hashtags"] == first["hashtags"]  # tags are names, not draws


def test_dense_graph_still_reaches_exact_counts(conn):
    # 40 users, 700 of the 1,560 possible follows: the popular pairs fill up and rounds draw the rest
    result = generate(conn, users=40, follows=700, posts=30, comments=10, likes=500, hashtags=10,
                      hashtag_links=140, now=NOW)
    assert (result["follows"], result["likes"], result["post_hashtags"]) == (700, 500, 140)
    assert conn.execute("SELECT count(*) FROM social.follows WHERE follower_id = followee_id").fetchone()[0] == 0


def test_refuses_non_empty_tables_and_impossible_sizes(conn):
    generate(conn, **SMALL, now=NOW)
    with pytest.raises(ValueError, match="not empty: users"):
        generate(conn, **SMALL, now=NOW)
    conn.rollback()
    with pytest.raises(ValueError, match="follows=100 does not fit"):
        generate(conn, **{**SMALL, "users": 10, "follows": 100}, now=NOW)
    with pytest.raises(ValueError, match="likes=5 needs posts > 0"):
        generate(conn, **{**SMALL, "posts": 0, "comments": 0, "hashtag_links": 0, "likes": 5}, now=NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        generate(conn, **SMALL, now=datetime(2026, 1, 1))


def test_seed_replaces_the_demo_and_is_registered(conn):
    assert demo_seed.SEEDERS["social"] is social_seed.seed
    conn.execute("INSERT INTO social.users (email, username) VALUES ('stray@example.com', 'stray')")
    first = social_seed.seed(conn, 1, now=NOW)
    conn.commit()
    assert first == {"users": 1_000, "auth_tokens": 2_000, "sessions": 1_000, "follows": 10_000, "posts": 5_000,
                     "comments": 15_000, "likes": 30_000, "hashtags": 300, "post_hashtags": 12_000}
    assert {k: first[k] for k in ("users", "follows", "posts", "comments", "likes", "hashtags")} == \
        {k: v for k, v in DEMO_SIZES.items() if k != "hashtag_links"}
    assert conn.execute("SELECT count(*) FROM social.users WHERE username = 'stray'").fetchone()[0] == 0
    prints = fingerprints(conn)
    conn.execute("UPDATE social.users SET followers_count = 99")  # a job ran in between
    assert social_seed.seed(conn, 1, now=NOW) == first
    conn.commit()
    assert fingerprints(conn) == prints
    with pytest.raises(ValueError, match="scale must be >= 1"):
        social_seed.seed(conn, 0, now=NOW)
