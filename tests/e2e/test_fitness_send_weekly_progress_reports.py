"""fitness_send_weekly_progress_reports end to end with dag.test(): the Monday run emails the
week's report (numbers, streak, best exercise, an inline PNG chart) to active, opted-in users
who worked out, once per user per week. The run is in 2031, where only this test's workouts are."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from tests.e2e.conftest import run_dag, task_result, task_states
from tests.e2e.unsubscribe_support import assert_one_click_unsubscribe
from tests.include.fitness import job_data as data

T = datetime(2031, 9, 15, 8, 0, tzinfo=UTC)  # Monday 08:00: the week Sep 8..14, ISO 2031-W37


def test_report_goes_once_to_active_opted_in_users(repo_dags, app_db, sandbox):
    tag = uuid.uuid4().hex[:8]
    with psycopg.connect(app_db) as conn:
        ids = {"fit": data.user(conn, "Fit", tag=tag), "optout": data.user(conn, "Optout", tag=tag, email_opt_out=True),
               "idle": data.user(conn, "Idle", tag=tag, active=False), "lazy": data.user(conn, "Lazy", tag=tag)}
        row = data.exercise(conn, f"Row {tag}")
        for i in range(3):  # Sep 12, 13, 14: a 3-day streak
            w = data.workout(conn, ids["fit"], datetime(2031, 9, 12 + i, 7, tzinfo=UTC), 30, 300)
            data.workout_exercise(conn, w, row, 1, sets=2, reps=12, weight_kg=40)
        data.workout(conn, ids["fit"], datetime(2031, 9, 3, 7, tzinfo=UTC), 45, 400)  # the week before
        for name in ("optout", "idle"):
            data.workout(conn, ids[name], datetime(2031, 9, 10, 7, tzinfo=UTC), 30, 300)
        data.workout(conn, ids["lazy"], datetime(2031, 9, 1, 7, tzinfo=UTC), 30, 300)  # not this week
    email = {n: f"{n}{tag}@fitness.test" for n in ids}
    dag = repo_dags["fitness_send_weekly_progress_reports"]
    run = run_dag(dag, T)
    assert run.state == "success", task_states(run)
    receipt = task_result(run, "queue_progress_reports")
    assert receipt["week"] == "2031-W37" and receipt["queued"] >= 1
    [mail] = sandbox.emails(to=email["fit"])
    assert mail["dedupe_key"] == f"fitness-progress:{ids['fit']}:2031-W37"
    assert mail["subject"] == "Your week on Fitness, 2031-09-08 to 2031-09-14: 3 workouts, 90 min"
    text = mail["text"]
    assert "Workouts:  3  (+2 (+200%))" in text and "Minutes:   90  (+45 (+100%))" in text
    assert "Streak:    3 days" in text and f"Best exercise: Row {tag}, 6 sets, 72 reps, up to 40 kg" in text
    assert "2031-W37 (from 2031-09-08)  90 min" in text
    assert_one_click_unsubscribe(mail, "fitness", "progress_report", ids["fit"])
    for nobody in ("optout", "idle", "lazy"):
        assert sandbox.emails(to=email[nobody]) == [], nobody

    rerun = run_dag(dag, T)
    assert rerun.state == "success", task_states(rerun)
    again = task_result(rerun, "queue_progress_reports")
    assert again["queued"] == 0 and again["skipped_already_sent"] == receipt["recipients"]
    assert task_result(rerun, "deliver_notifications")["sent"] == 0
    assert len(sandbox.emails(to=email["fit"])) == 1
    nothing = run_dag(dag, T + timedelta(days=7))  # no workouts that week
    assert nothing.state == "success", task_states(nothing)
    assert len(sandbox.emails(to=email["fit"])) == 1
