"""fitness_send_inactive_user_reminders end to end with dag.test() against the sandbox's FCM:
users without a workout in the 7 days before the run get one reminder per device, the
never-worked-out ones another text; over a backfill of 10 consecutive days (each run retried,
and run out of order) nobody gets two reminders within 7 days, so at most 2 each."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import psycopg

from tests.e2e.conftest import run_dag, task_result, task_states
from tests.e2e.fitness_pushes import fx, new_tag

DAG_ID = "fitness_send_inactive_user_reminders"


def _world(app_db, tag: str, first_day: date) -> dict[str, int]:
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)
    ids = {}
    with psycopg.connect(app_db) as conn:
        for name in ("never", "lapsed", "daily", "opted", "returns"):
            ids[name] = fx.user(conn, f"{name} {tag}", opt_out=name == "opted")
            fx.device(conn, ids[name], f"tok-{tag}-{name}")
        fx.workout(conn, ids["lapsed"], start - timedelta(days=30), 30, 200)
        for d in range(-8, 12):  # every evening
            fx.workout(conn, ids["daily"], start + timedelta(days=d, hours=18), 30, 200)
        fx.workout(conn, ids["returns"], start - timedelta(days=20), 30, 200)
        fx.workout(conn, ids["returns"], start + timedelta(days=3, hours=18), 30, 200)  # back on day 4
    return ids


def _reminders(sandbox, tag: str) -> Counter:
    return Counter(p["token"].rsplit("-", 1)[1] for p in sandbox.pushes() if tag in p["token"])


def test_reminders_over_a_10_day_backfill_never_twice_within_7_days(repo_dags, app_db, sandbox):
    tag = new_tag()
    first = date(2026, 6, 1)
    ids = _world(app_db, tag, first)
    dag = repo_dags[DAG_ID]
    days = [first + timedelta(days=n) for n in range(10)]
    # The backfill in order, each day cleared and re-run once, then three days again out of order.
    for day in [d for d in days for _ in range(2)] + [days[8], days[2], days[5]]:
        run = run_dag(dag, datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=10))
        assert run.state == "success", task_states(run)
    with psycopg.connect(app_db) as conn:
        logged: dict[int, list[date]] = {}
        for uid, day in conn.execute("SELECT user_id, sent_for FROM fitness.reminder_log WHERE user_id = ANY(%s) "
                                     "ORDER BY sent_for", (list(ids.values()),)).fetchall():
            logged.setdefault(uid, []).append(day)
    for uid, sent in logged.items():
        assert len(sent) <= 2 and all(abs((a - b).days) >= 7 for a in sent for b in sent if a != b), (uid, sent)
    assert logged == {ids["never"]: [date(2026, 6, 1), date(2026, 6, 8)],
                      ids["lapsed"]: [date(2026, 6, 1), date(2026, 6, 8)],
                      ids["returns"]: [date(2026, 6, 1)]}  # worked out on 06-04: active for the 06-08 run
    assert _reminders(sandbox, tag) == {"never": 2, "lapsed": 2, "returns": 1}  # one push per logged reminder

    texts = {p["notification"]["body"] for p in sandbox.pushes() if p["token"] == f"tok-{tag}-never"}
    assert texts == {f"You haven't logged a workout yet, never {tag}. Start your fitness journey today!"}
    lapsed = [p for p in sandbox.pushes() if p["token"] == f"tok-{tag}-lapsed"]
    assert all(p["notification"]["body"].startswith("It's been ") for p in lapsed)
    assert all(p["data"]["never_worked_out"] == "false" and int(p["data"]["days_inactive"]) >= 7 for p in lapsed)


def test_a_rerun_reminds_nobody_twice(repo_dags, app_db, sandbox):
    tag = new_tag()
    day = date(2026, 7, 1)
    ids = _world(app_db, tag, day)
    dag = repo_dags[DAG_ID]
    at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=10)
    run = run_dag(dag, at)
    assert run.state == "success", task_states(run)
    assert task_result(run, "queue_reminders")["day"] == "2026-07-01"
    again = run_dag(dag, at)
    assert again.state == "success", task_states(again)
    assert _reminders(sandbox, tag) == {"never": 1, "lapsed": 1, "returns": 1}
    with psycopg.connect(app_db) as conn:
        rows = conn.execute("SELECT user_id FROM fitness.reminder_log WHERE user_id = ANY(%s) AND sent_for = %s",
                            (list(ids.values()), day)).fetchall()
    assert sorted(r[0] for r in rows) == sorted([ids["never"], ids["lapsed"], ids["returns"]])
