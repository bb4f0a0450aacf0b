"""The operator page's queries (include/platform/operator_page.py) against a real PostgreSQL
database migrated to head, and its rate-limit reading against the real Redis."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import redis
from psycopg.rows import dict_row

from include.common.outbox import OutboxMessage, enqueue
from include.common.rate_limit import Limit, RedisRateLimiter
from include.platform import operator_page as page
from tools import devenv

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
TOKEN = "fcm-device-token-" + "x" * 120 + "-tail"


@pytest.fixture(scope="module")
def db(session_env):
    with devenv.scratch_database("jobyard_test_operator", session_env["server"]) as url:
        yield url


@pytest.fixture
def conn(db):
    with psycopg.connect(db) as conn:
        conn.execute("TRUNCATE platform.outbox, platform.outbox_requeues, platform.health_state,"
                     " platform.health_readings RESTART IDENTITY")
        conn.commit()
        yield conn


def add(conn, key, *, status="pending", created=NOW, channel="email", domain="social", recipient="ada@example.com",
        error=None, attempts=0, sent=None, queued_by=None) -> int:
    return conn.execute(
        """INSERT INTO platform.outbox (dedupe_key, channel, domain, recipient, subject, body_text, body_html, status,
                                        attempts, last_error, created_at, sent_at, queued_by)
           VALUES (%s, %s, %s, %s, %s, 'secret body text', '<p>secret body html</p>', %s, %s, %s, %s, %s, %s)
           RETURNING id""",
        (key, channel, domain, recipient, f"subject of {key}", status, attempts, error, created, sent, queued_by),
    ).fetchone()[0]


def row(conn, outbox_id) -> dict:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM platform.outbox WHERE id = %s", (outbox_id,)).fetchone()


def test_counts_per_domain_channel_and_state_for_24h_and_7d(conn):
    add(conn, "a", status="sent", created=NOW - timedelta(hours=1))
    add(conn, "b", status="sent", created=NOW - timedelta(hours=30))
    add(conn, "c", status="dead", created=NOW - timedelta(days=6), error="550 no such user")
    add(conn, "d", status="sent", created=NOW - timedelta(days=8))  # outside both windows
    add(conn, "e", status="pending", channel="push", domain="fitness", recipient=TOKEN, created=NOW)
    add(conn, "f", status="sent", created=NOW + timedelta(minutes=5))  # after `now`: not counted
    counts = page.notification_counts(conn, NOW)
    assert counts == [
        {"domain": "fitness", "channel": "push",
         "last_24h": {"pending": 1, "sending": 0, "sent": 0, "dead": 0},
         "last_7d": {"pending": 1, "sending": 0, "sent": 0, "dead": 0}},
        {"domain": "social", "channel": "email",
         "last_24h": {"pending": 0, "sending": 0, "sent": 1, "dead": 0},
         "last_7d": {"pending": 0, "sending": 0, "sent": 2, "dead": 1}},
    ]


def test_search_by_recipient_or_dedupe_key_exact_newest_first_without_bodies(conn):
    old = add(conn, "welcome:42", status="sent", created=NOW - timedelta(days=3), sent=NOW - timedelta(days=3),
              attempts=1, queued_by="social_send_welcome_email/manual__2026-06-07")
    new = add(conn, "digest:42:2026-W23", status="dead", created=NOW, attempts=5, error="421 try later")
    add(conn, "welcome:43", recipient="bob@example.com")
    add(conn, "daily:7:2026-06-10:1", channel="push", domain="fitness", recipient=TOKEN)

    found = page.search_messages(conn, "ada@example.com")
    assert [m["id"] for m in found] == [new, old]
    assert found[1]["sent_at"] == NOW - timedelta(days=3)
    assert found[1]["queued_by"] == "social_send_welcome_email/manual__2026-06-07"
    assert found[0]["status"] == "dead" and found[0]["attempts"] == 5 and found[0]["last_error"] == "421 try later"
    assert not {"body_text", "body_html", "payload"} & set(found[0])

    assert [m["dedupe_key"] for m in page.search_messages(conn, "welcome:43")] == ["welcome:43"]
    assert page.search_messages(conn, "ada@example") == []  # exact, not a prefix
    assert page.search_messages(conn, "' OR '1'='1") == []  # a parameter, never SQL
    push = page.search_messages(conn, TOKEN)
    assert len(push) == 1 and push[0]["recipient"] == TOKEN[:6] + "…" + TOKEN[-4:]


def test_normalise_query():
    assert page.normalise_query("  ada@example.com ") == "ada@example.com"
    assert page.normalise_query("   ") is None and page.normalise_query(None) is None
    with pytest.raises(ValueError, match="longer than"):
        page.normalise_query("x" * (page.MAX_QUERY_CHARS + 1))


def test_dead_messages_grouped_by_last_error(conn):
    for i in range(3):
        add(conn, f"g1:{i}", status="dead", error="550 mailbox unavailable", created=NOW - timedelta(hours=i))
    add(conn, "g2:0", status="dead", error="UNREGISTERED", channel="push", domain="fitness", recipient=TOKEN)
    add(conn, "g3:0", status="dead", error=None)
    add(conn, "live", status="pending", error="550 mailbox unavailable")  # not dead: not in a group
    groups = page.dead_groups(conn)
    assert [(g["last_error"], g["messages"], g["sources"]) for g in groups] == [
        ("550 mailbox unavailable", 3, "social/email"), ("", 1, "social/email"), ("UNREGISTERED", 1, "fitness/push")]
    assert groups[1]["error_key"] == hashlib.md5(b"").hexdigest()  # no error recorded: a group of its own
    assert groups[0]["error_key"] == hashlib.md5(b"550 mailbox unavailable").hexdigest()
    assert groups[0]["first_created"] == NOW - timedelta(hours=2) and groups[0]["last_created"] == NOW


def test_requeue_one_dead_message_is_recorded_and_never_a_sent_one(conn):
    dead = add(conn, "dead", status="dead", attempts=5, error="421 try later")
    sent = add(conn, "sent", status="sent", attempts=1, sent=NOW)
    pending = add(conn, "pending", status="pending", attempts=2)

    done = page.requeue(conn, "admin", message_id=dead)
    conn.commit()
    assert done["requeued"] == 1 and done["message_ids"] == [dead] and "reason" not in done
    moved = row(conn, dead)
    assert (moved["status"], moved["attempts"], moved["claimed_until"]) == ("pending", 0, None)
    assert moved["next_attempt_at"] <= datetime.now(UTC)

    assert page.requeue(conn, "admin", message_id=dead)["reason"] == "message is pending, not dead"  # twice: no-op
    assert page.requeue(conn, "admin", message_id=sent)["reason"] == "message is sent, not dead"
    assert page.requeue(conn, "admin", message_id=pending)["requeued"] == 0
    assert page.requeue(conn, "admin", message_id=10**9)["reason"] == "not found"
    conn.commit()
    assert row(conn, sent)["status"] == "sent" and row(conn, sent)["attempts"] == 1
    # a row that says dead but has a sent time (never produced by delivery) is not requeued either
    odd = add(conn, "odd", status="dead", sent=NOW, error="x")
    assert page.requeue(conn, "admin", message_id=odd)["requeued"] == 0

    log = page.recent_requeues(conn)
    assert [(r["requeued_by"], r["scope"], r["message_id"], r["requeued"]) for r in log][-1] == (
        "admin", "message", dead, 1)
    assert log[-1]["last_error"] == "421 try later"
    assert sum(r["requeued"] for r in log) == 1


def test_requeue_an_error_group_moves_only_its_dead_rows_in_bounded_steps(conn, monkeypatch):
    ids = [add(conn, f"g:{i}", status="dead", attempts=5, error="550 mailbox unavailable") for i in range(5)]
    other = add(conn, "other", status="dead", attempts=5, error="UNREGISTERED")
    live = add(conn, "live", status="pending", attempts=1, error="550 mailbox unavailable")
    key = hashlib.md5(b"550 mailbox unavailable").hexdigest()
    monkeypatch.setattr(page, "GROUP_REQUEUE_LIMIT", 3)

    first = page.requeue(conn, "ops", error_key=key)
    conn.commit()
    assert (first["requeued"], first["message_ids"], first["remaining"]) == (3, ids[:3], 2)
    second = page.requeue(conn, "ops", error_key=key)
    conn.commit()
    assert (second["requeued"], second["message_ids"], second["remaining"]) == (2, ids[3:], 0)
    assert {row(conn, i)["status"] for i in ids} == {"pending"}
    assert row(conn, other)["status"] == "dead" and row(conn, live)["attempts"] == 1

    log = page.recent_requeues(conn)
    assert [(r["requeued_by"], r["scope"], r["error_key"], r["requeued"]) for r in log] == [
        ("ops", "error_group", key, 2), ("ops", "error_group", key, 3)]
    assert log[0]["last_error"] == "550 mailbox unavailable"
    stored = conn.execute("SELECT message_ids FROM platform.outbox_requeues ORDER BY id").fetchall()
    assert [r[0] for r in stored] == [ids[:3], ids[3:]]


@pytest.mark.parametrize("kwargs, message", [
    ({}, "exactly one"),
    ({"message_id": 1, "error_key": "0" * 32}, "exactly one"),
    ({"error_key": "'; DROP TABLE platform.outbox; --"}, "32 hex digits"),
])
def test_requeue_refuses_bad_requests(conn, kwargs, message):
    with pytest.raises(page.RequeueError, match=message):
        page.requeue(conn, "admin", **kwargs)
    with pytest.raises(page.RequeueError, match="user"):
        page.requeue(conn, "", message_id=1)


def test_queued_by_is_filled_from_the_session_setting_of_the_enqueuing_connection(db):
    message = OutboxMessage(dedupe_key=f"qb:{secrets.token_hex(4)}", channel="email", domain="platform",
                            recipient="owners@example.com", template="platform/health_alert",
                            context={"check_name": "disk", "target": "/", "ok": False, "detail": "full",
                                     "changed_at": "2026-06-10T12:00:00+00:00", "value": None, "unit": "%"})
    run = "platform_health_check/manual__2026-06-10T12:00:00+00:00"
    with psycopg.connect(db, options=f"-c jobyard.queued_by={run}") as conn:
        assert enqueue(conn, [message]) == 1
    plain = OutboxMessage(**{**message.__dict__, "dedupe_key": message.dedupe_key + ":plain"})
    with psycopg.connect(db) as conn:
        assert enqueue(conn, [plain]) == 1
        got = dict(conn.execute("SELECT dedupe_key, queued_by FROM platform.outbox WHERE dedupe_key IN (%s, %s)",
                                (message.dedupe_key, plain.dedupe_key)).fetchall())
    assert got == {message.dedupe_key: run, plain.dedupe_key: None}


def test_health_shows_each_checks_state_since_and_latest_reading(conn):
    t1, t2 = NOW - timedelta(minutes=10), NOW - timedelta(minutes=5)
    conn.execute("""INSERT INTO platform.health_readings (checked_at, check_name, target, ok, value, unit, detail)
                    VALUES (%(t1)s, 'database', 'jobyard', true, 3.5, 'ms', ''),
                           (%(t2)s, 'database', 'jobyard', true, 2.5, 'ms', ''),
                           (%(t1)s, 'disk', '/', true, 0.5, 'fraction', ''),
                           (%(t2)s, 'disk', '/', false, 0.05, 'fraction', 'free 5 %% < 10 %%')""",
                 {"t1": t1, "t2": t2})
    conn.execute("""INSERT INTO platform.health_state (check_name, target, ok, since, detail)
                    VALUES ('database', 'jobyard', true, %(t1)s, ''),
                           ('disk', '/', false, %(t2)s, 'free 5 %% < 10 %%')""",
                 {"t1": t1, "t2": t2})
    rows = page.health(conn)
    assert [(h["check_name"], h["ok"], h["since"], h["checked_at"], h["value"]) for h in rows] == [
        ("disk", False, t2, t2, 0.05), ("database", True, t1, t2, 2.5)]
    assert rows[0]["detail"] == "free 5 % < 10 %"


def test_rate_limit_usage_reads_the_limiters_keys(session_env):
    client = redis.Redis.from_url(session_env["redis"])
    prefix = f"jobyard:test-operator:{secrets.token_hex(4)}:"
    limits = {"strict": Limit(5, 60.0, guard=1.0), "bucket": Limit(2, 10.0, burst=4, strict=False),
              "idle": Limit(1, 60.0)}
    try:
        for api, n in (("strict", 3), ("bucket", 3)):
            limiter = RedisRateLimiter(client, api, limits[api], key_prefix=prefix)
            for _ in range(n):
                assert limiter.try_acquire()[0]
        usage = {u["api"]: u for u in page.rate_limit_usage(client, limits, key_prefix=prefix)}
    finally:
        client.delete(*[f"{prefix}{api}" for api in limits])
    assert (usage["strict"]["granted"], usage["strict"]["free"], usage["strict"]["limit"]) == (3, 2, "5/60s +1s guard")
    assert (usage["bucket"]["granted"], usage["bucket"]["free"], usage["bucket"]["capacity"]) == (3, 1, 4)
    assert (usage["idle"]["granted"], usage["idle"]["free"]) == (0, 1)
    assert [u["api"] for u in page.rate_limit_usage(client, limits, key_prefix=prefix)] == ["bucket", "idle", "strict"]


def test_render_page_escapes_everything_and_hides_requeue_from_readers(conn):
    add(conn, "x:1", status="dead", error="<script>alert(1)</script>", recipient="eve@example.com")
    data = page.overview(conn, "eve@example.com", now=NOW)
    html = page.render_page(data, user="viewer", can_requeue=False, rate_limits=None,
                            rate_limits_error="ConnectionError: refused", base_path="/operator")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'class="requeue"' not in html and "(read only)" in html and "Redis: ConnectionError: refused" in html
    assert "secret body" not in html
    admin = page.render_page(data, user="admin", can_requeue=True, rate_limits=[], rate_limits_error=None,
                             base_path="/operator/")
    assert 'data-message-id="1"' in admin and 'fetch("/operator/api/requeue"' in admin
    assert set(data["timings_ms"]) == {"counts", "dead_groups", "requeues", "health", "search"}
