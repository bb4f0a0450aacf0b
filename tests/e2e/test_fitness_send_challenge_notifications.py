"""fitness_send_challenge_notifications end to end with dag.test() against the sandbox's FCM:
the 07:00 run pushes "starting" / "ending" to the participants of challenges that start or
end tomorrow, once per user, challenge and kind, on every active device; a rerun sends nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg

from tests.e2e.conftest import run_dag, task_result, task_states
from tests.e2e.fitness_pushes import fx, new_tag, pushes_by_token

DAG_ID = "fitness_send_challenge_notifications"
RUN = datetime(2026, 5, 10, 7, 0, tzinfo=UTC)  # interval [05-09 07:00, 05-10 07:00): the run's day is 05-10
TOMORROW = date(2026, 5, 11)


def test_participants_get_starting_and_ending_once(repo_dags, app_db, sandbox):
    tag = new_tag()
    with psycopg.connect(app_db) as conn:
        ana, ben, opted = fx.user(conn, f"Ana {tag}"), fx.user(conn, f"Ben {tag}"), fx.user(conn, f"O {tag}",
                                                                                          opt_out=True)
        fx.device(conn, ana, f"tok-{tag}-a1")
        fx.device(conn, ana, f"tok-{tag}-a2", platform="ios")
        fx.device(conn, ben, f"tok-{tag}-b1")
        fx.device(conn, opted, f"tok-{tag}-o")
        starting = fx.challenge(conn, f"May Miles {tag}", TOMORROW, date(2026, 5, 31), [ana, ben, opted])
        ending = fx.challenge(conn, f"Spring Plank {tag}", date(2026, 4, 11), TOMORROW, [ana])
        fx.challenge(conn, f"Today {tag}", date(2026, 5, 10), date(2026, 5, 20), [ana, ben])  # started today
        fx.challenge(conn, f"Later {tag}", date(2026, 5, 12), date(2026, 5, 20), [ana, ben])
    dag = repo_dags[DAG_ID]
    run = run_dag(dag, RUN)
    assert run.state == "success", task_states(run)
    receipt = task_result(run, "queue_challenge_notices")
    assert receipt["day"] == "2026-05-11" and receipt["queued"] >= 5

    assert pushes_by_token(sandbox, tag) == {f"tok-{tag}-a1": 2, f"tok-{tag}-a2": 2, f"tok-{tag}-b1": 1}
    ben_push = next(p for p in sandbox.pushes() if p["token"] == f"tok-{tag}-b1")
    assert ben_push["notification"]["title"] == f"Challenge starting tomorrow: May Miles {tag}"
    assert ben_push["data"] == {"type": "challenge_starting", "challenge_id": str(starting), "day": "2026-05-11"}
    ana_kinds = sorted(p["data"]["type"] + ":" + p["data"]["challenge_id"] for p in sandbox.pushes()
                       if p["token"] == f"tok-{tag}-a2")
    assert ana_kinds == sorted([f"challenge_ending:{ending}", f"challenge_starting:{starting}"])
    with psycopg.connect(app_db) as conn:
        keys = {k for (k,) in conn.execute("SELECT dedupe_key FROM platform.outbox WHERE recipient LIKE %s",
                                           (f"%{tag}%",)).fetchall()}
    assert {k.rsplit(":", 1)[0] for k in keys} == {f"challenge:{starting}:starting:{ana}",
                                                   f"challenge:{starting}:starting:{ben}",
                                                   f"challenge:{ending}:ending:{ana}"}

    rerun = run_dag(dag, RUN)
    assert rerun.state == "success", task_states(rerun)
    assert task_result(rerun, "queue_challenge_notices")["queued"] == 0
    assert pushes_by_token(sandbox, tag) == {f"tok-{tag}-a1": 2, f"tok-{tag}-a2": 2, f"tok-{tag}-b1": 1}
