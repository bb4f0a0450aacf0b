"""fitness_update_leaderboards end to end with dag.test(): this week's, the all-time and a
challenge's board, a rerun writes nothing, a new workout rewrites only what moved. The app
database is shared with other tests: the run is in 2031, where only this test's workouts
are, and the assertions are on this test's users."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from tests.e2e.conftest import run_dag, task_result, task_states
from tests.include.fitness import job_data as data

T = datetime(2031, 5, 7, 9, 0, tzinfo=UTC)  # a Wednesday; ISO week 2031-W19 starts Monday May 5
WEEK = "2031-W19"


@pytest.fixture
def people(app_db) -> dict[str, int]:
    tag = uuid.uuid4().hex[:8]
    with psycopg.connect(app_db) as conn:
        ids = {n: data.user(conn, n.title(), tag=tag) for n in ("ann", "bob", "cy")}
        monday = datetime(2031, 5, 5, tzinfo=UTC)
        data.workout(conn, ids["ann"], monday + timedelta(hours=6), 40)
        data.workout(conn, ids["bob"], monday + timedelta(days=1), 40)  # ties ann: ann has the lower id
        data.workout(conn, ids["cy"], monday - timedelta(days=1), 90)  # last week only
        ids["challenge"] = data.challenge(conn, f"May {tag}", date(2031, 5, 6), date(2031, 5, 20),
                                          [ids["bob"], ids["cy"]])
    return ids


def week_board(app_db, ids) -> list[tuple]:
    with psycopg.connect(app_db) as conn:
        return [(r, u, s) for r, u, s in data.board(conn, "global", WEEK) if u in ids.values()]


def versions(app_db) -> dict:
    with psycopg.connect(app_db) as conn:
        return data.entry_versions(conn)


def test_boards_rerun_and_change(repo_dags, app_db, people):
    dag = repo_dags["fitness_update_leaderboards"]
    run = run_dag(dag, T)
    assert run.state == "success", task_states(run)
    result = task_result(run, "rank_leaderboards")
    assert result["week"] == WEEK and result["challenges"] >= 1
    p = people
    assert week_board(app_db, p) == [(1, p["ann"], 40.0), (2, p["bob"], 40.0)]
    with psycopg.connect(app_db) as conn:
        assert data.board(conn, f"challenge:{p['challenge']}", "2031-05-06/2031-05-20") == [
            (1, p["bob"], 40.0), (2, p["cy"], 0.0)]
        all_time = {u: (r, s) for r, u, s in data.board(conn, "global", "all-time")}
    assert all_time[p["cy"]][1] == 90.0 and all_time[p["cy"]][0] < all_time[p["ann"]][0] < all_time[p["bob"]][0]

    before = versions(app_db)
    rerun = run_dag(dag, T)
    assert rerun.state == "success", task_states(rerun)
    again = task_result(rerun, "rank_leaderboards")
    assert (again["inserted"], again["updated"], again["deleted"], again["participant_scores_updated"]) == (0, 0, 0, 0)
    assert versions(app_db) == before

    with psycopg.connect(app_db) as conn:
        data.workout(conn, p["bob"], T - timedelta(hours=1), 1)
    later = run_dag(dag, T + timedelta(hours=3))
    assert later.state == "success", task_states(later)
    assert week_board(app_db, p) == [(1, p["bob"], 41.0), (2, p["ann"], 40.0)]
    changed = {k for k, v in versions(app_db).items() if before.get(k) != v}
    assert ("global", WEEK, p["bob"]) in changed and ("global", WEEK, p["ann"]) in changed
    assert (f"challenge:{p['challenge']}", "2031-05-06/2031-05-20", p["cy"]) not in changed
