"""README.md stays true: its DAG table is the DagBag's, and its test command is CI's."""

from __future__ import annotations

from pathlib import Path

from tools.dag_table import BEGIN, END, load_dags, render

ROOT = Path(__file__).resolve().parent.parent


def test_dag_table_matches_the_dagbag():
    readme = (ROOT / "README.md").read_text()
    current = readme.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert current == render(load_dags()), "README's DAG table is stale: run `make dag-table`"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
