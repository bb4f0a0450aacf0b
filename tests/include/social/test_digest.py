"""The weekly digest against a real PostgreSQL, on a hand-built follow graph whose right
answers are known: who gets a digest, which posts in which order, once per user per week."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from include.common.time_budget import SoftTimeLimitExceeded
from include.common.unsubscribe import UnsubscribeLinks, token_of_url, verify
from include.social.digest import key_ranges, queue_digests, week_label
from include.social.repository.digest import recipient_id_bounds, stage_top_posts, top_posts_by_recipient
from tests.budgets import ScriptedBudget

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday 09:00: ISO week 2026-W10
END = START + timedelta(days=7)
DAY = timedelta(days=1)
LONG_BODY = "Launch   day!\n\nWe shipped " + "the new feed " * 30


@dataclass
class World:
    users: dict[str, int]
    posts: dict[str, int]


def _user(conn, name, *, active=True, opt_out=False, last_seen=END - DAY, full_name=None) -> int:
    return conn.execute(
        """INSERT INTO social.users (email, username, full_name, is_active, digest_opt_out, last_activity_at)
           VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
        (f"{name}@digest.test", name, full_name if full_name is not None else name.title(), active, opt_out,
         last_seen),
    ).fetchone()[0]


def _post(conn, author, at, body="") -> int:
    return conn.execute("INSERT INTO social.posts (author_id, body, created_at) VALUES (%s, %s, %s) RETURNING id",
                        (author, body, at)).fetchone()[0]


def _follow(conn, follower, followee, at=START - 30 * DAY):
    conn.execute("INSERT INTO social.follows (follower_id, followee_id, created_at) VALUES (%s, %s, %s)",
                 (follower, followee, at))


def _likes(conn, post, likers, at):
    for liker in likers:
        conn.execute("INSERT INTO social.likes (user_id, post_id, created_at) VALUES (%s, %s, %s)",
                     (liker, post, at))


def _comments(conn, post, author, n, at):
    for _ in range(n):
        conn.execute("INSERT INTO social.comments (post_id, author_id, body, created_at) VALUES (%s, %s, 'nice', %s)",
                     (post, author, at))


@pytest.fixture
def world(social_db) -> World:
    """Eligible recipients, in id order: alice (follows bob and carol), kate (follows bob,
    last seen exactly 30 days before the end), gina (follows nobody), hank (follows ivan, who
    posted nothing that week), lena (follows carol only since after the week). Not
    eligible: dave (opted out), erin (last seen 31 days before), frank (deactivated)."""
    with psycopg.connect(social_db) as conn:
        conn.execute("TRUNCATE social.users, platform.outbox RESTART IDENTITY CASCADE")
        u = {name: _user(conn, name, last_seen=None) for name in ("bob", "carol", "ivan")}
        u["alice"] = _user(conn, "alice", full_name="Alice Liddell")
        u["kate"] = _user(conn, "kate", last_seen=END - 30 * DAY)
        u["gina"] = _user(conn, "gina")
        u["hank"] = _user(conn, "hank")
        u["lena"] = _user(conn, "lena")
        u["dave"] = _user(conn, "dave", opt_out=True)
        u["erin"] = _user(conn, "erin", last_seen=END - 31 * DAY)
        u["frank"] = _user(conn, "frank", active=False)
        likers = [_user(conn, f"liker{i}", last_seen=None) for i in range(6)]
        for follower in ("alice", "kate", "dave", "erin", "frank"):
            _follow(conn, u[follower], u["bob"])
        _follow(conn, u["alice"], u["carol"])
        _follow(conn, u["hank"], u["ivan"])
        _follow(conn, u["lena"], u["carol"], at=END + timedelta(hours=1))
        p = {}
        p["b0"] = _post(conn, u["bob"], START - timedelta(minutes=1), "last week's hit")  # before the week
        _likes(conn, p["b0"], likers, START)
        p["b1"] = _post(conn, u["bob"], START + DAY, LONG_BODY)  # 2 likes + 3 * 1 comment = 5
        _likes(conn, p["b1"], likers[:2], START + DAY)
        _comments(conn, p["b1"], likers[0], 1, START + DAY)
        p["b2"] = _post(conn, u["bob"], START + 2 * DAY, "five likes")  # 5: ties with b1, higher id
        _likes(conn, p["b2"], likers[:5], START + 2 * DAY)
        p["c1"] = _post(conn, u["carol"], START, "carol at the start")  # 1 + 3 * 2 = 7 at the end
        _likes(conn, p["c1"], likers[:1], START + DAY)
        _comments(conn, p["c1"], likers[1], 2, END - timedelta(seconds=1))
        _likes(conn, p["c1"], likers[1:4], END)  # after the interval end: not counted
        _comments(conn, p["c1"], likers[2], 1, END + DAY)
        p["b4"] = _post(conn, u["bob"], START + 3 * DAY, "quiet one")  # 0
        p["c2"] = _post(conn, u["carol"], START + 4 * DAY, "late bloomer")  # 0 at the end
        _likes(conn, p["c2"], likers[:2], END + DAY)
        p["b5"] = _post(conn, u["bob"], END, "next week's")  # at the end: not in the week
        p["i1"] = _post(conn, u["ivan"], START - 2 * DAY, "ivan, before")
        conn.commit()
    return World(u, p)


def _digest_rows(conn) -> dict[str, tuple]:
    return {key: (recipient, subject, text) for key, recipient, subject, text in conn.execute(
        "SELECT dedupe_key, recipient, subject, body_text FROM platform.outbox WHERE dedupe_key LIKE 'digest:%%'")}


def test_top_posts_ranked_by_likes_plus_three_comments_up_to_the_end(social_db, world):
    p, u = world.posts, world.users
    with psycopg.connect(social_db) as conn:
        lo, hi = recipient_id_bounds(conn, END - 30 * DAY)
        with pytest.raises(RuntimeError, match="stage_top_posts"):
            top_posts_by_recipient(conn, lo, hi + 1, start=START, end=END, active_since=END - 30 * DAY, top_n=3)
        conn.rollback()
        # each author's top 10 of the week: bob's b1, b2, b4 and carol's c1, c2 (b0, b5 are outside it)
        assert stage_top_posts(conn, start=START, end=END, top_n=10) == 5
        rows = top_posts_by_recipient(conn, lo, hi + 1, start=START, end=END, active_since=END - 30 * DAY, top_n=3)
        everything = top_posts_by_recipient(conn, lo, hi + 1, start=START, end=END,
                                            active_since=END - 30 * DAY, top_n=10)
    assert [r["username"] for r in rows] == ["alice", "kate"]
    alice, kate = rows
    assert [(x["post_id"], x["likes"], x["comments"], x["score"]) for x in alice["posts"]] == [
        (p["c1"], 1, 2, 7), (p["b1"], 2, 1, 5), (p["b2"], 5, 0, 5)]
    assert [x["post_id"] for x in kate["posts"]] == [p["b1"], p["b2"], p["b4"]]
    assert [x["post_id"] for x in everything[0]["posts"]] == [p["c1"], p["b1"], p["b2"], p["b4"], p["c2"]]
    first = alice["posts"][0]
    assert (first["author_username"], first["author_name"], first["excerpt"]) == ("carol", "Carol",
                                                                                 "carol at the start")
    excerpt = alice["posts"][1]["excerpt"]  # whitespace collapsed, cut to 200 characters
    assert excerpt.startswith("Launch day! We shipped the new feed") and excerpt.endswith("…")
    assert len(excerpt) == 200
    assert u["alice"] == alice["user_id"]


def test_one_email_per_recipient_in_batches_and_a_rerun_sends_nothing_twice(social_db, world):
    u = world.users
    with psycopg.connect(social_db) as conn:
        lo, hi = recipient_id_bounds(conn, END - 30 * DAY)
        first = queue_digests(conn, START, END, top_n=3, batch_size=2)
        assert first == {"week": "2026-W10", "recipients": 2, "queued": 2, "skipped_already_sent": 0,
                         "batches": len(key_ranges(lo, hi, 2))}
        assert first["batches"] > 1
        queued = _digest_rows(conn)
    assert sorted(queued) == sorted([f"digest:{u['alice']}:2026-W10", f"digest:{u['kate']}:2026-W10"])
    recipient, subject, text = queued[f"digest:{u['alice']}:2026-W10"]
    assert recipient == "alice@digest.test"
    assert subject == "Your week on Social, Mar 2–9: 3 top posts from people you follow"
    assert "Hi Alice Liddell," in text and "2026-03-02 to 2026-03-09 (2026-W10)" in text
    order = [text.index(s) for s in ("1. Carol (@carol)", "carol at the start", "1 like · 2 comments",
                                     "2. Bob (@bob)", "Launch day! We shipped", "2 likes · 1 comment",
                                     "3. Bob (@bob)", "five likes", "5 likes · 0 comments")]
    assert order == sorted(order)
    assert "quiet one" not in text and "last week's hit" not in text and "next week's" not in text

    with psycopg.connect(social_db) as conn:
        # the same week again (a rerun, or a backfill with another batch size and top N)
        again = queue_digests(conn, START, END, top_n=5, batch_size=1000)
        assert again == {"week": "2026-W10", "recipients": 2, "queued": 0, "skipped_already_sent": 2,
                         "batches": 1}
        assert _digest_rows(conn) == queued


KEY = "digest-test-signing-key-0123456789"


def test_each_digest_carries_its_recipients_signed_one_click_link(social_db, world):
    u = world.users
    links = UnsubscribeLinks.for_domain("social", KEY, {"social": "https://social.example.test/unsubscribe"})
    with psycopg.connect(social_db) as conn:
        assert queue_digests(conn, START, END, unsubscribe=links)["queued"] == 2
        stored = {k: (p, t, h) for k, p, t, h in conn.execute(
            "SELECT dedupe_key, payload, body_text, body_html FROM platform.outbox")}
        # no staged tables are left in the session after the run
        assert conn.execute("SELECT to_regclass('pg_temp.digest_top_posts')").fetchone()[0] is None
    for name in ("alice", "kate"):
        payload, text, html = stored[f"digest:{u[name]}:2026-W10"]
        url = payload["list_unsubscribe"]
        assert url.startswith("https://social.example.test/unsubscribe?token=v1.")
        assert verify(token_of_url(url), KEY, domain="social").user_id == str(u[name])
        assert f"Unsubscribe with one click: {url}" in text and "email settings" not in text
        assert f'href="{url}"' in html


def test_a_week_without_posts_from_followees_sends_nothing(social_db, world):
    with psycopg.connect(social_db) as conn:
        quiet = queue_digests(conn, START + 14 * DAY, END + 14 * DAY)
        assert (quiet["recipients"], quiet["queued"]) == (0, 0)
        assert _digest_rows(conn) == {}


def test_soft_limit_keeps_finished_batches_and_a_rerun_does_the_rest(social_db, world):
    u = world.users
    budget = ScriptedBudget([True])  # one batch, then the budget is gone
    with psycopg.connect(social_db) as conn:
        with pytest.raises(SoftTimeLimitExceeded, match="1 of 5 batches done"):
            queue_digests(conn, START, END, batch_size=1, budget=budget)
    with psycopg.connect(social_db) as conn:
        assert list(_digest_rows(conn)) == [f"digest:{u['alice']}:2026-W10"]  # committed
        rest = queue_digests(conn, START, END, batch_size=1)
        assert (rest["recipients"], rest["queued"], rest["skipped_already_sent"]) == (2, 1, 1)
        assert len(_digest_rows(conn)) == 2


def test_bad_arguments_are_rejected(social_db):
    with psycopg.connect(social_db) as conn:
        with pytest.raises(ValueError, match="time-zone aware"):
            queue_digests(conn, START.replace(tzinfo=None), END.replace(tzinfo=None))
        with pytest.raises(ValueError, match="empty week"):
            queue_digests(conn, END, START)
        with pytest.raises(ValueError, match="top_n"):
            queue_digests(conn, START, END, top_n=0)


def test_week_label_is_the_calendar_week_of_the_given_zone():
    assert week_label(START) == "2026-W10"
    monday_9_at_utc_plus_14 = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Pacific/Kiritimati"))
    assert week_label(monday_9_at_utc_plus_14) == "2026-W10"
    assert week_label(monday_9_at_utc_plus_14.astimezone(UTC)) == "2026-W09"  # Sunday 19:00 UTC
    assert key_ranges(3, 10, 4) == [(3, 7), (7, 11)]
    assert key_ranges(5, 5, 100) == [(5, 6)]


def test_the_subject_names_the_week_so_weeks_never_share_a_title():
    from include.social.digest import date_range

    assert date_range(date(2026, 11, 23), date(2026, 11, 29)) == "Nov 23–29"
    assert date_range(date(2026, 11, 30), date(2026, 12, 6)) == "Nov 30 – Dec 6"
    assert date_range(date(2026, 12, 28), date(2027, 1, 3)) == "Dec 28, 2026 – Jan 3, 2027"
