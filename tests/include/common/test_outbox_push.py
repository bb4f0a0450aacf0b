"""Pushes through the sandbox's FCM HTTP v1: success, UNREGISTERED -> dead at once with the
reason (and one owner alert), 429 -> retried after Retry-After, service-account OAuth."""

from __future__ import annotations

import pickle
import socket
from datetime import timedelta

import psycopg
import pytest

from include.common.delivery import deliver_pending
from include.common.outbox import OutboxMessage, enqueue
from include.common.push import FcmSender, ServiceAccountToken, StaticToken
from include.platform.notifications import deliver_notifications
from tests.include.common import conftest_outbox
from tests.include.common.conftest_outbox import (
    OWNER,
    rows,
    smtp_sender,
    status_counts,
)
from tools import devenv

# The fixtures this module uses (pytest finds them as module attributes).
outbox_db, sink, clean = conftest_outbox.outbox_db, conftest_outbox.sink, conftest_outbox.clean

PROJECT = "jobyard-demo"


def push(key: str, token: str, ok: bool = False) -> OutboxMessage:
    return OutboxMessage(
        dedupe_key=key, channel="push", domain="platform", recipient=token, template="platform/health_alert",
        context={"check_name": "database", "target": "platform_db", "ok": ok, "detail": "latency 900 ms",
                 "changed_at": "2026-01-05T10:15:00+00:00", "data": {"check": "database", "attempt": 1}},
    )


def fcm(handle, token_provider=None) -> FcmSender:
    return FcmSender(handle.base_url, PROJECT, token_provider or StaticToken("sandbox-token"), timeout=(2, 5))


def enqueue_all(dsn: str, messages: list[OutboxMessage]) -> None:
    with psycopg.connect(dsn) as conn:
        enqueue(conn, messages)
        conn.commit()


def test_push_success_and_unregistered_goes_dead_at_once_with_an_alert(clean, sink):
    handle, control = sink
    enqueue_all(clean, [push("push:ok", "device-1"), push("push:gone", "invalid-device-2")])
    receipt = deliver_notifications(clean, smtp_sender(handle.smtp_port), fcm(handle), [OWNER])
    assert receipt["sent"] == 2 and receipt["dead"] == 1 and receipt["alerts_queued"] == 1  # push + alert
    [sent_push] = control.pushes()
    assert sent_push["token"] == "device-1" and sent_push["project_id"] == PROJECT
    assert sent_push["notification"] == {"title": "database platform_db is down",
                                         "body": "latency 900 ms (since 2026-01-05T10:15:00+00:00)"}
    assert sent_push["data"] == {"check": "database", "attempt": "1"}  # FCM data values are strings
    ok, gone, alert = rows(clean)
    assert ok["status"] == "sent"
    assert gone["status"] == "dead" and gone["attempts"] == 1  # no retries for a dead token
    assert "404" in gone["last_error"] and "UNREGISTERED" in gone["last_error"]
    assert alert["recipient"] == OWNER and alert["status"] == "sent"
    [mail] = control.emails(to=OWNER)
    assert "1 notification could not be delivered" in mail["subject"] and "UNREGISTERED" in mail["text"]

    again = deliver_notifications(clean, smtp_sender(handle.smtp_port), fcm(handle), [OWNER])
    assert (again["sent"], again["dead"], again["alerts_queued"]) == (0, 0, 0)
    assert len(control.pushes()) == 1 and len(control.emails()) == 1


def test_429_is_retried_after_retry_after(clean, sink):
    handle, control = sink
    control.set_faults("fcm", status_429=1, retry_after=120)
    enqueue_all(clean, [push("push:throttled:1", "device-1"), push("push:throttled:2", "device-2")])
    report = deliver_pending(clean, None, fcm(handle), backoff_seconds=1)
    assert (report.sent, report.failed, report.dead) == (0, 2, 0)
    assert "429" in report.channels_down["push"]
    with psycopg.connect(clean) as conn:
        wait = conn.execute("SELECT min(next_attempt_at - now()) FROM platform.outbox").fetchone()[0]
    assert wait > timedelta(seconds=100)  # Retry-After beat the 1 s backoff
    assert control.pushes() == []
    assert not any(r["unreachable"] for r in rows(clean))  # throttled, not unreachable: no early retry ...
    assert deliver_pending(clean, None, fcm(handle)).sent == 0  # ... although FCM answers again
    with psycopg.connect(clean, autocommit=True) as conn:
        conn.execute("UPDATE platform.outbox SET next_attempt_at = now()")
    assert deliver_pending(clean, None, fcm(handle)).sent == 2
    assert sorted(p["token"] for p in control.pushes()) == ["device-1", "device-2"]


def test_service_account_token_from_the_oauth_endpoint(clean, sink):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    handle, control = sink
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    account = {"client_email": "fcm@jobyard-demo.iam.gserviceaccount.com", "private_key": pem,
               "private_key_id": "k1", "token_uri": "https://oauth2.googleapis.com/token"}
    tokens = ServiceAccountToken(account, token_uri=f"{handle.base_url}/token")
    enqueue_all(clean, [push("push:sa:1", "device-9"), push("push:sa:2", "device-10")])
    assert deliver_pending(clean, None, fcm(handle, tokens)).sent == 2
    [grant] = control.requests("google_oauth")  # one token, cached for both sends
    assert grant["body"]["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    sends = control.requests("fcm")
    assert len(sends) == 2
    assert all(s["headers"].get("authorization", "").startswith("Bearer sandbox-") for s in sends)


def test_bad_push_data_is_refused_at_enqueue(clean):
    bad = OutboxMessage("push:bad", "push", "platform", "device-1", "platform/health_alert",
                        {"check_name": "x", "target": "y", "ok": True, "changed_at": "now",
                         "data": ["not", "a", "map"]})
    with psycopg.connect(clean) as conn, pytest.raises(ValueError, match="'data' must be a dict"):
        enqueue(conn, [bad])


def test_a_refusal_handler_gets_the_dead_tokens_and_its_rows_raise_no_alert(clean, sink):
    handle, control = sink
    enqueue_all(clean, [push("push:ok", "device-1"), push("push:gone", "invalid-device-2"),
                        push("push:other", "invalid-device-3")])
    seen = []

    def handler(dsn, refused):
        seen.extend(refused)
        return {"handled_ids": [d["id"] for d in refused if d["recipient"] == "invalid-device-2"], "deactivated": 1}

    receipt = deliver_notifications(clean, smtp_sender(handle.smtp_port), fcm(handle), [OWNER],
                                    on_permanent_refusal=handler)
    assert sorted((d["recipient"], d["error_code"], d["channel"], d["domain"], d["permanent"]) for d in seen) == [
        ("invalid-device-2", "UNREGISTERED", "push", "platform", True),
        ("invalid-device-3", "UNREGISTERED", "push", "platform", True)]
    assert receipt["dead"] == 2 and receipt["refusals"] == {"deactivated": 1, "handled": 1}
    [mail] = control.emails(to=OWNER)  # about the unhandled one only
    assert "push:other" in mail["text"] and "push:gone" not in mail["text"]


def test_pushes_over_several_connections_and_helper_processes_each_once(clean, sink):
    handle, control = sink
    enqueue_all(clean, [push(f"push:many:{i}", f"device-{i}") for i in range(300)])
    report = deliver_pending(clean, None, fcm(handle), batch_size=25, connections=4, processes=2, processes_from=300)
    assert (report.sent, report.failed, report.dead) == (300, 0, 0)
    assert report.processes == 2 and report.connections > 2
    tokens = [p["token"] for p in control.pushes()]
    assert sorted(tokens) == sorted(f"device-{i}" for i in range(300))  # each once
    assert status_counts(clean) == {"sent": 300}


def test_after_an_fcm_outage_held_back_pushes_go_on_the_first_sweep(clean, sink):
    handle, control = sink
    enqueue_all(clean, [push("push:outage:1", "device-1"), push("push:outage:2", "device-2")])
    down = FcmSender(f"http://127.0.0.1:{devenv.free_port()}", PROJECT, StaticToken("sandbox-token"), timeout=(2, 5))
    report = deliver_pending(clean, None, down)
    assert (report.sent, report.failed) == (0, 2) and "unreachable" in report.channels_down["push"]
    assert all(r["unreachable"] and r["attempts"] == 1 for r in rows(clean))
    assert deliver_pending(clean, None, down).sent == 0  # still unreachable: the probe fails, no attempt spent
    again = deliver_pending(clean, None, fcm(handle))  # FCM answers: no waiting for the 5-minute backoff
    assert again.sent == 2
    assert sorted(p["token"] for p in control.pushes()) == ["device-1", "device-2"]
    assert all(r["status"] == "sent" and r["attempts"] == 2 for r in rows(clean))


def test_a_keep_alive_connection_the_server_closed_is_reopened_once(clean, sink):
    handle, control = sink
    sender = fcm(handle)
    enqueue_all(clean, [push("push:ka:1", "device-1")])
    sender.probe()  # opens the connection
    sender._conn.sock.shutdown(socket.SHUT_RDWR)  # ... which the server (or a NAT) then closed
    assert deliver_pending(clean, None, sender, connections=1).sent == 1
    assert [p["token"] for p in control.pushes()] == ["device-1"]


def test_senders_cross_to_a_helper_process_without_their_connections(sink):
    handle, _ = sink
    tokens = ServiceAccountToken({"client_email": "a@b.iam", "private_key": "x"}, token_uri=f"{handle.base_url}/t")
    sender = FcmSender(handle.base_url, PROJECT, tokens)
    twin = pickle.loads(pickle.dumps(sender.clone()))
    assert twin.url == sender.url and twin._conn is None
    assert twin.token_provider.token_uri == tokens.token_uri and twin.token_provider._token is None
    mail = pickle.loads(pickle.dumps(smtp_sender(handle.smtp_port)))
    assert (mail.host, mail.port, mail._smtp) == ("127.0.0.1", handle.smtp_port, None)
