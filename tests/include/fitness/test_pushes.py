"""The fitness push services against a real PostgreSQL, on hand-built users, devices,
workouts and challenges whose right answers are known: who gets which push on which device,
once; the 7-day reminder spacing in any run order; dead tokens deactivate their device."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from include.common.time_budget import SoftTimeLimitExceeded
from include.fitness.challenge_notifications import queue_challenge_notifications
from include.fitness.daily_summaries import queue_daily_summaries
from include.fitness.devices import deactivate_refused_tokens
from include.fitness.inactive_reminders import queue_inactive_reminders
from tests.budgets import ScriptedBudget
from tests.include.fitness import push_data as fx

DAY = date(2026, 3, 1)
START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(days=1)


@pytest.fixture
def db(fitness_db):
    fx.clean(fitness_db)
    return fitness_db


def test_daily_summary_per_active_device_of_users_with_activity(db):
    with psycopg.connect(db) as conn:
        ana = fx.user(conn, "Ana")
        a1, a2 = fx.device(conn, ana, "tok-ana-1"), fx.device(conn, ana, "tok-ana-2")
        fx.device(conn, ana, "tok-ana-old", active=False)
        fx.workout(conn, ana, START + timedelta(hours=7), 30, 250)
        fx.workout(conn, ana, END - timedelta(minutes=1), 45, 360, "cycling")  # 23:59: still that day
        fx.workout(conn, ana, END, 99, 999)  # next midnight: not that day
        fx.workout(conn, ana, START - timedelta(seconds=1), 99, 999)  # the day before
        ben = fx.user(conn, "Ben")  # active yesterday on one device
        b1 = fx.device(conn, ben, "tok-ben")
        fx.workout(conn, ben, START + timedelta(hours=12), 20, 100)
        for name, kwargs in (("Opted", {"opt_out": True}), ("Gone", {"active": False})):
            uid = fx.user(conn, name, **kwargs)
            fx.device(conn, uid, f"tok-{name}")
            fx.workout(conn, uid, START + timedelta(hours=9), 30, 200)
        idle = fx.user(conn, "Idle")  # a device, no workout that day
        fx.device(conn, idle, "tok-idle")
        fx.workout(conn, idle, START - timedelta(days=2), 30, 200)
        nodev = fx.user(conn, "No Device")
        fx.workout(conn, nodev, START + timedelta(hours=9), 30, 200)
        conn.commit()
        result = queue_daily_summaries(conn, DAY, START, END, batch_size=2)
    assert result == {"day": "2026-03-01", "users": 2, "devices": 3, "queued": 3, "skipped_already_queued": 0,
                      "batches": 3}  # ids 1..6 in ranges of 2
    rows = fx.outbox(db)
    assert sorted(rows) == sorted([f"daily:{ana}:2026-03-01:{a1}", f"daily:{ana}:2026-03-01:{a2}",
                                   f"daily:{ben}:2026-03-01:{b1}"])
    ana_row = rows[f"daily:{ana}:2026-03-01:{a1}"]
    assert ana_row["recipient"] == "tok-ana-1"
    assert ana_row["subject"] == "Your Sunday: 2 workouts, 75 min"
    assert ana_row["body_text"] == ("Ana, yesterday (2026-03-01) you logged 2 workouts: 75 minutes and 610 kcal. "
                                    "Keep it up!")
    assert ana_row["payload"] == {"data": {"type": "daily_summary", "day": "2026-03-01", "workouts": "2",
                                           "minutes": "75", "calories": "610"}}
    assert rows[f"daily:{ben}:2026-03-01:{b1}"]["subject"] == "Your Sunday: 1 workout, 20 min"

    with psycopg.connect(db) as conn:
        again = queue_daily_summaries(conn, DAY, START, END, batch_size=2)
    assert (again["queued"], again["skipped_already_queued"]) == (0, 3)


def test_daily_summary_stops_on_the_budget_and_a_rerun_continues(db):
    with psycopg.connect(db) as conn:
        users = [fx.user(conn, f"U{i}") for i in range(4)]
        for uid in users:
            fx.device(conn, uid, f"tok-{uid}")
            fx.workout(conn, uid, START + timedelta(hours=8), 10, 50)
        conn.commit()
        with pytest.raises(SoftTimeLimitExceeded) as stop:
            queue_daily_summaries(conn, DAY, START, END, batch_size=2, budget=ScriptedBudget([True]))
        assert stop.value.result["queued"] == 2
        rest = queue_daily_summaries(conn, DAY, START, END, batch_size=2)
    assert (rest["queued"], rest["skipped_already_queued"]) == (2, 2)
    assert len(fx.outbox(db)) == 4


def test_challenge_notices_once_per_user_challenge_and_kind(db):
    tomorrow = date(2026, 3, 2)
    with psycopg.connect(db) as conn:
        ana, ben, cat, opted = (fx.user(conn, "Ana"), fx.user(conn, "Ben"), fx.user(conn, "Cat"),
                                fx.user(conn, "Opted", opt_out=True))
        a1, a2, b1 = fx.device(conn, ana, "tok-a1"), fx.device(conn, ana, "tok-a2"), fx.device(conn, ben, "tok-b1")
        fx.device(conn, opted, "tok-o")  # cat has no device
        starts = fx.challenge(conn, "March Miles", tomorrow, date(2026, 3, 31), [ana, ben, cat, opted])
        ends = fx.challenge(conn, "Winter Plank", date(2026, 2, 1), tomorrow, [ana])
        fx.challenge(conn, "Later", date(2026, 3, 3), date(2026, 3, 9), [ana, ben])  # neither tomorrow
        fx.challenge(conn, "Today", date(2026, 2, 20), date(2026, 3, 1), [ana, ben])  # ended today: too late
        conn.commit()
        result = queue_challenge_notifications(conn, tomorrow, batch_size=1)
        again = queue_challenge_notifications(conn, tomorrow, batch_size=1)
    assert {k: result[k] for k in ("notices", "starting", "ending", "devices", "queued")} == {
        "notices": 3, "starting": 2, "ending": 1, "devices": 5, "queued": 5}
    assert (again["queued"], again["skipped_already_queued"]) == (0, 5)
    rows = fx.outbox(db)
    assert sorted(rows) == sorted([f"challenge:{starts}:starting:{ana}:{a1}", f"challenge:{starts}:starting:{ana}:{a2}",
                                   f"challenge:{starts}:starting:{ben}:{b1}", f"challenge:{ends}:ending:{ana}:{a1}",
                                   f"challenge:{ends}:ending:{ana}:{a2}"])
    start_row = rows[f"challenge:{starts}:starting:{ben}:{b1}"]
    assert start_row["subject"] == "Challenge starting tomorrow: March Miles"
    assert "begins tomorrow (2026-03-02)" in start_row["body_text"]
    assert start_row["payload"]["data"] == {"type": "challenge_starting", "challenge_id": str(starts),
                                            "day": "2026-03-02"}
    assert rows[f"challenge:{ends}:ending:{ana}:{a2}"]["subject"] == "Challenge ending tomorrow: Winter Plank"


def _reminder_world(conn) -> dict[str, int]:
    """Users inactive for the whole of March 2026 unless said otherwise."""
    ids = {}
    for name in ("Never", "Lapsed", "Active", "Morning", "Opted", "New"):
        created = datetime(2026, 3, 20, tzinfo=UTC) if name == "New" else fx.OLD
        ids[name] = fx.user(conn, name, opt_out=name == "Opted", created_at=created)
        fx.device(conn, ids[name], f"tok-{name}")
    fx.device(conn, ids["Lapsed"], "tok-Lapsed-2")
    fx.workout(conn, ids["Lapsed"], datetime(2026, 2, 1, 8, tzinfo=UTC), 30, 200)
    for d in range(1, 32):  # works out every day
        fx.workout(conn, ids["Active"], datetime(2026, 2, 25, 18, tzinfo=UTC) + timedelta(days=d), 30, 200)
    fx.workout(conn, ids["Morning"], datetime(2026, 2, 1, tzinfo=UTC), 30, 200)
    fx.workout(conn, ids["Morning"], datetime(2026, 3, 10, 8, tzinfo=UTC), 30, 200)  # before the 10:00 run
    return ids


def _remind(conn, day: date) -> dict:
    until = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=10)
    since = datetime.combine(day - timedelta(days=7), datetime.min.time(), tzinfo=UTC)
    return queue_inactive_reminders(conn, day, since, until, batch_size=2)


def test_reminders_text_eligibility_and_rerun(db):
    day = date(2026, 3, 10)
    with psycopg.connect(db) as conn:
        ids = _reminder_world(conn)
        conn.commit()
        first = _remind(conn, day)
        again = _remind(conn, day)
    assert {k: first[k] for k in ("reminded", "never_worked_out", "devices", "queued")} == {
        "reminded": 2, "never_worked_out": 1, "devices": 3, "queued": 3}
    assert (again["reminded"], again["queued"]) == (0, 0)
    assert fx.reminder_log(db) == [(ids["Never"], day), (ids["Lapsed"], day)]
    rows = fx.outbox(db)
    never = next(r for k, r in rows.items() if k.startswith(f"reminder:{ids['Never']}:2026-03-10:"))
    assert never["subject"] == "Start your fitness journey"
    assert never["body_text"] == "You haven't logged a workout yet, Never. Start your fitness journey today!"
    assert never["payload"]["data"] == {"type": "inactivity_reminder", "never_worked_out": "true"}
    lapsed = [r for k, r in rows.items() if k.startswith(f"reminder:{ids['Lapsed']}:2026-03-10:")]
    assert sorted(r["recipient"] for r in lapsed) == ["tok-Lapsed", "tok-Lapsed-2"]
    # last workout 2026-02-01 08:00, run 2026-03-10 10:00: 37 whole days
    assert lapsed[0]["body_text"] == "It's been 37 days since your last workout. Time to get moving!"
    assert lapsed[0]["payload"]["data"] == {"type": "inactivity_reminder", "never_worked_out": "false",
                                            "days_inactive": "37"}


@pytest.mark.parametrize("order", ["forward", "backward", "shuffled"])
def test_reminders_never_twice_within_7_days_across_a_10_day_backfill(db, order):
    days = [date(2026, 3, 1) + timedelta(days=n) for n in range(10)]
    runs = {"forward": days, "backward": days[::-1], "shuffled": [days[i] for i in (4, 9, 0, 2, 7, 1, 8, 3, 6, 5)]}
    with psycopg.connect(db) as conn:
        never = fx.user(conn, "Never")
        fx.device(conn, never, "tok-never")
        conn.commit()
        for day in runs[order]:
            _remind(conn, day)
            _remind(conn, day)  # a retry of each run
    logged = [d for _, d in fx.reminder_log(db)]
    assert 1 <= len(logged) <= 2
    assert all(abs((a - b).days) >= 7 for a in logged for b in logged if a != b)
    assert sorted(fx.outbox(db)) == sorted(f"reminder:{never}:{d.isoformat()}:1" for d in logged)
    if order == "forward":
        assert logged == [date(2026, 3, 1), date(2026, 3, 8)]


def test_dead_tokens_deactivate_their_devices_and_count_users_left_without_any(db):
    with psycopg.connect(db) as conn:
        solo, duo = fx.user(conn, "Solo"), fx.user(conn, "Duo")
        s1 = fx.device(conn, solo, "invalid-solo")
        d1, d2 = fx.device(conn, duo, "invalid-duo"), fx.device(conn, duo, "tok-duo-ok")
        conn.commit()
    refused = [
        {"id": 11, "domain": "fitness", "channel": "push", "recipient": "invalid-solo", "error_code": "UNREGISTERED"},
        {"id": 12, "domain": "fitness", "channel": "push", "recipient": "invalid-duo", "error_code": "UNREGISTERED"},
        {"id": 13, "domain": "fitness", "channel": "push", "recipient": "invalid-duo", "error_code": "UNREGISTERED"},
        {"id": 14, "domain": "fitness", "channel": "push", "recipient": "tok-duo-ok", "error_code": "INVALID_ARGUMENT"},
        {"id": 15, "domain": "social", "channel": "push", "recipient": "tok-duo-ok", "error_code": "UNREGISTERED"},
    ]
    outcome = deactivate_refused_tokens(db, refused)
    assert outcome == {"handled_ids": [11, 12, 13], "devices_deactivated": 2, "users_without_devices": 1}
    with psycopg.connect(db) as conn:
        state = dict((r[0], r[1:]) for r in conn.execute(
            "SELECT id, is_active, deactivated_reason FROM fitness.devices").fetchall())
    assert state[s1] == (False, "fcm UNREGISTERED (outbox 11)")
    assert state[d1][0] is False and state[d2] == (True, None)
    assert deactivate_refused_tokens(db, refused)["devices_deactivated"] == 0  # idempotent
