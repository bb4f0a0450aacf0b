"""README's "Triggering a job by hand" works as written: each fenced bash block of that section
runs literally, in order, in one bash (a user's shell), against a live stack. The shell starts
as a new user's would: no Airflow variables and no `.venv/bin` on PATH, so `airflow` is found
only through what `source <(.venv/bin/python -m tools.devenv env)` exports. That command is
pointed at the live stack the way a user would point it at another install (JOBYARD_STATE,
JOBYARD_PG_URL, JOBYARD_AIRFLOW_DB/JOBYARD_APP_DB, JOBYARD_AIRFLOW_HOME); the only substitution
is the stack's random port for README's 127.0.0.1:8080. The admin password is not substituted:
the REST block reads it from the password file the exports name."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live.conftest import LiveAirflow

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]


def section_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Triggering a job by hand\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, re.S)


def new_user_shell_env(session_env: dict) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "JOBYARD")) and k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p and p != venv_bin)
    env.update({
        "JOBYARD_STATE": os.environ["JOBYARD_STATE"],  # the session's: same per-install secrets
        "JOBYARD_PG_URL": session_env["server"],
        "JOBYARD_AIRFLOW_DB": session_env["names"]["airflow"],
        "JOBYARD_APP_DB": session_env["names"]["app"],
        "JOBYARD_AIRFLOW_HOME": session_env["env"]["AIRFLOW_HOME"],  # the live stack's password file
        "JOBYARD_REDIS_URL": session_env["redis"],
    })
    return env


@pytest.fixture(scope="module")
def live_local(airflow_db, app_db, sandbox):
    """tests/live's LocalExecutor stack (its conftest's fixtures do not reach this folder)."""
    stack = LiveAirflow("local")
    yield stack
    stack.stop()


def test_the_readme_trigger_commands_work_as_written(live_local, session_env):
    blocks = section_blocks()
    assert len(blocks) >= 2 and blocks[0].startswith("source <(.venv/bin/python -m tools.devenv env)")
    script = "\n".join(blocks)
    dag_ids = sorted(set(re.findall(r"dags trigger (\w+)", script) + re.findall(r"/dags/(\w+)/dagRuns", script)))
    assert {"platform_backup_database", "social_send_welcome_email", "platform_health_check"} <= set(dag_ids)
    for dag_id in dag_ids:
        live_local.wait_for_dag(dag_id)
    # Manual runs only: the live stack's scheduler may start a scheduled health check meanwhile.
    def manual_runs(dag_id: str) -> int:
        return live_local.api("GET", f"/dags/{dag_id}/dagRuns?run_type=manual")["total_entries"]

    runs_before = {d: manual_runs(d) for d in dag_ids}

    env = new_user_shell_env(session_env)
    assert subprocess.run(["bash", "-c", "command -v airflow"], env=env, cwd=ROOT).returncode != 0, \
        "the test shell must not find airflow before the README's source line"
    full = "set -euo pipefail\n" + script.replace("http://127.0.0.1:8080", live_local.base)
    result = subprocess.run(["bash", "-c", full], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, \
        f"README commands failed:\n{full}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"

    runs_after = {d: manual_runs(d) for d in dag_ids}
    assert runs_after == {d: n + script.count(d) for d, n in runs_before.items()}, "one run per command"
    assert '"dag_id":"platform_health_check"' in result.stdout.replace(" ", "")
