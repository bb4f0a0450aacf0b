"""The app database migrations run both ways, and head is what the code expects.

On a scratch database of its own: up one revision at a time from empty to head (a schema
snapshot after each), down one at a time to base, checking that each downgrade restores the
snapshot of the revision below it exactly (tables, columns, defaults, constraints, indexes,
storage options, functions, triggers, types, schemas, extensions), that base leaves nothing of
ours but Alembic's (empty) version table, and up to head again, which must match the first
head. Whatever revisions `migrations/versions/` holds are covered, later ones included.

Then every `schema.table` that the SQL of the repositories and include/common names must
exist at head.
"""

from __future__ import annotations

import ast
import re
import secrets
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from tools import devenv

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ("platform", "videos", "social", "music", "ads", "fitness")
# Alembic's bookkeeping, which env.py keeps in the platform schema: allowed to outlive base.
VERSION_TABLE = "platform.alembic_version"
USER_NAMESPACES = "n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'"

# What a schema holds, as {kind: {name: definition}}; every query names objects by schema.
SNAPSHOT_QUERIES = {
    "schema": f"SELECT n.nspname, '' FROM pg_namespace n WHERE {USER_NAMESPACES}",
    "extension": "SELECT extname, extversion FROM pg_extension",
    "relation": f"""SELECT n.nspname || '.' || c.relname, c.relkind::text || ' ' || coalesce(c.reloptions::text, '')
                      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER_NAMESPACES}""",
    "column": f"""SELECT n.nspname || '.' || c.relname || '.' || a.attname,
                         format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
                         || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
                         || CASE WHEN a.attidentity <> '' THEN ' IDENTITY ' || a.attidentity::text ELSE '' END
                    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                    JOIN pg_namespace n ON n.oid = c.relnamespace
                    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                   WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm')
                     AND {USER_NAMESPACES}""",
    "constraint": f"""SELECT n.nspname || '.' || c.conname || ' on ' || c.conrelid::regclass::text,
                             pg_get_constraintdef(c.oid)
                        FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
                       WHERE {USER_NAMESPACES}""",
    "index": "SELECT schemaname || '.' || indexname, indexdef FROM pg_indexes "
             "WHERE schemaname NOT LIKE 'pg\\_%' AND schemaname <> 'information_schema'",
    "function": f"""SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
                           p.prokind::text || ' ' || md5(coalesce(p.prosrc, ''))
                      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {USER_NAMESPACES}""",
    "trigger": """SELECT t.tgrelid::regclass::text || '.' || t.tgname, pg_get_triggerdef(t.oid)
                    FROM pg_trigger t WHERE NOT t.tgisinternal""",
    "type": f"""SELECT n.nspname || '.' || t.typname, t.typtype::text
                  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE {USER_NAMESPACES}""",
}


def snapshot(url: str) -> dict[str, dict[str, str]]:
    with psycopg.connect(url) as conn:
        return {kind: dict(conn.execute(query).fetchall()) for kind, query in SNAPSHOT_QUERIES.items()}


def _is_version_table(name: str) -> bool:
    # The table, its primary key, its row type and array type.
    return name.startswith((VERSION_TABLE, "platform._alembic_version")) or name.endswith(f" on {VERSION_TABLE}")


def without_version_table(snap: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {kind: {name: d for name, d in objects.items() if not _is_version_table(name)}
            for kind, objects in snap.items()}


def differences(expected: dict[str, dict[str, str]], actual: dict[str, dict[str, str]]) -> list[str]:
    out = []
    for kind in SNAPSHOT_QUERIES:
        want, got = expected[kind], actual[kind]
        out += [f"missing {kind} {name}: {want[name]}" for name in sorted(want.keys() - got.keys())]
        out += [f"left over {kind} {name}: {got[name]}" for name in sorted(got.keys() - want.keys())]
        out += [f"changed {kind} {name}: {want[name]!r} -> {got[name]!r}"
                for name in sorted(want.keys() & got.keys()) if want[name] != got[name]]
    return out


def tables_named_in_sql() -> dict[str, set[str]]:
    """`schema.table` -> the files whose SQL names it, over the string literals (docstrings
    excepted) of include/<domain>/repository/ and include/common/."""
    pattern = re.compile(r"(?<![\w./])((?:" + "|".join(SCHEMAS) + r")\.[a-z_][a-z0-9_]*)\b")
    files = sorted(ROOT.glob("include/*/repository/**/*.py")) + sorted(ROOT.glob("include/common/**/*.py"))
    named: dict[str, set[str]] = {}
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                for name in pattern.findall(node.value):
                    named.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return named


@pytest.fixture
def scratch_url(session_env, monkeypatch) -> str:
    """An empty database of its own (dropped afterwards), which Alembic is pointed at."""
    server = session_env["server"]
    name = f"jobyard_test_migrations_{secrets.token_hex(4)}"
    url = devenv.ensure_database(server, name)
    monkeypatch.setenv("JOBYARD_APP_DB_URL", url)  # migrations/env.py reads it
    try:
        yield url
    finally:
        devenv.drop_database(server, name)


def _alembic() -> tuple[Config, list[str]]:
    config = Config(str(ROOT / "migrations" / "alembic.ini"))
    script = ScriptDirectory.from_config(config)
    heads = script.get_heads()
    assert len(heads) == 1, f"migrations/versions/ has {len(heads)} heads {heads}: merge them into one line"
    revisions = [rev.revision for rev in script.walk_revisions()][::-1]  # base first
    return config, revisions


def test_migrations_run_up_down_and_up_again(scratch_url):
    config, revisions = _alembic()
    empty = snapshot(scratch_url)

    at: dict[str, dict] = {}
    for revision in revisions:
        command.upgrade(config, revision)
        at[revision] = without_version_table(snapshot(scratch_url))
    head = at[revisions[-1]]

    for i in range(len(revisions) - 1, -1, -1):  # down one revision at a time
        revision, below = revisions[i], revisions[i - 1] if i else None
        command.downgrade(config, below or "base")
        if below:
            problems = differences(at[below], without_version_table(snapshot(scratch_url)))
            assert not problems, f"downgrade of {revision} does not restore {below}:\n" + "\n".join(problems)

    left = snapshot(scratch_url)
    with psycopg.connect(scratch_url) as conn:
        versions = conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchall()
    assert versions == [], f"at base the version table still says {versions}"
    # The version table and the schema env.py keeps it in are all that may remain of us.
    expected = {kind: dict(objects) for kind, objects in empty.items()}
    expected["schema"]["platform"] = ""
    problems = differences(expected, without_version_table(left))
    assert not problems, "downgrade to base leaves objects behind (or removed what was not ours):\n" + "\n".join(
        problems)

    command.upgrade(config, "head")
    problems = differences(head, without_version_table(snapshot(scratch_url)))
    assert not problems, "head after a round trip differs from the first head:\n" + "\n".join(problems)


def test_head_has_every_table_the_code_queries(scratch_url):
    devenv.migrate_app_db(scratch_url)
    named = tables_named_in_sql()
    assert {"platform.outbox", "videos.daily_stats", "social.posts"} <= named.keys()  # the scan sees the SQL
    with psycopg.connect(scratch_url) as conn:
        existing = {r[0] for r in conn.execute(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname = ANY(%s)", (list(SCHEMAS),))}
    missing = {name: sorted(files) for name, files in named.items() if name not in existing}
    assert not missing, f"tables named in SQL but not created by the migrations at head: {missing}"
