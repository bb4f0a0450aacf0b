"""The operator page plugin (plugins/operator_page.py) as Airflow loads it, without a server:
what it registers, that task processes do not pay for FastAPI, and the listener that puts the
queuing DAG run into PGOPTIONS (read back by a real PostgreSQL connection)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from plugins import operator_page as plugin

ROOT = Path(__file__).resolve().parents[2]


class RuntimeTaskInstance:  # the task runner's class name is what the listener looks for
    def __init__(self, dag_id: str, run_id: str):
        self.dag_id, self.run_id = dag_id, run_id


class TaskInstance(RuntimeTaskInstance):  # what the scheduler and api-server pass
    pass


def test_registers_a_nav_view_and_a_lazy_fastapi_app():
    [view] = plugin.OperatorPagePlugin.external_views
    assert view == {"name": "Operator", "href": "/operator/", "destination": "nav", "url_route": "operator",
                    "nav_top_level": True}
    [app] = plugin.OperatorPagePlugin().fastapi_apps
    assert app["url_prefix"] == "/operator" and app["app"] is plugin.build_app()
    paths = {route.path for route in app["app"].routes}
    assert {"/", "/api/overview", "/api/messages", "/api/requeue"} <= paths


def test_importing_the_plugin_file_does_not_import_fastapi():
    """Airflow imports every plugin file in every process, task processes included."""
    code = ("import sys, importlib.util as u; s = u.spec_from_file_location('operator_page', sys.argv[1]); "
            "m = u.module_from_spec(s); s.loader.exec_module(m); "
            "print(sorted(n for n in ('fastapi', 'airflow.api_fastapi.core_api.security') if n in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "plugins" / "operator_page.py")], check=True,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    assert out.strip() == "[]"


def test_airflow_loads_the_plugin_from_the_plugins_folder():
    code = ("from airflow import plugins_manager as m; "
            "print(sorted(p.name for p in m._get_plugins()[0]), sorted(m._get_plugins()[1]))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         env={**os.environ, "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins")}).stdout
    assert "jobyard_operator_page" in out and out.strip().endswith("[]"), out


def test_listener_sets_and_clears_the_queuing_run_in_pgoptions(monkeypatch, session_env):
    listener = plugin.QueuedByListener()
    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=5000")
    ti = RuntimeTaskInstance("social_send_welcome_email", "manual__2026-06-10T12:00:00+00:00 by hand\\x")
    listener.on_task_instance_running(previous_state=None, task_instance=ti)
    assert os.environ["PGOPTIONS"] == ("-c statement_timeout=5000 -c jobyard.queued_by=social_send_welcome_email/"
                                       "manual__2026-06-10T12:00:00+00:00\\ by\\ hand\\\\x")
    with psycopg.connect(session_env["server"]) as conn:  # libpq reads PGOPTIONS
        got = conn.execute("SELECT current_setting('jobyard.queued_by', true), "
                           "current_setting('statement_timeout')").fetchone()
    assert got == ("social_send_welcome_email/manual__2026-06-10T12:00:00+00:00 by hand\\x", "5s")
    listener.on_task_instance_running(previous_state=None, task_instance=RuntimeTaskInstance("d", "r2"))
    assert os.environ["PGOPTIONS"] == "-c statement_timeout=5000 -c jobyard.queued_by=d/r2"  # replaced, not added
    listener.on_task_instance_success(previous_state=None, task_instance=ti)
    assert os.environ["PGOPTIONS"] == "-c statement_timeout=5000"

    monkeypatch.delenv("PGOPTIONS")
    listener.on_task_instance_running(previous_state=None, task_instance=ti)
    listener.on_task_instance_failed(previous_state=None, task_instance=ti, error=None)
    assert "PGOPTIONS" not in os.environ
    listener.on_task_instance_running(previous_state=None, task_instance=TaskInstance("d", "r"))
    assert "PGOPTIONS" not in os.environ, "only the task's own process"


@pytest.mark.parametrize("options, kept", [
    ("", ""),
    ("-c jobyard.queued_by=a/b", ""),
    ("-c x.y=1 -c jobyard.queued_by=a\\ b/c\\\\d -c z=2", "-c x.y=1 -c z=2"),
])
def test_strip_option_keeps_the_rest(options, kept):
    assert plugin._strip_option(options) == kept
