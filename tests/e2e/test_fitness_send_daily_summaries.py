"""fitness_send_daily_summaries end to end with dag.test() against the sandbox's FCM: the
06:00 run pushes yesterday's totals to every active device of users active yesterday, once;
a dead token deactivates its device without an owner alert; a 429's Retry-After is waited
out; quota running out in the middle of the pushes loses nothing and repeats nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from include.common import push
from tests.e2e.conftest import run_dag, task_result, task_states
from tests.e2e.fitness_pushes import fx, make_due_now, new_tag, pushes_by_token, statuses

DAG_ID = "fitness_send_daily_summaries"


def _active_users(app_db, tag: str, day: datetime, count: int, devices: int = 1) -> dict[int, list[str]]:
    """`count` users with a workout on `day` (UTC midnight) and `devices` tokens each."""
    out = {}
    with psycopg.connect(app_db) as conn:
        for i in range(count):
            uid = fx.user(conn, f"Runner {tag} {i}")
            out[uid] = [f"tok-{tag}-{i}-{d}" for d in range(devices)]
            for token in out[uid]:
                fx.device(conn, uid, token)
            fx.workout(conn, uid, day + timedelta(hours=8), 30 + i, 200 + i)
    return out


def test_yesterdays_summary_once_per_active_device(repo_dags, app_db, sandbox):
    tag = new_tag()
    yesterday = datetime(2026, 4, 1, tzinfo=UTC)
    with psycopg.connect(app_db) as conn:
        ana = fx.user(conn, f"Ana {tag}")
        for token, active in ((f"tok-{tag}-a1", True), (f"tok-{tag}-a2", True), (f"tok-{tag}-a3", False)):
            fx.device(conn, ana, token, active=active)
        fx.workout(conn, ana, yesterday + timedelta(hours=6), 40, 300)
        fx.workout(conn, ana, yesterday + timedelta(hours=23, minutes=59), 20, 150)
        fx.workout(conn, ana, yesterday + timedelta(days=1, hours=5), 99, 999)  # today, before the run
        opted = fx.user(conn, f"Opted {tag}", opt_out=True)
        fx.device(conn, opted, f"tok-{tag}-opted")
        fx.workout(conn, opted, yesterday + timedelta(hours=9), 30, 200)
        idle = fx.user(conn, f"Idle {tag}")
        fx.device(conn, idle, f"tok-{tag}-idle")
        fx.workout(conn, idle, yesterday - timedelta(hours=1), 30, 200)  # the day before yesterday
    dag = repo_dags[DAG_ID]
    run = run_dag(dag, yesterday + timedelta(days=1, hours=6))  # the 06:00 run of 2026-04-02
    assert run.state == "success", task_states(run)
    receipt = task_result(run, "queue_summaries")
    assert receipt["day"] == "2026-04-01" and receipt["queued"] >= 2

    assert pushes_by_token(sandbox, tag) == {f"tok-{tag}-a1": 1, f"tok-{tag}-a2": 1}
    [first] = [p for p in sandbox.pushes() if p["token"] == f"tok-{tag}-a1"]
    assert first["notification"] == {
        "title": "Your Wednesday: 2 workouts, 60 min",
        "body": f"Ana {tag}, yesterday (2026-04-01) you logged 2 workouts: 60 minutes and 450 kcal. Keep it up!"}
    assert first["data"] == {"type": "daily_summary", "day": "2026-04-01", "workouts": "2", "minutes": "60",
                             "calories": "450"}

    rerun = run_dag(dag, yesterday + timedelta(days=1, hours=6))  # a clear or backfill of the day
    assert rerun.state == "success", task_states(rerun)
    assert task_result(rerun, "queue_summaries")["skipped_already_queued"] >= 2
    assert pushes_by_token(sandbox, tag) == {f"tok-{tag}-a1": 1, f"tok-{tag}-a2": 1}


def test_dead_token_deactivates_its_device_and_is_not_retried_or_alerted(repo_dags, app_db, sandbox):
    tag = new_tag()
    yesterday = datetime(2026, 4, 5, tzinfo=UTC)
    with psycopg.connect(app_db) as conn:
        duo = fx.user(conn, f"Duo {tag}")
        fx.device(conn, duo, f"invalid-{tag}-duo")
        fx.device(conn, duo, f"tok-{tag}-duo")
        solo = fx.user(conn, f"Solo {tag}")
        fx.device(conn, solo, f"invalid-{tag}-solo")
        for uid in (duo, solo):
            fx.workout(conn, uid, yesterday + timedelta(hours=10), 30, 200)
    dag = repo_dags[DAG_ID]
    run = run_dag(dag, yesterday + timedelta(days=1, hours=6))
    assert run.state == "success", task_states(run)
    delivery = task_result(run, "deliver_notifications")
    assert delivery["refusals"]["devices_deactivated"] >= 2 and delivery["refusals"]["users_without_devices"] >= 1

    assert pushes_by_token(sandbox, tag) == {f"tok-{tag}-duo": 1}
    assert statuses(app_db, tag) == {"sent": 1, "dead": 2}
    with psycopg.connect(app_db) as conn:
        devices = {token: (active, reason) for token, active, reason in conn.execute(
            "SELECT fcm_token, is_active, deactivated_reason FROM fitness.devices WHERE fcm_token LIKE %s",
            (f"%{tag}%",)).fetchall()}
    assert devices[f"tok-{tag}-duo"] == (True, None)
    for token in (f"invalid-{tag}-duo", f"invalid-{tag}-solo"):
        active, reason = devices[token]
        assert active is False and reason.startswith("fcm UNREGISTERED (outbox ")
    # handled refusals are no delivery failure: no outbox_dead alert names them
    assert not [e for e in sandbox.emails() if "outbox_dead" in (e.get("dedupe_key") or "")
                and f"daily:{duo}:" in (e.get("text") or "")]

    sandbox.clear_requests()
    rerun = run_dag(dag, yesterday + timedelta(days=1, hours=6))
    assert rerun.state == "success", task_states(rerun)
    next_day = run_dag(dag, yesterday + timedelta(days=2, hours=6))  # no workout that day: nothing
    assert next_day.state == "success", task_states(next_day)
    sent_to = [r for r in sandbox.requests("fcm") if f"invalid-{tag}" in str(r)]
    assert sent_to == []  # a dead token is never tried again
    assert pushes_by_token(sandbox, tag) == {f"tok-{tag}-duo": 1}


def test_429_retry_after_is_waited_out_then_delivered_once(repo_dags, app_db, sandbox):
    tag = new_tag()
    yesterday = datetime(2026, 4, 10, tzinfo=UTC)
    users = _active_users(app_db, tag, yesterday, 3)
    dag = repo_dags[DAG_ID]
    sandbox.set_faults("fcm", status_429=1, retry_after=120)
    try:
        run = run_dag(dag, yesterday + timedelta(days=1, hours=6))
    finally:
        sandbox.reset_faults()
    assert run.state == "success", task_states(run)
    assert "429" in task_result(run, "deliver_notifications")["channels_down"]["push"]
    assert pushes_by_token(sandbox, tag) == {}
    with psycopg.connect(app_db) as conn:
        waits = conn.execute("SELECT min(next_attempt_at - now()) FROM platform.outbox WHERE recipient LIKE %s",
                             (f"%{tag}%",)).fetchone()[0]
    assert waits > timedelta(seconds=100)  # Retry-After (120 s) beat the outbox's own backoff start

    rerun = run_dag(dag, yesterday + timedelta(days=1, hours=6))  # before Retry-After: still waiting
    assert rerun.state == "success" and pushes_by_token(sandbox, tag) == {}
    make_due_now(app_db, tag)
    later = run_dag(dag, yesterday + timedelta(days=1, hours=6))
    assert later.state == "success", task_states(later)
    assert task_result(later, "queue_summaries")["queued"] == 0
    assert pushes_by_token(sandbox, tag) == {token: 1 for tokens in users.values() for token in tokens}


def test_quota_exhausted_mid_batch_then_a_rerun_loses_nothing_and_repeats_nothing(repo_dags, app_db, sandbox,
                                                                                   monkeypatch):
    tag = new_tag()
    yesterday = datetime(2026, 4, 15, tzinfo=UTC)
    users = _active_users(app_db, tag, yesterday, 4, devices=2)
    tokens = {token for ts in users.values() for token in ts}
    real_send = push.FcmSender.send
    mine = []

    def send_then_run_out(self, row):
        if tag in row.recipient:
            mine.append(row.recipient)
            if len(mine) == 3:  # the quota runs out after two of this test's pushes
                sandbox.set_faults("fcm", status_429=1, retry_after=30)
        return real_send(self, row)

    monkeypatch.setattr(push.FcmSender, "send", send_then_run_out)
    dag = repo_dags[DAG_ID]
    try:
        run = run_dag(dag, yesterday + timedelta(days=1, hours=6))
    finally:
        sandbox.reset_faults()
    assert run.state == "success", task_states(run)
    assert sum(pushes_by_token(sandbox, tag).values()) == 2
    assert statuses(app_db, tag) == {"sent": 2, "pending": 6}

    make_due_now(app_db, tag)
    rerun = run_dag(dag, yesterday + timedelta(days=1, hours=6))
    assert rerun.state == "success", task_states(rerun)
    assert task_result(rerun, "queue_summaries")["queued"] == 0
    assert pushes_by_token(sandbox, tag) == {token: 1 for token in tokens}
    assert statuses(app_db, tag) == {"sent": 8}
