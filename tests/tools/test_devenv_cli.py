"""The make targets' Python entry points (`python -m tools.devenv env|setup|migrate|seed`) run
against a scratch environment (own state folder and databases on the session's server, never
the dev `.state`), and `make run` seeds demo data only into an empty app database."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tools import devenv
from tools import run as run_mod

ROOT = Path(__file__).resolve().parents[2]


def _table_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT format('%%I.%%I', schemaname, tablename) FROM pg_tables"
            " WHERE schemaname = ANY(%s) AND tablename <> 'alembic_version'",
            (list(devenv.DOMAINS),))]
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


@pytest.fixture
def scratch(tmp_path, session_env):
    """A fresh user's environment: no AIRFLOW_* / JOBYARD_* of the test session, a state folder
    and two databases of its own (dropped afterwards)."""
    tag = secrets.token_hex(4)
    names = {"JOBYARD_AIRFLOW_DB": f"jobyard_test_{tag}_cli_airflow", "JOBYARD_APP_DB": f"jobyard_test_{tag}_cli_app"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "JOBYARD"))}
    env.update(names, JOBYARD_STATE=str(tmp_path / "state"), JOBYARD_PG_URL=session_env["server"],
               JOBYARD_REDIS_URL=session_env["redis"])
    yield env
    for name in names.values():
        devenv.drop_database(session_env["server"], name)


def _devenv(env: dict, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "tools.devenv", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"devenv {' '.join(args)} failed:\n{result.stderr}"
    return result


def test_every_make_target_entry_point_runs(scratch, tmp_path):
    makefile = (ROOT / "Makefile").read_text()
    in_makefile = set(re.findall(r"-m tools\.devenv (\w+)", makefile))
    tested = {"env", "setup", "migrate", "seed"}
    assert in_makefile <= tested, f"a make target runs a devenv command this test does not: {in_makefile - tested}"

    exports = _devenv(scratch, "env").stdout
    assert f"export AIRFLOW_HOME='{tmp_path / 'state' / 'airflow'}'" in exports
    assert scratch["JOBYARD_APP_DB"] in exports and scratch["JOBYARD_AIRFLOW_DB"] in exports
    _devenv(scratch, "setup")
    _devenv(scratch, "migrate")
    app_db = devenv.database_url(devenv.server_url(), scratch["JOBYARD_APP_DB"])
    assert sum(_table_counts(app_db).values()) == 0, "migrations load no rows"

    seeded = _devenv(scratch, "seed", "--scale", "1")  # `make seed SCALE=1`
    assert "demo data loaded (scale 1)" in seeded.stderr
    first = _table_counts(app_db)
    assert first["social.users"] > 0 and first["videos.videos"] > 0 and first["platform.health_readings"] > 0

    # A job result outside the demo data: `make seed` replaces demo data, RESET=1 empties everything.
    with psycopg.connect(app_db) as conn:
        conn.execute("""INSERT INTO platform.health_readings (checked_at, check_name, target, ok, value, unit, detail)
                        VALUES (now(), 'redis', 'live', true, 1, 'ms', 'a real reading')""")
    _devenv(scratch, "seed", "--scale", "1")
    assert _table_counts(app_db)["platform.health_readings"] == first["platform.health_readings"] + 1
    assert _table_counts(app_db)["social.users"] == first["social.users"]
    _devenv(scratch, "seed", "--scale", "1", "--reset")  # `make seed RESET=1`
    assert _table_counts(app_db) == first


def test_make_run_seeds_only_an_empty_database(monkeypatch, tmp_path, session_env):
    monkeypatch.setenv("JOBYARD_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("SCALE", "1")
    with devenv.scratch_database("jobyard_test_runseed", session_env["server"]) as app_db:
        env = {"JOBYARD_APP_DB_URL": app_db, "AIRFLOW_HOME": str(tmp_path / "airflow")}
        monkeypatch.setattr(devenv, "resolve", lambda: dict(env))
        monkeypatch.setattr(devenv, "setup", lambda _env: None)  # migrations are done by scratch_database
        monkeypatch.setattr(run_mod, "serve", lambda *_args, **_kw: 0)  # no services: data only

        assert run_mod.run("local") == 0  # first start: empty database, demo data loaded
        seeded = _table_counts(app_db)
        assert seeded["social.users"] > 0 and seeded["social.likes"] > 0
        with psycopg.connect(app_db) as conn:  # what a developer (or a job) changed since
            conn.execute("DELETE FROM social.likes WHERE ctid IN (SELECT ctid FROM social.likes LIMIT 5)")
        assert run_mod.run("local") == 0  # a restart keeps the data as it is
        after = _table_counts(app_db)
        assert after["social.likes"] == seeded["social.likes"] - 5

        def untouched(counts):  # the delete's triggers marked posts dirty: those tables changed
            return {t: n for t, n in counts.items() if "dirty" not in t and t != "social.likes"}

        assert untouched(after) == untouched(seeded)
