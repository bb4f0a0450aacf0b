"""music_schedule_chart_sync end to end with dag.test(): creates a schedule due now, an update
changes the frequency of the same row, an unknown chart fails at once (no retry), and a bad
--conf is refused naming the field."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.e2e.conftest import run_dag, task_result, task_states

DAG_ID = "music_schedule_chart_sync"
WHEN = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def chart_id(app_db) -> int:
    with psycopg.connect(app_db) as conn:
        conn.execute("DELETE FROM music.charts WHERE slug = 'e2e-schedule'")
        return conn.execute("INSERT INTO music.charts (slug, name, platform, frequency) "
                            "VALUES ('e2e-schedule', 'E2E', 'spotify', 'weekly') RETURNING id").fetchone()[0]


def test_creates_then_updates_the_schedule(repo_dags, app_db, chart_id):
    dag = repo_dags[DAG_ID]
    run = run_dag(dag, WHEN, {"chart_id": chart_id, "frequency": "daily"})
    assert run.state == "success", task_states(run)
    created = task_result(run, "upsert_schedule")
    assert created["created"] is True and created["slug"] == "e2e-schedule"
    again = run_dag(dag, WHEN + timedelta(minutes=1), {"chart_id": chart_id, "frequency": "monthly"})
    assert again.state == "success", task_states(again)
    updated = task_result(again, "upsert_schedule")
    assert updated["created"] is False and updated["schedule_id"] == created["schedule_id"]
    with psycopg.connect(app_db) as conn:
        frequency, due = conn.execute("SELECT frequency, next_sync_at <= now() FROM music.chart_sync_schedules "
                                      "WHERE chart_id = %s", (chart_id,)).fetchone()
    assert (frequency, due) == ("monthly", True)


def test_an_unknown_chart_fails_at_once_naming_it(repo_dags, monkeypatch):
    dag = repo_dags[DAG_ID]
    for task in dag.tasks:  # retries on, without a delay: a retry would show as try 2
        monkeypatch.setattr(task, "retries", 3)
        monkeypatch.setattr(task, "retry_delay", timedelta(0))
    monkeypatch.setattr(dag, "deadline", None)
    run = dag.test(logical_date=WHEN + timedelta(hours=1), run_conf={"chart_id": 987_654_321, "frequency": "daily"})
    assert run.state == "failed"
    [ti] = run.get_task_instances()
    assert (ti.state, ti.try_number) == ("failed", 1)


@pytest.mark.parametrize(("conf", "field", "why"), [
    ({"chart_id": 1, "frequency": "hourly"}, "frequency", "'hourly' is not one of ['daily', 'weekly', 'monthly']"),
    ({"chart_id": 0, "frequency": "daily"}, "chart_id", "0 is less than the minimum of 1"),
    ({"chart_id": 2**63, "frequency": "daily"}, "chart_id",
     "9223372036854775808 is greater than the maximum of 9223372036854775807"),
    ({"frequency": "daily"}, "chart_id", "No value passed"),
])
def test_bad_conf_is_refused_naming_the_field(repo_dags, conf, field, why):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=f"param {field}: {re.escape(why)}"):
        run_dag(repo_dags[DAG_ID], WHEN + timedelta(hours=2), conf)
