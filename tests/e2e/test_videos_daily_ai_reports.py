"""videos_daily_ai_reports end to end with dag.test() against the sandbox's chat-completions
API and SMTP sink: reports stored, one email per creator with the 30-day chart, a rerun
replaces the day's reports and sends nothing twice, a backfill of a past day works, and
without `llm_default` the template narrative is used."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from tests.e2e.conftest import run_dag, task_result, task_states
from tests.e2e.unsubscribe_support import assert_one_click_unsubscribe

# dag.test at a 18:00 logical date runs the interval that ends then: it starts at 18:00 the
# day before, which is the report's day.
RUN_AT = datetime(2026, 7, 21, 18, 0, tzinfo=UTC)
D = date(2026, 7, 20)



@pytest.fixture
def llm_connection(monkeypatch, session_env):
    monkeypatch.setenv("AIRFLOW_CONN_LLM_DEFAULT", json.dumps({
        "conn_type": "http", "host": f"http://127.0.0.1:{session_env['http_port']}",
        "password": "sandbox-only-key", "extra": {"auth": "bearer", "model": "sandbox-small", "max_attempts": 2},
    }))


@pytest.fixture
def catalogue(app_db) -> dict:
    """Creator `ada` with two videos, `bo` with one whose title makes the sandbox LLM invent
    a number; 40 days of stats up to D: video k (1, 2, 3) has 100 * k + (days since June 1)
    views a day, so July 20 gives 149, 249 and 349."""
    tag = uuid.uuid4().hex[:10]
    with psycopg.connect(app_db) as conn:
        def creator(name):
            return conn.execute("INSERT INTO videos.creators (name, email, channel_id) VALUES (%s, %s, %s) "
                                "RETURNING id",
                                (name.title(), f"{name}_{tag}@e2e.test", f"UC{name}{tag}")).fetchone()[0]

        ada, bo = creator("ada"), creator("bo")
        videos = {}
        for key, owner, title in [("tour", ada, "Night market tour"), ("recipe", ada, "Noodle recipe"),
                                  ("mystery", bo, "Mystery [sandbox:invent]")]:
            videos[key] = conn.execute(
                "INSERT INTO videos.videos (creator_id, platform_id, title, published_at) VALUES (%s, %s, %s, %s) "
                "RETURNING id",
                (owner, f"{key}-{tag}", f"{title} {tag}", datetime(2026, 5, 1, tzinfo=UTC))).fetchone()[0]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO videos.daily_stats (video_id, day, views, likes, comments, shares, watch_minutes) "
                "VALUES (%s, %s, %s, 10, 2, 1, 50)",
                [(vid, D - timedelta(days=back), 100 * k + (D - timedelta(days=back) - date(2026, 6, 1)).days)
                 for k, vid in enumerate(videos.values(), start=1) for back in range(40)])
    return {"tag": tag, "videos": videos, "creators": {"ada": ada, "bo": bo},
            "email": {"ada": f"ada_{tag}@e2e.test", "bo": f"bo_{tag}@e2e.test"}}


def _reports(app_db, videos: dict, day: date) -> dict[str, dict]:
    names = {vid: key for key, vid in videos.items()}
    with psycopg.connect(app_db) as conn:
        rows = conn.execute("SELECT video_id, facts, narrative, narrative_source, fallback_reason "
                            "FROM videos.daily_reports WHERE day = %s AND video_id = ANY(%s)",
                            (day, list(videos.values()))).fetchall()
    return {names[r[0]]: {"facts": r[1], "narrative": r[2], "source": r[3], "reason": r[4]} for r in rows}


def test_reports_stored_and_one_email_per_creator(repo_dags, sandbox, catalogue, llm_connection, app_db):
    dag = repo_dags["videos_daily_ai_reports"]
    sandbox.reset_faults()
    run = run_dag(dag, RUN_AT)
    assert run.state == "success", task_states(run)
    receipt = task_result(run, "write_reports")
    assert receipt["day"] == "2026-07-20" and receipt["videos"] >= 3

    stored = _reports(app_db, catalogue["videos"], D)
    assert set(stored) == {"tour", "recipe", "mystery"}
    tour = stored["tour"]["facts"]
    assert (tour["views"], tour["views_prev_day"], tour["change_prev_day"]) == (149, 148, 1)
    assert (tour["mean_7d"], tour["change_vs_mean_7d"]) == (145.0, 4.0)  # July 13..19: 142..148
    assert stored["tour"]["source"] == stored["recipe"]["source"] == "llm"
    assert "249" in stored["recipe"]["narrative"]
    assert stored["mystery"]["source"] == "template"
    assert stored["mystery"]["reason"].startswith("invented numbers: ")

    [ada] = sandbox.emails(to=catalogue["email"]["ada"])
    assert ada["dedupe_key"] == f"videos-report:{catalogue['creators']['ada']}:2026-07-20"
    assert ada["subject"] == "Your videos on 2026-07-20: 398 views"
    assert "Daily views of your videos, 2026-06-21 to 2026-07-20" in ada["html"]
    assert "max 398 views/day" in ada["html"]  # the chart's alt text: 149 + 249 on D, the peak of the 30 days
    # the chart arrived as a PNG part of the message, named by the HTML's cid: link (no SVG)
    [chart] = ada["inline"]
    assert chart["content_type"] == "image/png" and 0 < chart["size"] < 60 * 1024
    assert f'src="cid:{chart["cid"]}"' in ada["html"] and "<svg" not in ada["html"]
    assert {"  2026-07-20  398", "  2026-06-21  340"} <= set(ada["text"].splitlines())  # the numbers too
    assert stored["tour"]["narrative"] in ada["text"]
    assert_one_click_unsubscribe(ada, "videos", "daily_report", catalogue["creators"]["ada"])
    [bo] = sandbox.emails(to=catalogue["email"]["bo"])
    assert "(standard summary)" in bo["text"]

    with psycopg.connect(app_db) as conn:  # a late correction of D's stats, then a clear of the run
        conn.execute("UPDATE videos.daily_stats SET views = 150 WHERE video_id = %s AND day = %s",
                     (catalogue["videos"]["tour"], D))
    rerun = run_dag(dag, RUN_AT)
    assert rerun.state == "success", task_states(rerun)
    again = _reports(app_db, catalogue["videos"], D)
    assert set(again) == {"tour", "recipe", "mystery"}
    assert (again["tour"]["facts"]["views"], again["tour"]["facts"]["change_prev_day"]) == (150, 2)
    assert again["recipe"] == stored["recipe"]
    assert len(sandbox.emails(to=catalogue["email"]["ada"])) == 1
    assert len(sandbox.emails(to=catalogue["email"]["bo"])) == 1

    backfill = run_dag(dag, RUN_AT - timedelta(days=5))  # the report of July 15
    assert backfill.state == "success", task_states(backfill)
    past = _reports(app_db, catalogue["videos"], date(2026, 7, 15))
    assert set(past) == {"tour", "recipe", "mystery"}
    assert past["tour"]["facts"]["views"] == 144 and past["tour"]["facts"]["mean_7d"] == 140.0
    assert _reports(app_db, catalogue["videos"], D)["tour"]["facts"]["views"] == 150  # D untouched
    mails = sandbox.emails(to=catalogue["email"]["ada"])
    assert [m["subject"] for m in mails] == ["Your videos on 2026-07-20: 398 views",
                                            "Your videos on 2026-07-15: 388 views"]


def test_without_llm_connection_the_template_is_used(repo_dags, sandbox, catalogue, app_db, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_LLM_DEFAULT", raising=False)
    sandbox.clear_requests()
    run = run_dag(repo_dags["videos_daily_ai_reports"], RUN_AT - timedelta(days=2))  # July 18
    assert run.state == "success", task_states(run)
    stored = _reports(app_db, catalogue["videos"], date(2026, 7, 18))
    assert {(r["source"], r["reason"]) for r in stored.values()} == {("template", "no llm_default connection")}
    assert stored["tour"]["narrative"].startswith(f"\u201cNight market tour {catalogue['tag']}\u201d had 147 views "
                                                  "on 2026-07-18.")
    assert sandbox.requests("llm") == []
    [mail] = sandbox.emails(to=catalogue["email"]["bo"])
    assert mail["subject"] == "Your videos on 2026-07-18: 347 views"
    assert [part["content_type"] for part in mail["inline"]] == ["image/png"]
