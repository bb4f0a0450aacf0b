"""DAG integrity: every DAG imports without I/O, fast, and matches the JOBS.md contract."""

from __future__ import annotations

import gc
import socket
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest

from include.orchestration.defaults import QUEUE_PRIORITY, RETRY_POLICY
from include.orchestration.errors import ERROR_POLICY
from include.orchestration.schedules import FREQUENT_DEADLINE, SLOW_DEADLINE, domain_timezone
from tests.dags.jobs_contract import load_jobs

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
PARSE_BUDGET = timedelta(milliseconds=100)


class ParseTimeIO(AssertionError):
    """Raised when parsing a DAG file tries I/O."""


def _forbid(what):
    def raiser(*args, **kwargs):
        raise ParseTimeIO(f"{what} during DAG parsing")
    return raiser


def parse_without_io(folder: Path):
    """A DagBag of `folder`, parsed with Variable/Connection lookups, database connects and
    network I/O made to raise."""
    from airflow.dag_processing.dagbag import DagBag

    with ExitStack() as stack:
        for target in ("airflow.sdk.Variable.get", "airflow.sdk.BaseHook.get_connection",
                       "psycopg.connect", "socket.create_connection", "requests.Session.request"):
            stack.enter_context(mock.patch(target, _forbid(target)))
        stack.enter_context(mock.patch.object(socket.socket, "connect", _forbid("socket.connect")))
        return DagBag(dag_folder=str(folder))


@pytest.fixture(scope="session")
def dagbag():
    return parse_without_io(DAGS)


@pytest.fixture(scope="session")
def jobs():
    return load_jobs()


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert dagbag.dags, "no DAG found"


def test_parse_time_io_is_caught(tmp_path):
    """The guard works: a DAG file reading a Variable at module level fails to import."""
    (tmp_path / "bad.py").write_text(
        "from airflow.sdk import Variable, dag\n"
        "LIMIT = Variable.get('limit')\n"
        "@dag(schedule=None)\ndef bad():\n    pass\nbad()\n"
    )
    bag = parse_without_io(tmp_path)
    assert "during DAG parsing" in next(iter(bag.import_errors.values()))


def test_every_dag_file_parses_within_budget(dagbag):
    """Each file's own parse cost, file by file after the session's parse: the first parse in a
    process also pays for importing Airflow's definitions (which the dag-processor
    pre-imports, see `[dag_processor] parsing_pre_import_modules`) and our shared helpers
    once. The heap is frozen first (as Airflow's executors do before forking) so that a full
    garbage collection of Airflow's objects, ~0.2 s here, is not billed to whichever file
    happens to cross the collector's threshold."""
    gc.collect()
    gc.freeze()
    try:
        durations = {}
        for path in sorted(DAGS.rglob("*.py")):
            for stat in parse_without_io(path).dagbag_stats:
                durations[str(path.relative_to(DAGS))] = stat.duration
    finally:
        gc.unfreeze()
    assert len(durations) == len(list(DAGS.rglob("*.py")))
    slow = {f: d for f, d in durations.items() if d > PARSE_BUDGET}
    assert not slow, f"DAG files over {PARSE_BUDGET}: {slow}"


def test_every_dag_is_in_the_contract_at_its_path(dagbag, jobs):
    for dag_id, dag in dagbag.dags.items():
        assert dag_id in jobs, f"{dag_id} is not in JOBS.md"
        domain, job = dag_id.split("_", 1)
        assert Path(dag.fileloc) == DAGS / domain / f"{job}.py"
        assert set(dag.tags) == {domain}
        assert dag.doc_md and dag.doc_md.strip().startswith(f"# {dag_id}"), f"{dag_id} has no doc_md"


def test_schedules_time_zones_and_deadlines(dagbag, jobs):
    for dag_id, dag in dagbag.dags.items():
        job = jobs[dag_id]
        if job.cron is None:
            assert dag.timetable.__class__.__name__ == "NullTimetable", dag_id
            assert not dag.deadline, f"manual {dag_id} has a deadline"
            continue
        timetable = dag.timetable
        if job.asset_triggered:  # "when X landed (asset), and daily ...": the cron inside an AssetOrTimeSchedule
            assert timetable.__class__.__name__ == "AssetOrTimeSchedule", f"{dag_id}: {timetable}"
            assert timetable.asset_condition.objects, f"{dag_id} names no asset"
            timetable = timetable.timetable
        elif timetable.__class__.__name__ == "AssetOrTimeSchedule":  # a timed job that also runs when its data lands
            assert timetable.asset_condition.objects, f"{dag_id} names no asset"
            timetable = timetable.timetable
        assert timetable.__class__.__name__ == "CronDataIntervalTimetable", f"{dag_id}: {timetable}"
        assert timetable.expression == job.cron, f"{dag_id}: {timetable.expression} != {job.cron} ({job.schedule})"
        assert str(timetable.timezone) == domain_timezone(job.domain)
        assert not dag.catchup
        deadlines = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
        assert len(deadlines) == 1, f"{dag_id} needs one deadline alert"
        hourly_or_faster = job.cron.split()[1] == "*"
        assert deadlines[0].interval == (FREQUENT_DEADLINE if hourly_or_faster else SLOW_DEADLINE), dag_id
        assert deadlines[0].callback.kwargs["domain"] == job.domain


def test_queues_priorities_retries_and_timeouts(dagbag, jobs):
    for dag_id, dag in dagbag.dags.items():
        job = jobs[dag_id]
        policy = RETRY_POLICY.get(job.domain, RETRY_POLICY["default"])
        for t in dag.tasks:
            where = f"{dag_id}.{t.task_id}"
            assert t.queue == job.queue, where
            assert t.priority_weight == QUEUE_PRIORITY[job.queue], where
            assert t.weight_rule == "absolute", where
            assert t.retries == policy["retries"], where
            assert t.retry_delay == policy["retry_delay"], where
            assert t.retry_exponential_backoff == policy["retry_exponential_backoff"], where
            assert t.execution_timeout is not None and t.execution_timeout <= timedelta(hours=2), where
            if job.domain == "ads":
                assert t.execution_timeout == timedelta(hours=1), where
            assert t.on_failure_callback, f"{where} has no failure alert"
            assert t.retry_policy is ERROR_POLICY, f"{where} does not use the shared error policy"
        soft = dag.default_args.get("soft_limit")
        assert soft is not None and soft < dag.default_args["execution_timeout"], f"{dag_id} declares no soft limit"


def test_contract_parser_reads_every_job(jobs):
    """Guards the parser itself: JOBS.md lists 35 jobs across six domains."""
    assert len(jobs) == 35
    assert {j.domain for j in jobs.values()} == {"videos", "social", "music", "ads", "fitness", "platform"}
    assert jobs["ads_fetch_ad_data"].cron == "0 */6 * * *"
    assert jobs["social_cleanup_old_posts"].cron == "0 1 * * 0"
    assert jobs["music_fetch_track_metadata"].asset_triggered
    assert jobs["social_send_welcome_email"].manual_params == ("user_id",)


def test_time_zone_override(monkeypatch):
    monkeypatch.setenv("VIDEOS_TZ", "Asia/Shanghai")
    monkeypatch.setenv("ADS_TZ", "Asia/Shanghai")
    assert domain_timezone("videos") == "Asia/Shanghai"
    assert domain_timezone("ads") == "UTC"
    monkeypatch.setenv("VIDEOS_TZ", "Mars/Olympus")
    with pytest.raises(Exception, match="Mars/Olympus"):
        domain_timezone("videos")


def test_integer_params_are_bounded_by_their_column(dagbag):
    """A value beyond the column's type is refused by the trigger form, never by the database."""
    for dag_id, dag in dagbag.dags.items():
        for name, param in dag.params.items():
            schema = param.schema if hasattr(param, "schema") else dag.params.get_param(name).schema
            types = schema.get("type")
            if "integer" in (types if isinstance(types, list) else [types]):
                assert schema.get("maximum") is not None, f"{dag_id} param {name} has no maximum"


def test_dag_files_never_read_connections_themselves():
    for path in DAGS.rglob("*.py"):
        assert "BaseHook" not in path.read_text(), f"{path}: use include/orchestration/clients.py"
