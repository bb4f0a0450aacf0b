"""The outbox against real PostgreSQL and the sandbox's SMTP sink: enqueue dedupes, emails are
multipart with the dedupe headers, SMTP down keeps messages pending until the sweeper
delivers them, failures end dead after max attempts and alert the owners."""

from __future__ import annotations

import socket
from datetime import timedelta

import psycopg
import pytest

from include.common.charts import sparkline_png
from include.common.delivery import UnavailableSender, deliver_pending
from include.common.email import inline_images_payload, inline_png
from include.common.outbox import OutboxMessage, enqueue
from include.platform.notifications import deliver_notifications
from sandbox.server import start_in_thread
from tests.include.common import conftest_outbox
from tests.include.common.conftest_outbox import (
    OWNER,
    keys_at_sink,
    rows,
    smtp_sender,
    status_counts,
)
from tools import devenv

# The fixtures this module uses (pytest finds them as module attributes).
outbox_db, sink, clean = conftest_outbox.outbox_db, conftest_outbox.sink, conftest_outbox.clean


def alert(key: str, to: str = "ops@jobyard.local", ok: bool = False, detail: str = "cannot connect") -> OutboxMessage:
    return OutboxMessage(
        dedupe_key=key, channel="email", domain="platform", recipient=to, template="platform/health_alert",
        context={"check_name": "database", "target": "platform_db", "ok": ok, "detail": detail,
                 "changed_at": "2026-01-05T10:15:00+00:00", "value": None if not ok else 3.2, "unit": "ms"},
    )


def test_enqueue_dedupes_and_joins_the_callers_transaction(clean):
    with psycopg.connect(clean) as conn:
        assert enqueue(conn, [alert("health:db:down:1"), alert("health:db:down:1")]) == 1
        conn.commit()
        assert enqueue(conn, [alert("health:db:down:1"), alert("health:db:up:1", ok=True)]) == 1
        conn.commit()
        assert enqueue(conn, [alert("health:db:rolled-back")]) == 1
        conn.rollback()  # the caller's data and its message go (or not) together
    stored = rows(clean)
    assert [r["dedupe_key"] for r in stored] == ["health:db:down:1", "health:db:up:1"]
    assert [r["subject"] for r in stored] == ["[jobyard] database platform_db is DOWN",
                                             "[jobyard] database platform_db RECOVERED"]
    assert all(r["status"] == "pending" and r["attempts"] == 0 for r in stored)


def test_enqueue_rejects_bad_messages_before_inserting(clean):
    bad = [alert("ok:1"), OutboxMessage("bad:1", "fax", "platform", "a@b.c", "platform/health_alert", {})]
    with psycopg.connect(clean) as conn, pytest.raises(ValueError, match="channel 'fax'"):
        enqueue(conn, bad)
    missing = OutboxMessage("bad:2", "email", "platform", "a@b.c", "platform/health_alert", {"ok": True})
    with psycopg.connect(clean) as conn, pytest.raises(Exception, match="check_name"):
        enqueue(conn, [missing])
    assert rows(clean) == []


def _counting_statements(conn) -> list[str]:
    """The first word of every statement the connection's cursors run (execute and copy)."""
    statements: list[str] = []
    cursor_class = conn.cursor_factory

    class Counting(cursor_class):
        def execute(self, query, params=None, **kw):
            statements.append(str(query).split()[0])
            return super().execute(query, params, **kw)

        def copy(self, statement, params=None, **kw):
            statements.append(str(statement).split()[0])
            return super().copy(statement, params, **kw)

    conn.cursor_factory = Counting
    return statements


def test_enqueue_is_set_based(clean):
    """5,000 messages: the check, the temp table's CREATE (first call of the session), one COPY
    per 2,000-message chunk, ONE INSERT ... SELECT and the TRUNCATE, not 5,000 statements; a
    second call of the session reuses the temp table."""
    messages = [alert(f"bulk:{i}", to=f"user{i}@example.com") for i in range(5000)]
    with psycopg.connect(clean) as conn:
        statements = _counting_statements(conn)
        assert enqueue(conn, messages) == 5000
        assert statements == ["SELECT", "CREATE", "COPY", "COPY", "COPY", "INSERT", "TRUNCATE"]
        del statements[:]
        assert enqueue(conn, [alert("bulk:one-more")]) == 1
        assert statements == ["SELECT", "COPY", "INSERT", "TRUNCATE"]
        conn.commit()
    assert status_counts(clean) == {"pending": 5001}
    assert [r["dedupe_key"] for r in rows(clean)][:3] == ["bulk:0", "bulk:1", "bulk:2"]  # ids in the given order


def test_enqueue_streams_a_generator_in_chunks_with_the_same_dedupe(clean):
    """A generator is consumed once, in chunks; a key repeated across chunks is queued once
    (the first message wins), keys already in the outbox are not counted as new."""
    with psycopg.connect(clean) as conn:
        assert enqueue(conn, [alert("stream:3", detail="queued before")]) == 1
        conn.commit()

    def stream():
        for i in range(7):
            yield alert(f"stream:{i}", detail=f"first {i}")
        yield alert("stream:1", detail="a later duplicate")

    with psycopg.connect(clean) as conn:
        assert enqueue(conn, stream(), chunk_size=3) == 6
        conn.commit()
    stored = {r["dedupe_key"]: r["body_text"] for r in rows(clean)}
    assert sorted(stored) == [f"stream:{i}" for i in range(7)]
    assert "first 1" in stored["stream:1"] and "a later duplicate" not in stored["stream:1"]
    assert "queued before" in stored["stream:3"]


def test_a_bad_message_late_in_the_stream_inserts_nothing_and_the_transaction_goes_on(clean):
    """The error comes after two chunks were COPY'd: nothing reaches the outbox, the staged
    chunks are discarded, and the caller's transaction is still usable (its own rows commit)."""
    def stream():
        for i in range(5):
            yield alert(f"late:{i}")
        yield OutboxMessage("late:bad", "email", "platform", "a@b.c", "platform/health_alert", {"ok": True})

    with psycopg.connect(clean) as conn:
        with pytest.raises(Exception, match="check_name"):
            enqueue(conn, stream(), chunk_size=2)
        assert conn.execute("SELECT count(*) FROM pg_temp.outbox_enqueue_stage").fetchone()[0] == 0
        assert enqueue(conn, [alert("after-the-error")]) == 1
        conn.commit()
    assert [r["dedupe_key"] for r in rows(clean)] == ["after-the-error"]


def test_enqueue_on_an_autocommit_connection(clean):
    """The temp table keeps its rows across the statements' own commits."""
    with psycopg.connect(clean, autocommit=True) as conn:
        assert enqueue(conn, (alert(f"auto:{i}") for i in range(5)), chunk_size=2) == 5
    assert status_counts(clean) == {"pending": 5}


def test_email_is_multipart_with_product_name_and_dedupe_headers(clean, sink):
    _, control = sink
    with psycopg.connect(clean) as conn:
        enqueue(conn, [alert("health:db:down:2", detail="<script>alert(1)</script> refused")])
        conn.commit()
    report = deliver_pending(clean, smtp_sender(sink[0].smtp_port), None)
    assert (report.sent, report.failed, report.dead) == (1, 0, 0)
    [mail] = control.emails()
    assert mail["dedupe_key"] == "health:db:down:2"
    assert mail["rcpt_tos"] == ["ops@jobyard.local"]
    assert mail["subject"] == "[jobyard] database platform_db is DOWN"
    assert mail["headers"]["From"] == "jobyard operations <jobyard@localhost>"
    assert mail["headers"]["Message-ID"].startswith("<outbox.")
    assert mail["headers"]["Message-ID"].endswith("@localhost>")
    assert "multipart/alternative" in mail["headers"]["Content-Type"]
    assert "jobyard operations" in mail["text"] and "is DOWN" in mail["text"]
    assert "<script>alert(1)</script>" in mail["text"]  # plain text is not escaped
    assert "&lt;script&gt;" in mail["html"] and "<script>" not in mail["html"]  # HTML is
    [row] = rows(clean)
    assert row["status"] == "sent" and row["sent_at"] is not None and row["claimed_until"] is None


def report_with_chart(key: str, image, cid: str | None = None) -> OutboxMessage:
    """The videos daily report (the first template with a chart) showing `image` by `cid`."""
    return OutboxMessage(
        dedupe_key=key, channel="email", domain="videos", recipient="ada@creators.test",
        template="videos/daily_report", images=(image,),
        context={"creator_name": "Ada", "day": "2026-06-10", "total_views": "12", "video_count": 0,
                 "without_stats": [], "chart_first_day": "2026-06-08", "chart_cid": cid or image.cid,
                 "chart_alt": "Daily views", "videos": [],
                 "chart_days": [{"day": "2026-06-08", "views": "1"}, {"day": "2026-06-09", "views": "3"},
                                {"day": "2026-06-10", "views": "2"}]},
    )


def test_inline_images_ride_in_the_payload_and_arrive_as_related_parts(clean, sink):
    _, control = sink
    image = inline_png("views-30d", sparkline_png([1, 3, 2]))
    with psycopg.connect(clean) as conn:
        with pytest.raises(ValueError, match="references cid"):  # template and images must agree
            enqueue(conn, [report_with_chart("report:bad", image, cid="other@jobyard")])
        with pytest.raises(ValueError, match="push cannot carry inline images"):
            enqueue(conn, [OutboxMessage("push:1", "push", "social", "token-1", "social/welcome", {}, (image,))])
        assert enqueue(conn, [report_with_chart("report:1", image)]) == 1
        conn.commit()
    [row] = rows(clean)
    assert row["payload"] == inline_images_payload((image,), row["body_html"], "report:1")
    assert deliver_pending(clean, smtp_sender(sink[0].smtp_port), None).sent == 1
    [mail] = control.emails()
    assert mail["inline"] == [{"cid": image.cid, "content_type": "image/png", "size": len(image.data)}]
    assert f'src="cid:{image.cid}"' in mail["html"] and "2026-06-09  3" in mail["text"]


def test_a_second_run_sends_nothing_again(clean, sink):
    _, control = sink
    with psycopg.connect(clean) as conn:
        enqueue(conn, [alert(f"rerun:{i}") for i in range(5)])
        conn.commit()
    assert deliver_pending(clean, smtp_sender(sink[0].smtp_port), None).sent == 5
    with psycopg.connect(clean) as conn:  # the job reruns: its enqueue is a no-op
        assert enqueue(conn, [alert(f"rerun:{i}") for i in range(5)]) == 0
        conn.commit()
    assert deliver_pending(clean, smtp_sender(sink[0].smtp_port), None).sent == 0
    assert sorted(keys_at_sink(control).values()) == [1] * 5


def test_smtp_reconnects_when_a_reused_connection_went_stale(clean, sink):
    _, control = sink
    sender = smtp_sender(sink[0].smtp_port)
    with psycopg.connect(clean) as conn:
        enqueue(conn, [alert("stale:1")])
        conn.commit()
    deliver_pending(clean, sender, None)
    assert sender._smtp is None  # closed at the end of the run
    sender._smtp = sender._connect()
    first = sender._smtp
    first.sock.shutdown(socket.SHUT_RDWR)  # the idle connection died (server timeout, NAT, ...)
    with psycopg.connect(clean) as conn:
        enqueue(conn, [alert("stale:2"), alert("stale:3")])
        conn.commit()
    connects = []
    connect = sender._connect
    sender._connect = lambda: connects.append(connect()) or connects[-1]
    report = deliver_pending(clean, sender, None)
    assert len(connects) == 1  # reconnected once after the stale one, then reused for the next
    assert (report.sent, report.failed) == (2, 0)
    assert keys_at_sink(control) == {"stale:1": 1, "stale:2": 1, "stale:3": 1}


def test_smtp_down_keeps_messages_pending_then_the_sweeper_delivers(clean, tmp_path):
    port = devenv.free_port()  # nothing listens there yet: SMTP is down
    with psycopg.connect(clean) as conn:
        enqueue(conn, [alert(f"down:{i}", to=f"user{i}@example.com") for i in range(20)])
        conn.commit()
    report = deliver_pending(clean, smtp_sender(port), None)
    assert (report.sent, report.failed, report.dead) == (0, 20, 0)
    assert "cannot connect to SMTP" in report.channels_down["email"]
    with psycopg.connect(clean) as conn:
        waits = conn.execute("SELECT min(next_attempt_at - now()), max(next_attempt_at - now()) "
                             "FROM platform.outbox").fetchone()
    assert timedelta(seconds=250) < waits[0] <= waits[1] <= timedelta(seconds=300)  # first backoff: 5 min
    stored = rows(clean)
    assert all(r["status"] == "pending" and r["attempts"] == 1 for r in stored)
    assert all("cannot connect to SMTP" in r["last_error"] for r in stored)

    assert deliver_pending(clean, smtp_sender(port), None).sent == 0  # backoff not over: nothing due

    handle = start_in_thread(devenv.free_port(), port, tmp_path / "sandbox")  # SMTP comes back
    try:
        with psycopg.connect(clean, autocommit=True) as conn:  # ... and the 5 minutes pass
            conn.execute("UPDATE platform.outbox SET next_attempt_at = now()")
        receipt = deliver_notifications(clean, smtp_sender(port), None, [OWNER])  # the sweeper's use case
        from sandbox.client import SandboxControl

        arrived = keys_at_sink(SandboxControl(handle.base_url))
    finally:
        handle.stop()
    assert receipt["sent"] == 20 and receipt["dead"] == 0 and receipt["backlog"]["pending"] == 0
    assert arrived == {f"down:{i}": 1 for i in range(20)}
    assert all(r["status"] == "sent" and r["attempts"] == 2 for r in rows(clean))


def test_max_attempts_then_dead_and_the_owners_are_alerted_once(clean, sink):
    _, control = sink
    down = smtp_sender(devenv.free_port())
    with psycopg.connect(clean) as conn:
        enqueue(conn, [alert("doomed:1"), alert("doomed:2")])
        conn.commit()
    for attempt in (1, 2):
        report = deliver_pending(clean, down, None, max_attempts=3, backoff_seconds=0)
        assert (report.failed, report.dead) == (2, 0)
        assert {r["attempts"] for r in rows(clean)} == {attempt}
    report = deliver_pending(clean, down, None, max_attempts=3, backoff_seconds=0)
    assert (report.failed, report.dead) == (0, 2)
    assert sorted(report.dead_ids) == [1, 2]
    assert all("cannot connect" in d["error"] for d in report.dead_details)
    assert all(r["status"] == "dead" and r["attempts"] == 3 for r in rows(clean))

    # The sweeper's use case turns newly dead messages into one alert per owner.
    from include.platform.notifications import dead_alert_messages

    with psycopg.connect(clean) as conn:
        assert enqueue(conn, dead_alert_messages(list(report.dead_details), [OWNER])) == 1
        assert enqueue(conn, dead_alert_messages(list(report.dead_details), [OWNER])) == 0  # once
        conn.commit()
    assert deliver_pending(clean, smtp_sender(sink[0].smtp_port), None).sent == 1
    [mail] = control.emails(to=OWNER)
    assert mail["subject"].startswith("[jobyard] 2 notifications could not be delivered")
    assert "doomed:1" in mail["text"] and "cannot connect" in mail["text"]


def test_a_missing_push_sender_fails_pushes_clearly_and_email_goes_on(clean, sink):
    _, control = sink
    push = OutboxMessage("push:1", "push", "platform", "device-abc", "platform/health_alert",
                         {"check_name": "redis", "target": "localhost:6379", "ok": False,
                          "changed_at": "2026-01-05T10:15:00+00:00", "detail": "refused"})
    with psycopg.connect(clean) as conn:
        enqueue(conn, [push, alert("mail:1")])
        conn.commit()
    report = deliver_pending(clean, smtp_sender(sink[0].smtp_port),
                             UnavailableSender("Airflow connection 'fcm_api' is not defined"))
    assert (report.sent, report.failed) == (1, 1)
    push_row, mail_row = rows(clean)
    assert push_row["status"] == "pending" and "'fcm_api' is not defined" in push_row["last_error"]
    assert mail_row["status"] == "sent"
    assert keys_at_sink(control) == {"mail:1": 1}


def test_a_lease_that_expired_on_the_last_attempt_goes_dead(clean):
    """A message that kills its deliverer every time is not retried forever."""
    with psycopg.connect(clean, autocommit=True) as conn:
        enqueue(conn, [alert("poison:1")])
        conn.execute("UPDATE platform.outbox SET status = 'sending', attempts = 5, "
                     "claimed_until = now() - interval '1 second'")
    report = deliver_pending(clean, smtp_sender(devenv.free_port()), None, max_attempts=5)
    assert report.dead_ids == (1,) and "lease expired" in report.dead_details[0]["error"]
    assert rows(clean)[0]["status"] == "dead"


# -- the wire format, several connections, helper processes ------------------------------------

def test_the_fast_wire_format_is_byte_for_byte_what_the_generator_writes():
    """include/common/smtp.py `wire_bytes` against `as_bytes(policy=WIRE_POLICY)` on the same
    message: multipart with and without inline images, a non-ASCII subject (an encoded
    header), a text-only message, lines starting with a dot."""
    from include.common.email import WIRE_POLICY, build_message, render_email
    from include.common.messages import OutboxRow
    from include.common.smtp import wire_bytes

    image = inline_png("views-30d", sparkline_png([1, 3, 2]))
    dotted = alert("wire:1", detail=".starts with a dot\n..and two")
    report = report_with_chart("wire:2", image)
    health = render_email(dotted.domain, dotted.template, dotted.context)
    chart = render_email(report.domain, report.template, report.context)
    rows = [
        OutboxRow(1, "wire:1", "email", "platform", "ops@jobyard.local", health.subject, health.text, health.html,
                  None, 0),
        OutboxRow(2, "wire:2", "email", "videos", "ada@creators.test", chart.subject, chart.text, chart.html,
                  inline_images_payload((image,), chart.html, "wire:2"), 0),
        OutboxRow(3, "wire:ü:3", "email", "platform", "ops@jobyard.local", "Grüße — état ✓", health.text,
                  health.html, None, 0),
        OutboxRow(4, "wire:4", "email", "social", "ops@jobyard.local", "text only", ".a\r\nb\rc\n", None, None, 0),
    ]
    for row in rows:
        msg = build_message(row, "jobyard@localhost")
        fast = wire_bytes(msg)  # sets the boundaries the generator then reuses
        assert fast == msg.as_bytes(policy=WIRE_POLICY), row.dedupe_key
        assert b"\n" not in fast.replace(b"\r\n", b"")


def test_several_connections_share_a_backlog_and_send_each_message_once(clean, sink):
    _, control = sink
    with psycopg.connect(clean) as conn:
        enqueue(conn, [alert(f"pool:{i}", to=f"user{i}@example.com") for i in range(400)])
        conn.commit()
    report = deliver_pending(clean, smtp_sender(sink[0].smtp_port), None, batch_size=40, connections=4)
    assert (report.sent, report.failed, report.dead) == (400, 0, 0)
    assert report.connections > 1 and report.processes == 1  # a full claim opened another connection
    assert keys_at_sink(control) == {f"pool:{i}": 1 for i in range(400)}
    assert status_counts(clean) == {"sent": 400}


def test_helper_processes_join_a_large_backlog(clean, sink):
    _, control = sink
    with psycopg.connect(clean) as conn:
        enqueue(conn, [alert(f"helper:{i}", to=f"user{i}@example.com") for i in range(300)])
        conn.commit()
    report = deliver_pending(clean, smtp_sender(sink[0].smtp_port), None, batch_size=20, connections=2,
                             processes=2, processes_from=300)
    assert (report.sent, report.failed, report.dead) == (300, 0, 0)
    assert report.processes == 2 and len(report.helper_peak_rss_mb) == 1
    assert keys_at_sink(control) == {f"helper:{i}": 1 for i in range(300)}
    small = deliver_pending(clean, smtp_sender(sink[0].smtp_port), None, processes=2, processes_from=300)
    assert small.processes == 1  # nothing due: no helper started


# -- recovery after an outage --------------------------------------------------------------------

def test_after_an_smtp_outage_held_back_messages_go_on_the_first_sweep(clean, tmp_path):
    port = devenv.free_port()  # SMTP is down
    with psycopg.connect(clean) as conn:
        enqueue(conn, [alert(f"outage:{i}", to=f"user{i}@example.com") for i in range(20)])
        conn.commit()
    report = deliver_pending(clean, smtp_sender(port), None)
    assert (report.sent, report.failed) == (0, 20)
    assert all(r["unreachable"] and r["status"] == "pending" for r in rows(clean))
    assert deliver_pending(clean, smtp_sender(port), None).sent == 0  # still down: the probe fails, no attempt
    assert {r["attempts"] for r in rows(clean)} == {1}

    handle = start_in_thread(devenv.free_port(), port, tmp_path / "sandbox")  # SMTP is back; no time passes
    try:
        from sandbox.client import SandboxControl

        receipt = deliver_notifications(clean, smtp_sender(port), None, [OWNER])  # the sweeper's use case
        arrived = keys_at_sink(SandboxControl(handle.base_url))
    finally:
        handle.stop()
    assert receipt["sent"] == 20 and receipt["backlog"]["pending"] == 0
    assert arrived == {f"outage:{i}": 1 for i in range(20)}
    assert all(r["status"] == "sent" and r["attempts"] == 2 and not r["unreachable"] for r in rows(clean))


class ScriptedSender:
    """Refuses (temporarily, 4xx: not unreachable) the recipients in `refuse`, and fails the ones
    in `unreachable` as if the server could not be reached; sends the rest to `inner`."""

    def __init__(self, inner, refuse=(), unreachable=()):
        self.inner, self.refuse, self.unreachable = inner, set(refuse), set(unreachable)

    def send(self, row):
        from include.common.smtp import SmtpFailed

        if row.recipient in self.refuse:
            raise SmtpFailed("SMTP refused data: 451 try again later")
        if row.recipient in self.unreachable:
            raise SmtpFailed("cannot connect to SMTP", unreachable=True)  # not channel_down: the rest goes on
        return self.inner.send(row)

    def close(self):
        self.inner.close()


def test_refused_messages_keep_their_backoff_when_the_server_answers(clean, sink):
    _, control = sink
    with psycopg.connect(clean) as conn:
        enqueue(conn, [alert("mixed:held", to="held@example.com"), alert("mixed:refused", to="refused@example.com")])
        conn.commit()
    first = deliver_pending(clean, ScriptedSender(smtp_sender(sink[0].smtp_port), refuse={"refused@example.com"},
                                                  unreachable={"held@example.com"}), None)
    assert (first.sent, first.failed) == (0, 2)
    held, refused = rows(clean)
    assert held["unreachable"] and not refused["unreachable"]
    with psycopg.connect(clean) as conn:  # a new message: its send shows the server answers
        enqueue(conn, [alert("mixed:new", to="new@example.com")])
        conn.commit()
    # No probe (this sender has none): the first successful send on the channel lets the held one go.
    second = deliver_pending(clean, ScriptedSender(smtp_sender(sink[0].smtp_port)), None, batch_size=1)
    assert second.sent == 2
    assert set(keys_at_sink(control)) == {"mixed:new", "mixed:held"}
    by_key = {r["dedupe_key"]: r for r in rows(clean)}
    assert by_key["mixed:refused"]["status"] == "pending" and by_key["mixed:refused"]["attempts"] == 1
    with psycopg.connect(clean) as conn:
        wait = conn.execute("SELECT next_attempt_at - now() FROM platform.outbox WHERE dedupe_key = 'mixed:refused'"
                            ).fetchone()[0]
    assert wait > timedelta(seconds=250)  # its 5-minute backoff stands


def test_recurring_mail_carries_one_click_unsubscribe_on_the_wire_and_transactional_mail_does_not(clean, sink):
    """A digest built with its signed link: the RFC 8058 headers arrive at the SMTP sink (parsed
    from the wire), the same link is in the text and HTML bodies and verifies for its user;
    a health alert (transactional) has neither header."""
    from datetime import UTC, datetime, timedelta
    from email import message_from_bytes

    from include.common.unsubscribe import UnsubscribeLinks, token_of_url, verify
    from include.social.digest import _message

    key = "outbox-test-signing-key-000000000"
    links = UnsubscribeLinks.for_domain("social", key, {"social": "https://social.example.test/unsubscribe"})
    start = datetime(2026, 3, 2, tzinfo=UTC)
    row = {"user_id": 42, "email": "ada@social.test", "username": "ada", "full_name": "Ada", "posts": [
        {"post_id": 1, "author_username": "bob", "author_name": "Bob", "excerpt": "hello", "likes": 2,
         "comments": 1, "score": 5}]}
    digest = _message(row, start, start + timedelta(days=7), links)
    _, control = sink
    with psycopg.connect(clean) as conn:
        with pytest.raises(ValueError, match="https"):
            enqueue(conn, [OutboxMessage("bad:url", "email", "social", "a@b.c", "social/digest", digest.context,
                                         unsubscribe_url="http://social.example.test/u?token=x")])
        with pytest.raises(ValueError, match="push has no List-Unsubscribe"):
            enqueue(conn, [OutboxMessage("push:u", "push", "social", "token-1", "social/welcome", {},
                                         unsubscribe_url=digest.unsubscribe_url)])
        assert enqueue(conn, [digest, alert("health:db:down:9")]) == 2
        conn.commit()
    assert deliver_pending(clean, smtp_sender(sink[0].smtp_port), None).sent == 2
    mails = {m["dedupe_key"]: m for m in control.emails()}
    url = digest.unsubscribe_url
    wire = mails["digest:42:2026-W10"]
    assert wire["headers"]["List-Unsubscribe"] == f"<{url}>"
    assert wire["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"Unsubscribe with one click: {url}" in wire["text"]
    assert f'href="{url.replace("&", "&amp;")}"' in wire["html"]
    assert verify(token_of_url(url), key, domain="social").user_id == "42"
    alert_mail = mails["health:db:down:9"]
    assert "List-Unsubscribe" not in alert_mail["headers"] and "List-Unsubscribe-Post" not in alert_mail["headers"]
    assert "Unsubscribe" not in alert_mail["text"]
    # and the message as build_message puts it on the wire (unfolded: RFC 5322's 998 limit), parsed back
    from include.common.email import WIRE_POLICY, build_message

    [stored] = [r for r in rows(clean) if r["dedupe_key"] == "digest:42:2026-W10"]
    from include.common.messages import OutboxRow

    built = build_message(OutboxRow(
        stored["id"], stored["dedupe_key"], "email", "social", stored["recipient"], stored["subject"],
        stored["body_text"], stored["body_html"], stored["payload"], 0), "jobs@social.test")
    parsed = message_from_bytes(built.as_bytes(policy=WIRE_POLICY))
    assert parsed["List-Unsubscribe"] == f"<{url}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
