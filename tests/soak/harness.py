"""The soak's machinery: a live Airflow stack on a database pair of its own, backfills of every
scheduled DAG in a fixed order, and per-table checksums of the app database.

A stack is tests/live/conftest.py's `LiveAirflow` (tools/run.py's `Stack`, the same services
as `make run`) pointed at the soak's own Airflow metadata database, app database, Airflow home
and Redis broker db, with the scheduler creating no scheduled or asset-triggered runs
(`use_job_schedule = False`: their dates would be "now", different in the two stacks).
The CeleryExecutor stack runs two workers split by queue group, as docker-compose.yaml does.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
import urllib.error
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from tests.conftest import SESSION
from tests.live.conftest import LiveAirflow
from tools import devenv, reaper
from tools.run import Stack, admin_password, api_token, services, wait_for_api

ROOT = Path(__file__).resolve().parents[2]
DOMAINS = devenv.DOMAINS

# The two Celery workers by queue group (docker-compose.yaml's worker services): the queues of
# user-facing work (media uploads, emails and pushes) apart from the batch work, so a long
# analytics backfill never delays a notification. Together exactly the six queues of JOBS.md.
WORKER_QUEUES = {
    "worker-fast": "media,emails",
    "worker-batch": "analytics,maintenance,users,default",
}
# Slots: airflow.cfg's parallelism of 4 suits a laptop's interactive use; a backfill of short
# tasks (2-3 s each) spends most of a run waiting for the scheduler and a slot, so the soak
# overlaps more of them: 8 task processes at most (x ~150 MB), 4 per Celery worker.
PARALLELISM = 8
WORKER_CONCURRENCY = PARALLELISM // len(WORKER_QUEUES)

# The order of the backfills within each domain: producers before the jobs that read their
# results (stats before the models and reports on them, engagement scores before the digest,
# fetched ad stats before anomalies and reports, ...). Domains run side by side (their data
# are separate schemas); the platform's outbox sweeper runs once every domain is done, so the
# same messages are left for it in both stacks. Every scheduled DAG must be listed
# (test_soak checks this against the DagBag).
ORDER: dict[str, list[str]] = {
    "videos": ["videos_analytics_sync", "videos_adsense_sync", "videos_keyword_analysis",
               "videos_ml_predictions", "videos_daily_ai_reports"],
    "social": ["social_cleanup_expired_tokens", "social_update_user_statistics",
               "social_update_trending_hashtags", "social_generate_content_analytics",
               "social_update_post_engagement_scores", "social_send_content_digest",
               "social_cleanup_old_posts"],
    "music": ["music_process_chart_syncs", "music_fetch_track_metadata", "music_sync_audience",
              "music_cleanup_old_data"],
    "ads": ["ads_check_token_expiry", "ads_fetch_ad_data", "ads_detect_anomalies",
            "ads_generate_daily_report"],
    "fitness": ["fitness_clean_temporary_data", "fitness_aggregate_trending_workouts",
                "fitness_update_leaderboards", "fitness_send_daily_summaries",
                "fitness_send_challenge_notifications", "fitness_send_inactive_user_reminders",
                "fitness_send_weekly_progress_reports"],
    "platform": ["platform_health_check", "platform_backup_database", "platform_cleanup_metadata"],
}
LAST = ["platform_deliver_notifications"]
# Backfilled PARALLELISM runs at once rather than one at a time: the outbox sweeper's runs do
# not depend on their dates or on each other (each claims what is due with SKIP LOCKED; the
# first sends everything, the rest find nothing), and a day of them is 288 runs, which one
# at a time would be most of the soak. Every other DAG's runs go in date order, one at a time.
RUNS_AT_ONCE = {"platform_deliver_notifications": PARALLELISM}


def cadence(cron: str) -> str:
    """`weekly` (a fixed day of the week), `daily` (one fixed time of day), `hourly` (a fixed
    minute: hourly, every 3 or 6 hours) or `subhourly` (every 5 or 15 minutes)."""
    minute, hour, _, _, weekday = cron.split()
    if minute.isdigit() and hour.isdigit():
        return "daily" if weekday == "*" else "weekly"
    return "hourly" if minute.isdigit() else "subhourly"


def cron_of(summary: str) -> str | None:
    """The cron of a DAG's timetable summary: `0 9 * * 1`, or the time part of an asset-or-time
    schedule's `Asset or 0 3 * * *` (the last five fields; the first five would read `Asset`
    as the minute)."""
    match = re.search(r"(\S+ \S+ \S+ \S+ \S+)$", summary.strip())
    return match.group(1) if match else None


@dataclass
class Window:
    """Logical dates of the backfill, ending at `end` (yesterday's midnight UTC, so every daily
    interval is complete and the demo data, anchored at today, covers it): `days` days of the
    daily DAGs, the last complete week of the weekly ones, `hours` hours of the hourly ones
    (hourly, every 3 h, every 6 h) and `subhourly_hours` hours of those every 5 and 15 minutes
    (the outbox sweeper and the health check: 384 runs a day; the health check's 96, in date
    order, are the longest chain of the full week); each at least one interval of its cron."""
    end: datetime
    days: int
    hours: int
    subhourly_hours: int

    def range_for(self, cron: str) -> tuple[datetime, datetime]:
        # A backfill creates only runs whose interval has ended, and a run's logical date is its
        # interval's start. So the range is at least one interval of the cron (every 6 hours in
        # a window of 3 hours would get none), and a weekly DAG's two weeks back: its only
        # complete week in a window of `days` days would start before it; two weeks hold one
        # (two if the later one has ended by now), whatever the window.
        span = {"weekly": 2 * _period(cron), "daily": timedelta(days=self.days),
                "hourly": timedelta(hours=self.hours),
                "subhourly": timedelta(hours=self.subhourly_hours)}[cadence(cron)]
        span = max(span, _period(cron))
        # from inclusive, to inclusive: stop a second short of `end`.
        return self.end - span, self.end - timedelta(seconds=1)


def _period(cron: str) -> timedelta:
    """The length of the cron's intervals (fixed for every cron the DAGs use, in UTC)."""
    from croniter import croniter

    fires = croniter(cron, datetime(2026, 1, 5, tzinfo=UTC))
    first = fires.get_next(datetime)
    return fires.get_next(datetime) - first


def default_window() -> Window:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    # The defaults are what fits CI's 20 minutes on a 2-core machine (measured: README "Soak");
    # JOBYARD_SOAK_DAYS=7 JOBYARD_SOAK_HOURS=24 JOBYARD_SOAK_SUBHOURLY_HOURS=24 is the full week.
    return Window(end=today - timedelta(days=1), days=int(os.environ.get("JOBYARD_SOAK_DAYS", "1")),
                  hours=int(os.environ.get("JOBYARD_SOAK_HOURS", "3")),
                  subhourly_hours=int(os.environ.get("JOBYARD_SOAK_SUBHOURLY_HOURS", "1")))


# --- databases ------------------------------------------------------------------------------

def copy_database(server: str, template: str, name: str) -> str:
    """CREATE DATABASE name TEMPLATE template: byte-identical data for the second stack."""
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
    return devenv.database_url(server, name)


# --- the stack ------------------------------------------------------------------------------

def _bundles() -> str:
    local = "airflow.dag_processing.bundles.local.LocalDagBundle"
    return json.dumps([{"name": "dags-folder", "classpath": local, "kwargs": {"path": str(ROOT / "dags")}}])


class SoakStack(LiveAirflow):
    """LiveAirflow on the soak's own databases; CeleryExecutor with the two workers by queue group."""

    def __init__(self, executor: str, name: str, airflow_db: str, app_db: str, redis_db: int):
        port = devenv.free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.name, self.airflow_db = name, airflow_db
        home = SESSION["tmp"] / f"soak-{name}" / "airflow"
        home.mkdir(parents=True, exist_ok=True)
        files = home.parent
        for folder in ("fitness_uploads", "music_uploads", "backups"):
            (files / folder).mkdir(exist_ok=True)
        redis = SESSION["redis"]
        env = dict(SESSION["env"])
        env.update(devenv.airflow_env(airflow_db, app_db, redis, home=home))
        conns = devenv.connections(app_db, airflow_db, redis, sandbox_smtp=SESSION["smtp_port"],
                                   sandbox_http=SESSION["http_port"])
        variables = {**devenv.variables(), "platform_backup_dir": str(files / "backups"),
                     "fitness_upload_root": str(files / "fitness_uploads"),
                     "music_upload_root": str(files / "music_uploads")}
        env.update(devenv.connection_env(conns, variables))
        env.update({
            "AIRFLOW__CORE__FERNET_KEY": SESSION["env"]["AIRFLOW__CORE__FERNET_KEY"],
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": self.base,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base}/execution/",
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": _bundles(),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(PARALLELISM),
            # No scheduled or asset-triggered runs: their dates would be "now", different in the
            # two stacks. Backfill runs (unpaused DAGs: a paused DAG's backfill runs stay
            # queued) are all that run.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if executor == "celery" else "LocalExecutor",
            # The worker the soak kills takes with it the tasks it had received but not yet
            # started (queued in Airflow, unacked in Redis, which redelivers them only after
            # its visibility timeout of a day): the scheduler requeues a task queued this long.
            # 150 s, not the default 600 s (which added ~10 minutes to a soak), and checked
            # every 15 s. Here a task waits for a slot for seconds (8 tasks in flight, 4 slots
            # per worker, tasks of seconds); airflow.cfg keeps the default for real deployments,
            # where a task may wait longer for a busy worker (a requeue after 2 more fails it).
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "150",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "15",
            # A broker db of its own: no other stack's messages reach these workers.
            "AIRFLOW__CELERY__BROKER_URL": redis.rsplit("/", 1)[0] + f"/{redis_db}",
        })
        self.env = env
        self.restarting: set[str] = set()  # services the soak kills and starts again itself
        self.stack = Stack(env)
        self.stack.logs = files / "logs"
        self.stack.logs.mkdir(exist_ok=True)
        for svc, cmd in services(executor).items():
            if svc in {"api-server", "scheduler", "dag-processor", "triggerer"}:
                self.stack.start(svc, cmd)
        if executor == "celery":
            airflow = cmd[0]
            for worker, queues in WORKER_QUEUES.items():
                # -s: no log server (two workers on one host would both want port 8793; the
                # task logs are local files the api-server reads).
                self.stack.start(worker, [airflow, "celery", "worker", "-q", queues, "-H", f"{worker}@%h",
                                          "--concurrency", str(WORKER_CONCURRENCY), "-s"])
        wait_for_api(self.stack, self.base, timeout=240)
        self.token = api_token(self.base, admin_password({**self.stack.env}))

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        for attempt in range(5):  # a loaded machine: the api-server may drop a request
            try:
                return super().api(method, path, body)
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    self.token = api_token(self.base, admin_password({**self.stack.env}))
                elif exc.code < 500 or attempt == 4:
                    raise
            except (urllib.error.URLError, TimeoutError, ConnectionError):
                if attempt == 4:
                    raise
            time.sleep(2)
        raise AssertionError("unreachable")

    def scheduled_dags(self, expected: set[str], timeout: float = 300) -> dict[str, str]:
        """{dag_id: cron} of the scheduled DAGs, once the dag-processor has parsed all `expected`."""
        deadline = time.monotonic() + timeout
        while True:
            dags = {d["dag_id"]: d for d in self.api("GET", "/dags?limit=1000")["dags"]}
            if expected <= set(dags) or time.monotonic() > deadline:
                break
            self.check_alive()
            time.sleep(3)
        missing = expected - set(dags)
        assert not missing, f"not parsed within {timeout}s: {sorted(missing)}; logs in {self.stack.logs}"
        crons = {}
        for dag_id in dags:
            summary = self.api("GET", f"/dags/{dag_id}/details").get("timetable_summary") or ""
            if cron := cron_of(summary):
                crons[dag_id] = cron
        return crons

    def backfill(self, dag_id: str, start: datetime, end: datetime, max_active_runs: int = 1) -> int:
        """A backfill whose runs go `max_active_runs` at a time (applied apart from the DAG's own
        max_active_runs)."""
        self.api("PATCH", f"/dags/{dag_id}", {"is_paused": False})
        body = {"dag_id": dag_id, "from_date": start.isoformat(), "to_date": end.isoformat(),
                "run_backwards": False, "dag_run_conf": {}, "reprocess_behavior": "none",
                "max_active_runs": max_active_runs}
        try:
            return self.api("POST", "/backfills", body)["id"]
        except urllib.error.HTTPError as exc:
            raise BackfillRefused(f"{exc.code}: {exc.read().decode(errors='replace')[:500]}") from exc

    def trigger_intervals(self, dag_id: str, cron: str, start: datetime, end: datetime, timeout: float) -> list[dict]:
        """What a backfill does, for a DAG Airflow refuses to backfill: one run per interval of
        `cron` whose start lies in [start, end], in date order, each after the previous ended,
        with the interval given explicitly (a manual run's own would end "now")."""
        from croniter import croniter

        runs = []
        fires = croniter(cron, start - timedelta(seconds=1))
        t = fires.get_next(datetime)
        deadline = time.monotonic() + timeout
        while t <= end:
            nxt = croniter(cron, t).get_next(datetime)
            run = self.api("POST", f"/dags/{dag_id}/dagRuns", {
                "dag_run_id": f"soak__{t.isoformat()}", "logical_date": t.isoformat(),
                "data_interval_start": t.isoformat(), "data_interval_end": nxt.isoformat(), "conf": {}})
            while True:
                with psycopg.connect(self.airflow_db) as conn:
                    state = conn.execute("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s",
                                         (dag_id, run["dag_run_id"])).fetchone()[0]
                if state in ("success", "failed"):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{dag_id} {run['dag_run_id']} not done in {timeout:.0f}s")
                self.check_alive()
                time.sleep(2)
            runs.append({"dag_run_id": run["dag_run_id"], "state": state, "logical_date": t})
            t = nxt
        return runs

    def backfill_runs(self, backfill_id: int) -> list[dict]:
        """The runs of a backfill, read from the metadata database (polling the REST API from
        six threads costs the api-server more CPU than the tasks on a 2-core machine)."""
        with psycopg.connect(self.airflow_db) as conn:
            rows = conn.execute(
                "SELECT r.run_id, r.state, r.logical_date FROM backfill_dag_run b JOIN dag_run r"
                " ON r.id = b.dag_run_id WHERE b.backfill_id = %s ORDER BY b.sort_ordinal", (backfill_id,)).fetchall()
        return [{"dag_run_id": r[0], "state": r[1], "logical_date": r[2]} for r in rows]

    def wait_for_backfill(self, dag_id: str, backfill_id: int, timeout: float) -> list[dict]:
        """Until every run of the backfill has ended (the scheduler marks the backfill itself
        completed only every 30 s)."""
        deadline = time.monotonic() + timeout
        while True:
            runs = self.backfill_runs(backfill_id)
            if runs and all(r["state"] in ("success", "failed") for r in runs):
                return runs
            if time.monotonic() > deadline:
                raise TimeoutError(f"backfill of {dag_id} not done in {timeout:.0f}s: "
                                   f"{[(r['dag_run_id'], r['state']) for r in runs]}; logs in {self.stack.logs}")
            self.check_alive()
            time.sleep(2)

    def task_states(self, dag_id: str) -> list[dict]:
        with psycopg.connect(self.airflow_db) as conn:
            rows = conn.execute("SELECT run_id, task_id, map_index, state, try_number, hostname, queue, pid"
                                " FROM task_instance WHERE dag_id = %s", (dag_id,)).fetchall()
        keys = ("run_id", "task_id", "map_index", "state", "try_number", "hostname", "queue", "pid")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def check_alive(self) -> None:
        if dead := [d for d in self.stack.dead() if d not in self.restarting]:
            raise RuntimeError(f"{dead} exited; logs in {self.stack.logs}")

    def final_sweep(self, app_db: str, cron: str, after: datetime, timeout: float) -> dict:
        """Messages a killed deliverer had claimed stay `sending` until their lease runs out
        (include/common/delivery.py, 300 s), then the next sweep sends them. If any are left
        when the backfills end, wait for their leases and run the sweeper once more."""
        with psycopg.connect(app_db) as conn:
            held, until = conn.execute("SELECT count(*), max(claimed_until) FROM platform.outbox"
                                       " WHERE status = 'sending'").fetchone()
        if not held:
            return {"held": 0}
        t0 = time.monotonic()
        time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 2)
        runs = self.trigger_intervals("platform_deliver_notifications", cron, after, after, timeout)
        return {"held": held, "waited_s": round(time.monotonic() - t0, 1), "runs": runs}

    def process_of(self, pid: int) -> bool:
        """Whether `pid` is a process of this stack (its run id in the environment)."""
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            return False
        return f"{reaper.TAG}={self.stack.run_id}".encode() in environ.split(b"\0")


class BackfillRefused(Exception):
    """The API refused the backfill (422 and the reason)."""


@dataclass
class SoakResult:
    seconds: float = 0.0
    runs: dict[str, list[dict]] = field(default_factory=dict)  # dag_id -> its backfill runs
    errors: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # dag_id -> why the API refused its backfill


def run_backfills(stack: SoakStack, crons: dict[str, str], window: Window, timeout: float) -> SoakResult:
    """Every domain's DAGs one after another in ORDER (the domains side by side, one thread
    each), then the LAST ones. Each DAG's runs go in date order, one at a time unless
    RUNS_AT_ONCE says more."""
    result = SoakResult()
    t0 = time.monotonic()
    lock = threading.Lock()

    def chain(dag_ids: list[str]) -> None:
        for dag_id in dag_ids:
            left = timeout - (time.monotonic() - t0)
            start, end = window.range_for(crons[dag_id])
            try:
                try:
                    backfill_id = stack.backfill(dag_id, start, end, RUNS_AT_ONCE.get(dag_id, 1))
                    runs = stack.wait_for_backfill(dag_id, backfill_id, left)
                except BackfillRefused as exc:
                    if "No runs to create" in str(exc):  # test_soak fails a DAG left without runs
                        with lock:
                            result.runs[dag_id] = []
                        continue
                    if "non-periodic" not in str(exc):
                        raise
                    # An asset-or-time schedule (AssetOrTimeSchedule): Airflow 3.3 refuses to
                    # backfill it although its timetable is periodic.
                    with lock:
                        result.refused[dag_id] = str(exc)
                    runs = stack.trigger_intervals(dag_id, crons[dag_id], start, end, left)
            except Exception as exc:  # collected: the test reports them all; the chain goes on
                with lock:
                    result.errors.append(f"{dag_id}: {exc!r}")
                continue
            with lock:
                result.runs[dag_id] = runs

    threads = [threading.Thread(target=chain, args=(dag_ids,), name=domain) for domain, dag_ids in ORDER.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    chain(LAST)
    result.seconds = time.monotonic() - t0
    return result


# --- killing a task mid-task ----------------------------------------------------------------

@dataclass
class Kill:
    dag_id: str
    run_id: str = ""
    task_id: str = ""
    killed: list[int] = field(default_factory=list)
    killed_at: float = 0.0  # monotonic
    detected_after: float | None = None  # seconds until the try was failed (up_for_retry)
    recovered_after: float | None = None  # seconds until the task succeeded on a later try
    tries: int = 0
    note: str = ""


def kill_running_task(stack: SoakStack, dag_id: str, timeout: float) -> Kill:
    """Waits for a running task instance of `dag_id` whose task process is alive, then kills -9
    the Celery worker running it: its task process, the worker's pool processes (the task
    runners) and the worker itself, as when a worker machine dies. Nobody is left to report the
    end of the task or to heartbeat: only the scheduler's heartbeat timeout can find it. The
    worker is then started again, as tools/run.py's supervisor (or a container restart) does."""
    kill = Kill(dag_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ti in stack.task_states(dag_id):
            pid = ti.get("pid")
            if ti["state"] != "running" or not pid or not stack.process_of(pid):
                continue
            worker = _service_of(pid)
            if worker not in WORKER_QUEUES:
                continue
            stack.restarting.add(worker)
            pids = [pid, *reaper.tagged(stack.stack.run_id, worker)]
            for target in pids:
                try:
                    os.kill(target, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            kill.killed_at = time.monotonic()
            kill.run_id, kill.task_id, kill.tries = ti["run_id"], ti["task_id"], ti["try_number"]
            kill.killed = sorted(set(pids))
            kill.note = f"killed {worker} ({len(kill.killed)} processes) running {dag_id}.{ti['task_id']}"
            stack.stack.procs[worker].wait(timeout=30)
            stack.stack.start(worker, stack.stack.cmds[worker])
            stack.restarting.discard(worker)
            return kill
        time.sleep(0.5)
    kill.note = f"no running task of {dag_id} within {timeout:.0f}s"
    return kill


def _service_of(pid: int) -> str | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    prefix = f"{reaper.SERVICE_TAG}=".encode()
    return next((e[len(prefix):].decode() for e in environ if e.startswith(prefix)), None)


def follow_kill(stack: SoakStack, kill: Kill, timeout: float) -> None:
    """Until the killed task instance succeeded on a later try (or `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and kill.run_id:
        [ti] = [t for t in stack.task_states(kill.dag_id)
                if (t["run_id"], t["task_id"]) == (kill.run_id, kill.task_id)]
        now = time.monotonic()
        if kill.detected_after is None and (ti["try_number"] > kill.tries or ti["state"] in ("up_for_retry", "failed")):
            kill.detected_after = now - kill.killed_at
        if ti["state"] == "success" and ti["try_number"] > kill.tries:
            kill.recovered_after = now - kill.killed_at
            kill.tries = ti["try_number"]
            return
        if ti["state"] == "failed":
            kill.note = f"failed for good: {ti}"
            return
        time.sleep(1)


# --- checksums ------------------------------------------------------------------------------

# Columns the jobs set from now() (the time a row was written, never a value derived from the
# data interval): they differ between any two runs. Beside these, every column whose default is
# now() is left out (created_at, fetched_at, ... of rows the jobs insert). Found by
# `grep -rn "now()" include/*/repository` and the migrations.
WRITTEN_AT = {
    "ads.campaign_daily_stats": {"fetched_at"},
    "ads.ad_account_tokens": {"updated_at"},
    "music.track_audience": {"fetched_at"},
    "music.chart_rankings": {"fetched_at"},
    "music.chart_sync_schedules": {"updated_at", "last_sync_at", "lease_until"},
    "music.chart_sync_executions": {"started_at", "finished_at"},
    "platform.backups": {"deleted_at"},
    "platform.health_readings": {"recorded_at"},
    "social.daily_content_analytics": {"computed_at"},
    "social.job_state": {"updated_at"},
    "social.post_engagement_scores": {"updated_at"},
    "videos.adsense_earnings": {"synced_at"},
    "videos.daily_stats": {"synced_at"},
    # The outbox's delivery bookkeeping: when it was claimed and sent. Its id is a sequence
    # shared by every domain's jobs, which run side by side, so the ids follow the order of
    # the inserts across domains; the dedupe key identifies a message.
    "platform.outbox": {"id", "next_attempt_at", "claimed_until", "sent_at"},
}
# Bookkeeping of the retry the kill causes, not of the data: delivery attempts started (a
# message the killed deliverer had claimed counts one more) and the periods each chart-sync
# execution did itself (the retry finds those the killed try had committed). The rankings and
# messages themselves are compared.
RETRIED = {
    "platform.outbox": {"attempts"},
    "music.chart_sync_executions": {"periods_synced"},
}
# State of the LIVE ad account tokens, which ads_check_token_expiry checks against the wall
# clock on purpose (dags/ads/check_token_expiry.py, check_tokens: `now=datetime.now(UTC)`:
# "Token expiry is about the live tokens, so 'now', not the data interval"): when each was
# checked and refreshed, the expiry the platform gave the refreshed token (now + its lifetime),
# and the token itself, a Fernet ciphertext (random IV and encryption time: never the same
# twice even for the same token).
LIVE_TOKENS = {
    "ads.ad_accounts": {"last_checked_at", "last_refreshed_at", "token_expires_at"},
    "ads.ad_account_tokens": {"access_token_enc", "refresh_token_enc"},
    "ads.token_alerts": {"started_at", "recovered_at"},
}
# Surrogate ids handed out in commit order by tasks that run side by side (the mapped
# sync_chart tasks of music_process_chart_syncs create the tracks they meet): compared through
# the natural key instead (music.tracks.uuid).
REKEYED = {
    "music.tracks": {"id": None},
    # Which of the side-by-side sync_chart tasks created a track two charts share depends on
    # which committed first: the tracks are the same, the per-execution count is not.
    "music.chart_sync_executions": {"tracks_created": None},
    "music.chart_rankings": {"track_id": "(SELECT k.uuid FROM music.tracks k WHERE k.id = track_id)::text"},
    "music.track_audience": {"track_id": "(SELECT k.uuid FROM music.tracks k WHERE k.id = track_id)::text"},
    # Each board's id is handed out when its first run creates it (migration 0017): compared
    # through the board and period. Its partitions (named by the id) are compared as the
    # partitioned table's rows, not one by one.
    "fitness.leaderboards": {"id": None},
    "fitness.leaderboard_entries": {
        "leaderboard_id": "(SELECT b.board || '/' || b.period FROM fitness.leaderboards b"
                          " WHERE b.id = leaderboard_id)"},
}
# Readings of the machine at the moment of the check (latency, free disk and memory, the
# Airflow backlog of each stack's own metadata database), and each stack's own backup runs:
# measurements, not results of the data. Their rows (check, time; database, day) are still
# compared.
MEASURED = {
    "platform.health_readings": {"ok", "value", "detail"},
    "platform.health_state": {"ok", "since", "detail"},
    "platform.backups": {"path", "size_bytes", "toc_entries", "started_at", "finished_at"},
}


def excluded_columns(conn: psycopg.Connection) -> dict[str, set[str]]:
    rows = conn.execute(
        "SELECT table_schema || '.' || table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = ANY(%s) AND (column_default ILIKE 'now()%%' OR column_default ILIKE"
        " '%%current_timestamp%%')", (list(DOMAINS),)).fetchall()
    excluded: dict[str, set[str]] = {}
    for table, column in rows:
        excluded.setdefault(table, set()).add(column)
    for extra in (WRITTEN_AT, RETRIED, LIVE_TOKENS, MEASURED):
        for table, columns in extra.items():
            excluded.setdefault(table, set()).update(columns)
    return excluded


def _row_expression(table: str, cols: list[str], own_names: dict[str, str]) -> sql.Composable:
    """The text of a row: the columns kept (REKEYED ones through their natural key), with the
    stack's own database names (in health readings, backup rows) replaced by placeholders."""
    parts = []
    for col in cols:
        rekey = REKEYED.get(table, {})
        if col in rekey:
            if rekey[col] is not None:
                parts.append(sql.SQL(rekey[col]))
        else:
            parts.append(sql.Identifier(col))
    expr = sql.SQL("ROW({})::text").format(sql.SQL(", ").join(parts))
    for name, placeholder in own_names.items():
        expr = sql.SQL("replace({}, {}, {})").format(expr, sql.Literal(name), sql.Literal(placeholder))
    return expr


def _columns(conn: psycopg.Connection, table: str, excluded: set[str]) -> list[str]:
    schema, name = table.split(".")
    return [r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
        " ORDER BY ordinal_position", (schema, name)).fetchall() if r[0] not in excluded]


def table_checksums(url: str, excluded: dict[str, set[str]],
                    own_names: dict[str, str]) -> dict[str, tuple[int, str]]:
    """{schema.table: (rows, md5 of the sorted row texts)} over every table of the domains,
    leaving out the `excluded` columns. Sorted by the row text, so the physical and id order
    of the rows does not matter."""
    out = {}
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname = ANY(%s)"
            " AND tablename <> 'alembic_version' AND NOT (schemaname || '.' || quote_ident(tablename))::regclass"
            "::oid IN (SELECT inhrelid FROM pg_inherits) ORDER BY 1", (list(DOMAINS),)).fetchall()]
        for table in tables:
            schema, name = table.split(".")
            row = _row_expression(table, _columns(conn, table, excluded.get(table, set())), own_names)
            query = sql.SQL("SELECT count(*), coalesce(md5(string_agg(r, E'\\n' ORDER BY r)), '')"
                            " FROM (SELECT {} AS r FROM {}.{}) t").format(
                row, sql.Identifier(schema), sql.Identifier(name))
            out[table] = conn.execute(query).fetchone()
    return out


def differing_columns(url_a: str, url_b: str, table: str, excluded: set[str],
                      names_a: dict[str, str], names_b: dict[str, str]) -> list[str]:
    """The columns of `table` whose sorted values differ between the two databases (diagnosis)."""
    schema, name = table.split(".")
    found = []
    with psycopg.connect(url_a) as a, psycopg.connect(url_b) as b:
        for col in _columns(a, table, excluded):
            digests = []
            for conn, names in ((a, names_a), (b, names_b)):
                expr = _row_expression(table, [col], names)
                query = sql.SQL("SELECT coalesce(md5(string_agg(v, ',' ORDER BY v)), '') FROM"
                                " (SELECT {} AS v FROM {}.{}) t").format(
                    expr, sql.Identifier(schema), sql.Identifier(name))
                digests.append(conn.execute(query).fetchone())
            if digests[0] != digests[1]:
                found.append(col)
    return found


def outbox_report(url: str) -> dict:
    with psycopg.connect(url) as conn:
        by_status = dict(conn.execute("SELECT status, count(*) FROM platform.outbox GROUP BY 1").fetchall())
        duplicates = conn.execute("SELECT count(*) FROM (SELECT dedupe_key FROM platform.outbox"
                                  " GROUP BY 1 HAVING count(*) > 1) d").fetchone()[0]
        emails = dict(conn.execute(
            "SELECT dedupe_key, recipient FROM platform.outbox WHERE channel = 'email'").fetchall())
        pushes = conn.execute(
            "SELECT recipient, subject, body_text FROM platform.outbox WHERE channel = 'push'").fetchall()
    return {"by_status": by_status, "duplicate_keys": duplicates, "emails": emails, "pushes": pushes}
