"""End-to-end helpers: run a repo DAG in-process with `dag.test()` against the session's
migrated databases."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo_dags(airflow_db, app_db, sandbox):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.dags


def run_dag(dag, logical_date, conf: dict | None = None):
    """One dag.test() run, with two test-only changes that the live-stack tests cover instead:
    retries off (dag.test waits out real retry delays), and no deadline alert (dag.test in
    Airflow 3.3.2 ends a successful run by looking its deadline alerts up by id while it
    holds them as serialized dicts, which fails)."""
    for task in dag.tasks:
        task.retries = 0
    dag.deadline = None
    return dag.test(logical_date=logical_date, run_conf=conf)


def task_result(dag_run, task_id: str):
    """The return value (XCom) a task of the run pushed."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.execute(XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id,
                                                 task_ids=task_id, key="return_value")).scalar_one()
        return XComModel.deserialize_value(row)


def task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
