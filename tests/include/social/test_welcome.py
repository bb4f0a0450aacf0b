"""queue_welcome against a real PostgreSQL: one outbox message per user, a second request
queues nothing and says when the first was, an unknown user is a clear error."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from include.social.welcome import UnknownUser, queue_welcome


def _user(conn, username: str, full_name: str = "") -> int:
    return conn.execute(
        "INSERT INTO social.users (email, username, full_name) VALUES (%s, %s, %s) RETURNING id",
        (f"{username}@example.test", username, full_name),
    ).fetchone()[0]


def _outbox(conn, key: str) -> list[tuple]:
    return conn.execute(
        "SELECT recipient, subject, body_text, body_html, status, domain FROM platform.outbox WHERE dedupe_key = %s",
        (key,),
    ).fetchall()


def test_queues_one_personalised_welcome(social_db):
    with psycopg.connect(social_db) as conn:
        user_id = _user(conn, "ada_w", "Ada Lovelace")
        assert queue_welcome(conn, user_id) == {"user_id": user_id, "queued": True,
                                                "dedupe_key": f"welcome:{user_id}"}
        conn.commit()
        [(recipient, subject, text, html, status, domain)] = _outbox(conn, f"welcome:{user_id}")
    assert (recipient, status, domain) == ("ada_w@example.test", "pending", "social")
    assert subject == "Welcome to Social, Ada Lovelace!"
    assert "Hi Ada Lovelace," in text and "@ada_w" in text
    assert "Follow a few accounts" in text and "Write your first post" in text
    assert "<b>@ada_w</b>" in html


def test_name_falls_back_to_username(social_db):
    with psycopg.connect(social_db) as conn:
        user_id = _user(conn, "nameless_w", "  ")
        queue_welcome(conn, user_id)
        [(_, subject, text, *_)] = _outbox(conn, f"welcome:{user_id}")
    assert subject == "Welcome to Social, nameless_w!"
    assert "Hi nameless_w," in text


def test_second_request_queues_nothing_and_says_when(social_db):
    with psycopg.connect(social_db) as conn:
        user_id = _user(conn, "grace_w", "Grace Hopper")
        queue_welcome(conn, user_id)
        conn.commit()
        queued_on = datetime(2026, 2, 3, 10, 0, tzinfo=UTC)
        conn.execute("UPDATE platform.outbox SET created_at = %s, status = 'sent', sent_at = %s "
                     "WHERE dedupe_key = %s", (queued_on, queued_on, f"welcome:{user_id}"))
        conn.commit()
        again = queue_welcome(conn, user_id)
        conn.commit()
        assert again == {"user_id": user_id, "queued": False, "reason": "already sent or queued on 2026-02-03",
                         "status": "sent", "dedupe_key": f"welcome:{user_id}"}
        assert len(_outbox(conn, f"welcome:{user_id}")) == 1


def test_unknown_user_is_a_clear_error_and_queues_nothing(social_db):
    with psycopg.connect(social_db) as conn:
        missing = conn.execute("SELECT coalesce(max(id), 0) + 1000 FROM social.users").fetchone()[0]
        with pytest.raises(UnknownUser, match=f"social user {missing} does not exist"):
            queue_welcome(conn, missing)
        assert _outbox(conn, f"welcome:{missing}") == []
