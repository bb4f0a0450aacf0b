"""queue_progress_reports against PostgreSQL: who gets the weekly report, its numbers vs the
week before, the streak, the best exercise, the 8-week chart (a PNG part, numbers in the text)
and one message per user per week."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import psycopg
import pytest

from include.fitness import progress_reports
from include.fitness.progress_reports import CHART_DAYS, change, queue_progress_reports, summarize
from tests.include.fitness import job_data as data

RUN_DAY = date(2026, 11, 30)  # a Monday: the report covers Nov 23..29, ISO week 2026-W48


def at(day: date, hour: int = 8) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def day_bounds(run_day: date = RUN_DAY) -> list[datetime]:
    first = run_day - timedelta(days=CHART_DAYS)
    return [datetime.combine(first + timedelta(days=i), time(), tzinfo=UTC) for i in range(CHART_DAYS + 1)]


@pytest.fixture
def conn(fitness_db):
    data.clean(fitness_db)
    with psycopg.connect(fitness_db) as conn:
        yield conn


@pytest.fixture
def people(conn) -> dict[str, int]:
    ids = {"ann": data.user(conn, "Ann"), "bob": data.user(conn, "Bob"),
           "optout": data.user(conn, "Opt Out", email_opt_out=True), "idle": data.user(conn, "Idle", active=False),
           "dee": data.user(conn, "Dee"), "eve": data.user(conn, "Eve")}
    squat, plank = data.exercise(conn, "Squat"), data.exercise(conn, "Plank")
    data.workout(conn, ids["ann"], at(date(2026, 11, 22)), 20, 150)  # the week before
    for n, day in enumerate((date(2026, 11, 27), date(2026, 11, 28), date(2026, 11, 29))):
        w = data.workout(conn, ids["ann"], at(day), 30, 200)
        if n < 2:
            data.workout_exercise(conn, w, squat, 1, sets=3, reps=10, weight_kg=60 + 20 * n)
        else:
            data.workout_exercise(conn, w, plank, 1, sets=4, reps=1)
    for i in range(8):  # Nov 22..29, every day: streak 8
        data.workout(conn, ids["bob"], at(date(2026, 11, 22) + timedelta(days=i)), 10, 50)
    data.workout(conn, ids["bob"], at(date(2026, 10, 5)), 15, 50)  # the chart's first day
    for name in ("optout", "idle"):
        data.workout(conn, ids[name], at(date(2026, 11, 25)), 30, 100)
    data.workout(conn, ids["dee"], at(date(2026, 11, 20)), 30, 100)  # only the week before
    data.workout(conn, ids["eve"], at(RUN_DAY), 30, 100)  # the run's own day: next week's
    conn.commit()
    return ids


def outbox(conn) -> dict[str, tuple]:
    return {r[0]: r[1:] for r in conn.execute(
        "SELECT dedupe_key, recipient, subject, body_text, body_html, payload FROM platform.outbox ORDER BY id")}


def test_reports_go_to_active_opted_in_users_who_worked_out(conn, people):
    result = queue_progress_reports(conn, day_bounds(), batch_size=2)
    assert result == {"week": "2026-W48", "recipients": 2, "queued": 2, "skipped_already_sent": 0, "batches": 3}
    messages = outbox(conn)
    assert set(messages) == {f"fitness-progress:{people['ann']}:2026-W48", f"fitness-progress:{people['bob']}:2026-W48"}
    recipient, subject, text, html, payload = messages[f"fitness-progress:{people['ann']}:2026-W48"]
    assert recipient == "ann@fitness.test"
    assert subject == "Your week on Fitness, 2026-11-23 to 2026-11-29: 3 workouts, 90 min"
    assert "Workouts:  3  (+2 (+200%))" in text
    assert "Minutes:   90  (+70 (+350%))" in text
    assert "Calories:  600  (+450 (+300%))" in text
    assert "Streak:    3 days in a row" in text
    assert "Best exercise: Squat, 6 sets, 60 reps, up to 80 kg" in text
    assert "2026-W48 (from 2026-11-23)  90 min" in text and "2026-W47 (from 2026-11-16)  20 min" in text
    assert "2026-W41 (from 2026-10-05)  0 min" in text
    [cid] = payload["inline_images"]
    assert f'src="cid:{cid}"' in html and payload["inline_images"][cid]["mime"] == "image/png"
    bob_text = messages[f"fitness-progress:{people['bob']}:2026-W48"][2]
    assert "Streak:    8 days" in bob_text and "2026-W41 (from 2026-10-05)  15 min" in bob_text
    assert "Best exercise" not in bob_text


def test_rerun_queues_nothing(conn, people):
    queue_progress_reports(conn, day_bounds())
    again = queue_progress_reports(conn, day_bounds())
    assert again["queued"] == 0 and again["skipped_already_sent"] == 2
    assert len(outbox(conn)) == 2


def test_summary_helpers():
    assert change(3, 1) == "+2 (+200%)" and change(1, 2) == "-1 (-50%)" and change(5, 5) == "±0 (0%)"
    assert change(4, 0) == "+4 (none the week before)"
    facts = summarize([[1, 1, 10, 5], [55, 1, 20, 7], [56, 2, 30, 9]])
    assert facts["weeks"][0] == (1, 10, 5) and facts["weeks"][-1] == (3, 50, 16) and facts["streak"] == 2
    assert summarize([[55, 1, 20, 7]])["streak"] == 0


def test_bad_bounds_fail():
    with pytest.raises(ValueError, match="57 midnights"):
        queue_progress_reports(None, day_bounds()[1:])
    with pytest.raises(ValueError, match="Monday"):
        queue_progress_reports(None, day_bounds(RUN_DAY + timedelta(days=1)))
    assert progress_reports.week_label(date(2027, 1, 4)) == "2027-W01"
