"""The repository's DAGs as Airflow parses them, for tools that describe them (tools/dag_table.py):
Airflow is imported here, not in tools/, which stays plain Python (tests/test_layers.py)."""

from __future__ import annotations

from pathlib import Path


def load_dags(dag_folder: Path) -> dict:
    """dag_id -> DAG of every file under `dag_folder`; exits naming the files that fail to import."""
    from airflow.dag_processing.dagbag import DagBag  # Airflow is heavy: only when asked

    bag = DagBag(dag_folder=str(dag_folder))
    if bag.import_errors:
        raise SystemExit(f"import errors: {bag.import_errors}")
    return bag.dags
