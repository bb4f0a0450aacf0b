"""The scale-out soak: every scheduled DAG of every domain backfilled on a CeleryExecutor stack
with two workers split by queue group (Redis broker), then the same on a LocalExecutor stack
against a second copy of the same database; the app tables must come out identical and the
outbox must hold exactly one message per dedupe key, each received by the sandbox once.
Mid-soak, a Celery worker running a task is killed -9: the scheduler's heartbeat timeout finds
the task, it is retried and ends with nothing lost or doubled (the comparison says so).

Marked `soak` (and `live`): `.ci/run` runs it, `make test FAST=1` skips it. The window is,
by default, what fits CI's 20 minutes on 2 cores: one day of the daily DAGs, the last
complete week of the weekly ones, 3 hours of the hourly ones (hourly, every 3 and 6 hours),
one hour of those every 5 and 15 minutes; JOBYARD_SOAK_DAYS=7 JOBYARD_SOAK_HOURS=24
JOBYARD_SOAK_SUBHOURLY_HOURS=24 is the full week, 25 minutes here (README "Soak" has the
measured times; JOBYARD_SOAK_TIMEOUT gives it the time). Its figures (duration of each stack,
time to recovery after the kill, the checksum comparison) are printed and written to
<test state>/soak-report.json.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.conftest import SESSION
from tests.soak import harness
from tools import devenv

# Seconds for the whole test; a wider window by hand needs more (JOBYARD_SOAK_TIMEOUT).
TIMEOUT = int(os.environ.get("JOBYARD_SOAK_TIMEOUT", "1500"))
pytestmark = [pytest.mark.soak, pytest.mark.live, pytest.mark.timeout(TIMEOUT)]

KILL_DAG = "videos_ml_predictions"  # seconds of model training: reliably caught mid-task
STACK_TIMEOUT = TIMEOUT * 3 // 5  # seconds for one stack's backfills (900 by default)


def _report(text: str) -> None:
    print(f"[soak] {text}", file=sys.__stderr__, flush=True)


@pytest.fixture(scope="module")
def databases():
    """Two (Airflow metadata, app) database pairs with the same content: migrated, the app one
    seeded once and copied with CREATE DATABASE ... TEMPLATE (the seeders are deterministic
    for a day, a copy is deterministic, and faster)."""
    server = SESSION["server"]
    tag = secrets.token_hex(3)
    names = {k: f"jobyard_soak_{tag}_{k}" for k in ("celery_airflow", "celery_app", "local_airflow", "local_app")}
    urls = {}
    try:
        urls["celery_app"] = devenv.ensure_database(server, names["celery_app"])
        devenv.migrate_app_db(urls["celery_app"])
        devenv.seed(urls["celery_app"], scale=1)
        urls["local_app"] = harness.copy_database(server, names["celery_app"], names["local_app"])
        urls["celery_airflow"] = devenv.ensure_database(server, names["celery_airflow"])
        env = {**SESSION["env"], "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": devenv.sqlalchemy_url(urls["celery_airflow"])}
        devenv.run(["airflow", "db", "migrate"], env, quiet=True)
        from include.orchestration.pools import POOLS

        for pool, (slots, desc) in POOLS.items():
            devenv.run(["airflow", "pools", "set", pool, str(slots), desc], env, quiet=True)
        urls["local_airflow"] = harness.copy_database(server, names["celery_airflow"], names["local_airflow"])
        yield urls
    finally:
        for name in names.values():
            devenv.drop_database(server, name)


def _soak(executor: str, urls: dict, sandbox, window: harness.Window, kill_dag: str | None) -> dict:
    sandbox.reset()
    followed, stopped = threading.Event(), threading.Event()
    t0 = time.monotonic()
    stack = harness.SoakStack(executor, executor, urls[f"{executor}_airflow"], urls[f"{executor}_app"],
                              redis_db=8 if executor == "celery" else 9)
    try:
        expected = {d for chain in harness.ORDER.values() for d in chain} | set(harness.LAST)
        crons = stack.scheduled_dags(expected)
        assert set(crons) == expected, (
            f"scheduled DAGs not in the soak's ORDER: {sorted(set(crons) - expected)}; "
            f"listed but not scheduled: {sorted(expected - set(crons))}")
        started = time.monotonic() - t0
        kill = harness.Kill(kill_dag or "")
        killer = None
        if kill_dag:
            def kill_and_follow() -> None:
                found = harness.kill_running_task(stack, kill_dag, timeout=STACK_TIMEOUT)
                kill.__dict__.update(found.__dict__)
                harness.follow_kill(stack, kill, timeout=600)
                followed.set()
                # This thread started the new worker: its PR_SET_PDEATHSIG fires when the
                # *thread* that forked it ends, so it lives until the stack is stopped.
                stopped.wait()
            killer = threading.Thread(target=kill_and_follow, name="killer", daemon=True)
            killer.start()
        result = harness.run_backfills(stack, crons, window, timeout=STACK_TIMEOUT)
        if killer is not None:
            followed.wait(timeout=60)
        sweep = stack.final_sweep(urls[f"{executor}_app"], crons["platform_deliver_notifications"],
                                  window.end, timeout=120)
        tries = Counter()
        hosts = Counter()
        for dag_id in result.runs:
            for ti in stack.task_states(dag_id):
                hosts[(ti["queue"], (ti["hostname"] or "").split(".")[0])] += 1
                if ti["try_number"] > 1:
                    tries[f"{dag_id}.{ti['task_id']}"] += ti["try_number"] - 1
        failed = {d: [r["dag_run_id"] for r in runs if r["state"] != "success"] for d, runs in result.runs.items()}
        return {
            "executor": executor, "startup_s": round(started, 1), "backfill_s": round(result.seconds, 1),
            "total_s": round(time.monotonic() - t0, 1),
            "runs": {d: len(r) for d, r in result.runs.items()},
            "failed": {d: r for d, r in failed.items() if r}, "errors": result.errors,
            "backfill_refused": result.refused, "final_sweep": sweep,
            "retries": dict(tries), "task_instances": sum(hosts.values()),
            "queues_by_host": {f"{q}@{h}": n for (q, h), n in sorted(hosts.items())},
            "kill": kill.__dict__ if kill_dag else None,
            "emails": sandbox.emails(), "pushes": sandbox.pushes(), "logs": str(stack.stack.logs),
        }
    finally:
        stack.stop()
        stopped.set()


def test_backfill_on_two_celery_workers_equals_the_local_executor(databases, sandbox):
    window = harness.default_window()
    t0 = time.monotonic()
    celery = _soak("celery", databases, sandbox, window, kill_dag=KILL_DAG)
    _report(f"celery: {celery['total_s']} s (start-up {celery['startup_s']} s, backfills {celery['backfill_s']} s), "
            f"{sum(celery['runs'].values())} runs, retries {celery['retries']}, kill {celery['kill']}")
    local = _soak("local", databases, sandbox, window, kill_dag=None)
    _report(f"local: {local['total_s']} s (start-up {local['startup_s']} s, backfills {local['backfill_s']} s), "
            f"{sum(local['runs'].values())} runs, retries {local['retries']}")

    with psycopg.connect(databases["celery_app"]) as conn:
        excluded = harness.excluded_columns(conn)
    # Each stack's own database names (in health readings and backup rows) -> placeholders.
    # and their own folders (the health check's disk reading is of the backup folder).
    names = {e: {urlsplit(databases[f"{e}_app"]).path.lstrip("/"): "<app db>",
                 urlsplit(databases[f"{e}_airflow"]).path.lstrip("/"): "<airflow db>",
                 str(SESSION["tmp"] / f"soak-{e}"): "<stack dir>"} for e in ("celery", "local")}
    sums = {e: harness.table_checksums(databases[f"{e}_app"], excluded, names[e]) for e in ("celery", "local")}
    differ = {t: harness.differing_columns(databases["celery_app"], databases["local_app"], t,
                                           excluded.get(t, set()), names["celery"], names["local"])
              for t in sums["celery"] if sums["celery"][t] != sums["local"].get(t)}
    outboxes = {e: harness.outbox_report(databases[f"{e}_app"]) for e in ("celery", "local")}
    elapsed = time.monotonic() - t0
    report = {
        "window": {"end": window.end.isoformat(), "days": window.days, "hours": window.hours,
                   "subhourly_hours": window.subhourly_hours},
        "soak_s": round(elapsed, 1),
        "celery": {k: v for k, v in celery.items() if k not in ("emails", "pushes")},
        "local": {k: v for k, v in local.items() if k not in ("emails", "pushes")},
        "tables": {t: {"rows": sums["celery"][t][0], "same": t not in differ} for t in sums["celery"]},
        "differing_columns": differ,
        "excluded_columns": {t: sorted(c) for t, c in sorted(excluded.items())},
        "outbox": {e: {"by_status": o["by_status"], "duplicate_keys": o["duplicate_keys"]}
                   for e, o in outboxes.items()},
    }
    (SESSION["tmp"].parent / "jobyard-soak-report.json").write_text(json.dumps(report, indent=2, default=str))
    _report(f"soak {elapsed:.0f} s; {len(sums['celery'])} tables compared, differing: {differ or 'none'}; "
            f"outbox {report['outbox']}")

    for side in (celery, local):
        assert not side["errors"], side["errors"]
        assert not side["failed"], f"{side['executor']}: failed runs {side['failed']}; logs in {side['logs']}"
        assert side["runs"] == celery["runs"], "both stacks ran the same backfill runs"
    assert all(celery["runs"].values()), \
        f"scheduled DAGs without a run in the window: {[d for d, n in celery['runs'].items() if not n]}"
    assert not differ, f"tables differ between the CeleryExecutor and LocalExecutor runs: {differ}"
    assert sums["celery"] == sums["local"]

    # The outbox: one message per dedupe key (UNIQUE), every one delivered, each received once.
    for executor, side in (("celery", celery), ("local", local)):
        box = outboxes[executor]
        assert box["duplicate_keys"] == 0
        assert set(box["by_status"]) <= {"sent"}, f"{executor}: outbox {box['by_status']}"
        caught = Counter(m["headers"].get("X-Dedupe-Key") for m in side["emails"] if m["headers"].get("X-Dedupe-Key"))
        assert set(caught) == set(box["emails"]), f"{executor}: emails not caught / not queued"
        doubled = [k for k, n in caught.items() if n > 1]
        assert not doubled, f"{executor}: doubled emails {doubled}"
        pushed = Counter((p["token"], (p["notification"] or {}).get("title"), (p["notification"] or {}).get("body"))
                         for p in side["pushes"])
        assert pushed == Counter(map(tuple, box["pushes"])), f"{executor}: pushes received != pushes queued"

    kill = celery["kill"]
    assert kill["run_id"], kill["note"]
    assert kill["detected_after"] is not None and kill["recovered_after"] is not None, kill
    assert elapsed < 20 * 60, f"the soak took {elapsed:.0f} s: over CI's 20 minutes"
