"""Outbox throughput and exactly-once, against a naive per-message SMTP loop.

On a fresh app database, for each receiver:

1. enqueue N "platform/health_alert" emails with include/common/outbox.enqueue in one
   transaction (render + set-based INSERT + commit), timed;
2. deliver_pending with an SmtpSender built the way include/orchestration/notify.py builds
   it from the dev `smtp_default` connection (one SMTP connection per run; every message
   claimed, sent and recorded `sent` in its own commit), timed;
3. a second deliver_pending, which must send 0; every row must be `sent`;
4. the naive baseline: for each of NAIVE messages (already rendered, as outbox rows are)
   build the message, open an SMTP connection with smtplib, send, QUIT; no bookkeeping
   (half of them just before step 2, half after step 3, so that load changes of a shared
   machine hit both sides alike). Reported: messages/s of each, outbox delivery / naive,
   and the client process's CPU time per message of each.

Receivers: the sandbox's SMTP sink (as in dev and tests; it parses and stores every
message, so it bounds both rates at a few hundred per second), then a discarding SMTP
server in the same helper process, where the client's own costs show. At the sandbox sink
every outbox dedupe key must arrive exactly once (its emails.jsonl is read back); the
discard sink must count exactly N + NAIVE messages.
"""

from __future__ import annotations

import json
import smtplib
import time
from collections import Counter

from bench._harness import bench_database, main, rate, sandbox, say

NAME = "common_outbox"
N = 5000
NAIVE = 500


def alert(i: int, prefix: str):
    from include.common.outbox import OutboxMessage

    ok = i % 2 == 1
    return OutboxMessage(
        dedupe_key=f"{prefix}{i}", channel="email", domain="platform", recipient=f"user{i}@example.com",
        template="platform/health_alert",
        context={"check_name": "database", "target": f"platform_db_{i % 7}", "ok": ok,
                 "detail": "cannot connect" if not ok else "", "changed_at": "2026-01-05T10:15:00+00:00",
                 "value": 3.2 if ok else None, "unit": "ms"},
    )


def smtp_sender(smtp_port: int):
    """notify.email_sender() for the dev `smtp_default` connection (tools/devenv.connections),
    without Airflow: the same fields, the same extras, the same defaults."""
    from include.common.smtp import SmtpSender
    from tools import devenv

    conn = devenv.connections("", "", None, sandbox_smtp=smtp_port)["smtp_default"]
    extra = conn["extra"]
    use_ssl, use_tls = not extra.get("disable_ssl", False), not extra.get("disable_tls", False)
    return SmtpSender(host=conn["host"], port=conn["port"] or (465 if use_ssl else 587),
                      username=conn["login"] or None, password=conn["password"] or None,
                      use_tls=use_tls, use_ssl=use_ssl, from_email=extra["from_email"],
                      timeout=float(extra.get("timeout", 30)))


def naive_rows(count: int, prefix: str) -> list:
    """The baseline's messages, rendered beforehand (the outbox renders at enqueue too)."""
    from include.common.email import render_email
    from include.common.messages import OutboxRow

    rows = []
    for i in range(count):
        msg = alert(i, prefix)
        email = render_email(msg.domain, msg.template, msg.context)
        rows.append(OutboxRow(id=i, dedupe_key=msg.dedupe_key, channel="email", domain=msg.domain,
                              recipient=msg.recipient, subject=email.subject, body_text=email.text,
                              body_html=email.html, payload=None, attempts=0))
    return rows


def naive_send(rows: list, host: str, port: int, from_email: str) -> None:
    """A connection per message: connect, EHLO, MAIL, RCPT, DATA, QUIT."""
    from include.common.email import WIRE_POLICY, build_message

    for row in rows:
        payload = build_message(row, from_email).as_bytes(policy=WIRE_POLICY)
        with smtplib.SMTP(host, port, timeout=10) as smtp:
            refused = smtp.sendmail(from_email, [row.recipient], payload)
            if refused:
                raise RuntimeError(f"receiver refused {refused}")


def sink_keys(path) -> Counter:
    """How often each dedupe key reached the sandbox's SMTP sink (its JSON-lines file)."""
    counts: Counter = Counter()
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            counts[json.loads(line).get("dedupe_key")] += 1
    return counts


def _timed(fn, *args) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) of fn(*args)."""
    started, cpu = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - started, time.process_time() - cpu


def one_receiver(dsn: str, label: str, host: str, port: int, failures: list[str]) -> dict:
    """Enqueue N, naive half, deliver, deliver again, naive half: all to one SMTP receiver."""
    import psycopg

    from include.common.delivery import deliver_pending
    from include.common.outbox import enqueue

    prefix = f"bench:{label}:"
    messages = [alert(i, prefix) for i in range(N)]
    started = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        new = enqueue(conn, messages)
        conn.commit()
    enqueue_s = time.perf_counter() - started
    if new != N:
        failures.append(f"{label}: enqueue made {new} new rows, expected {N}")

    # The naive loop runs half before and half after the delivery, so that a change of the
    # machine's load during the run (other processes on the same cores) biases neither side.
    rows = naive_rows(NAIVE, f"bench:{label}-naive:")
    sender = smtp_sender(port)
    naive_s, naive_cpu = _timed(naive_send, rows[:NAIVE // 2], host, port, sender.from_email)
    started, cpu = time.perf_counter(), time.process_time()
    first = deliver_pending(dsn, sender, None)
    deliver_s, deliver_cpu = time.perf_counter() - started, time.process_time() - cpu
    if (first.sent, first.failed, first.dead) != (N, 0, 0):
        failures.append(f"{label}: first delivery {first.as_dict()}, expected {N} sent and no failure")

    started = time.perf_counter()
    second = deliver_pending(dsn, smtp_sender(port), None)
    second_s = time.perf_counter() - started
    if (second.sent, second.failed, second.dead) != (0, 0, 0):
        failures.append(f"{label}: second delivery sent again: {second.as_dict()}")
    with psycopg.connect(dsn) as conn:
        statuses = dict(conn.execute("SELECT status, count(*) FROM platform.outbox WHERE dedupe_key LIKE %s "
                                     "GROUP BY status", (prefix + "%",)).fetchall())
    if statuses != {"sent": N}:
        failures.append(f"{label}: outbox rows by status {statuses}, expected {{'sent': {N}}}")

    seconds, cpu = _timed(naive_send, rows[NAIVE // 2:], host, port, sender.from_email)
    naive_s, naive_cpu = naive_s + seconds, naive_cpu + cpu
    out = {
        "key_prefix": prefix,
        "enqueue": {"seconds": round(enqueue_s, 3), "messages_per_s": round(rate(N, enqueue_s), 1)},
        "deliver": {"seconds": round(deliver_s, 3), "messages_per_s": round(rate(N, deliver_s), 1),
                    "client_cpu_ms_per_message": round(1000 * deliver_cpu / N, 3), "report": first.as_dict()},
        "second_deliver": {"seconds": round(second_s, 3), "report": second.as_dict()},
        "naive": {"seconds": round(naive_s, 3), "messages_per_s": round(rate(NAIVE, naive_s), 1),
                  "client_cpu_ms_per_message": round(1000 * naive_cpu / NAIVE, 3)},
        "outbox_over_naive": round(rate(N, deliver_s) / rate(NAIVE, naive_s), 3),
        "rows_by_status": statuses,
    }
    say(f"{label}: enqueue {out['enqueue']['messages_per_s']:.0f}/s, deliver {out['deliver']['messages_per_s']:.0f}/s, "
        f"second deliver sent {second.sent}, naive {out['naive']['messages_per_s']:.0f}/s")
    return out


def run() -> dict:
    failures: list[str] = []
    with bench_database() as dsn, sandbox(discard_sink=True) as box:
        at_sink = one_receiver(dsn, "sink", box.host, box.smtp_port, failures)
        keys = sink_keys(box.emails_file)
        outbox_keys = {k: c for k, c in keys.items() if k and k.startswith(at_sink["key_prefix"])}
        naive_count = sum(c for k, c in keys.items() if k and k.startswith("bench:sink-naive:"))
        duplicates = sum(1 for c in outbox_keys.values() if c > 1)
        at_sink["sink"] = {"outbox_keys": len(outbox_keys), "duplicates": duplicates, "naive": naive_count}
        if len(outbox_keys) != N or duplicates:
            failures.append(f"sink got {len(outbox_keys)} distinct outbox keys of {N}, {duplicates} more than once")
        if naive_count != NAIVE:
            failures.append(f"sink got {naive_count} naive messages of {NAIVE}")
        at_discard = one_receiver(dsn, "discard", box.host, box.discard_smtp_port, failures)
    at_discard["received"] = box.discard_received
    if box.discard_received != N + NAIVE:
        failures.append(f"discard sink received {box.discard_received} messages, expected {N + NAIVE}")

    summary = [[f"enqueue {N} (render + INSERT + commit)", round(at_sink["enqueue"]["messages_per_s"]), "msg/s"]]
    for label, r in (("sandbox sink", at_sink), ("discard sink", at_discard)):
        summary += [
            [f"{label}: deliver_pending {N}", round(r["deliver"]["messages_per_s"]), "msg/s"],
            [f"{label}: second deliver_pending sent", r["second_deliver"]["report"]["sent"], "msg"],
            [f"{label}: naive connection per message ({NAIVE})", round(r["naive"]["messages_per_s"]), "msg/s"],
            [f"{label}: outbox delivery / naive", round(r["outbox_over_naive"], 2), "x"],
            [f"{label}: client CPU per message, outbox / naive",
             f"{r['deliver']['client_cpu_ms_per_message']:.2f} / {r['naive']['client_cpu_ms_per_message']:.2f}", "ms"],
        ]
    summary.insert(3, ["sandbox sink: keys received once / duplicates", f"{len(outbox_keys)} / {duplicates}", ""])
    return {
        "summary": summary,
        "details": {
            "messages": N, "naive_messages": NAIVE, "template": "platform/health_alert",
            "batch_size": 100, "sender": "SmtpSender from the dev smtp_default connection (no TLS, no login)",
            "naive": "build message + smtplib.SMTP() + sendmail + QUIT per message, no database",
            "sandbox_sink": at_sink, "discard_sink": at_discard,
        },
        "failures": failures,
        "peak_rss_mb": {"sandbox_process": box.peak_rss_mb},
    }


if __name__ == "__main__":
    main(NAME, run)
