"""The local environment: where state lives, which PostgreSQL and Redis to use, the
per-install secrets, and the dev connections/variables/pools.

Used by the Makefile (`python -m tools.devenv ...`), by tools/run.py and by the tests, so
that all three agree. Standard library plus psycopg only: it runs before Airflow is set up.

Database choice, in order:
1. `JOBYARD_PG_URL` (a server URL such as postgresql://user:pw@host:5432/) if given;
2. a PostgreSQL answering on 127.0.0.1:5432 (user `postgres`);
3. an embedded PostgreSQL (the `pgserver` wheel) under the state folder.
The project's own databases (`jobyard_airflow`, `jobyard`; `JOBYARD_AIRFLOW_DB` / `JOBYARD_APP_DB`
name others) are created on that server.
Redis: `JOBYARD_REDIS_URL`, else 127.0.0.1:6379 (`JOBYARD_REDIS_PORT_PROBE=0` skips that probe),
else a `redis-server` started on a free port, recorded in `<state>/redis.json` and stopped by
`stop_started_redis()` (`make stop`, the end of a test session).
`JOBYARD_AIRFLOW_HOME` overrides `AIRFLOW_HOME` (default `<state>/airflow`).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DOMAINS = ("videos", "social", "music", "ads", "fitness", "platform")
AIRFLOW_DB = "jobyard_airflow"
APP_DB = "jobyard"

# Local ports of the sandbox (SMTP sink + API stand-ins); override with env for parallel runs.
SANDBOX_HTTP_PORT = int(os.environ.get("JOBYARD_SANDBOX_PORT", "8025"))
SANDBOX_SMTP_PORT = int(os.environ.get("JOBYARD_SMTP_PORT", "2525"))


def state_dir() -> Path:
    path = Path(os.environ.get("JOBYARD_STATE", ROOT / ".state"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def proc_start_time(pid: int) -> int | None:
    """The start time of a process (clock ticks since boot, /proc/<pid>/stat field 22), or None
    when it is gone: with the pid it identifies a process (pids are reused, this pair is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its last ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


def log(msg: str) -> None:
    print(f"[jobyard] {msg}", file=sys.stderr, flush=True)


# --- secrets -------------------------------------------------------------------------------

def install_secrets() -> dict[str, str]:
    """Fernet key, JWT secret, API secret key and the ads token key (the Fernet key of the
    stored ad account tokens, connection `ads_token_key`), generated once per install (never
    committed); a secret added later is generated into an existing file."""
    path = state_dir() / "secrets.json"
    generate = {
        "fernet_key": lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "jwt_secret": lambda: secrets.token_urlsafe(32),
        "api_secret_key": lambda: secrets.token_urlsafe(32),
        "ads_token_key": lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "unsubscribe_signing_key": lambda: secrets.token_urlsafe(32),
    }
    values = json.loads(path.read_text()) if path.exists() else {}
    if all(name in values for name in generate):
        return values
    values.update({name: make() for name, make in generate.items() if name not in values})
    path.write_text(json.dumps(values, indent=2))
    path.chmod(0o600)
    return values


# --- PostgreSQL ----------------------------------------------------------------------------

def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _can_connect(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _embedded_pg_url() -> str:
    """Start (or reuse) the embedded PostgreSQL of the pgserver wheel under the state folder."""
    try:
        import pgserver
    except ImportError:  # pragma: no cover - depends on the machine
        sys.exit(
            "No PostgreSQL on 127.0.0.1:5432 and the embedded one is not installed.\n"
            "Run `make install` (installs pgserver), start a PostgreSQL server, or set "
            "JOBYARD_PG_URL=postgresql://user:pw@host:port/."
        )
    datadir = state_dir() / "pgdata"
    server = pgserver.get_server(str(datadir), cleanup_mode=None)
    return server.get_uri()


def server_url() -> str:
    """A URL of the PostgreSQL server to use (database part = `postgres`)."""
    explicit = os.environ.get("JOBYARD_PG_URL")
    if explicit:
        return _with_database(explicit, "postgres")
    local = "postgresql://postgres@127.0.0.1:5432/postgres"
    if _port_open("127.0.0.1", 5432) and _can_connect(local):
        return local
    log("no PostgreSQL on 127.0.0.1:5432: using the embedded one under .state/pgdata")
    return _with_database(_embedded_pg_url(), "postgres")


def _with_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, ""))


def database_url(server: str, dbname: str) -> str:
    return _with_database(server, dbname)


def ensure_database(server: str, dbname: str) -> str:
    import psycopg
    from psycopg import sql

    with psycopg.connect(server, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
            log(f"created database {dbname}")
    return database_url(server, dbname)


def drop_database(server: str, dbname: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


@contextmanager
def scratch_database(prefix: str, server: str | None = None) -> Iterator[str]:
    """A database of its own (`<prefix>_<random>`), migrated to head, dropped afterwards
    (also after a failure): what tests and benchmarks run against."""
    server = server or server_url()
    name = f"{prefix}_{secrets.token_hex(4)}".lower()
    url = ensure_database(server, name)
    try:
        migrate_app_db(url)
        yield url
    finally:
        drop_database(server, name)


def sqlalchemy_url(url: str) -> str:
    """The Airflow metadata URL (psycopg2 driver) for a libpq URL."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql+psycopg2", parts.netloc, parts.path, parts.query, ""))


# --- Redis ---------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_url(required: bool = False) -> str | None:
    explicit = os.environ.get("JOBYARD_REDIS_URL")
    if explicit:
        return explicit
    probe = int(os.environ.get("JOBYARD_REDIS_PORT_PROBE", "6379"))
    if probe and _port_open("127.0.0.1", probe):
        return f"redis://127.0.0.1:{probe}/0"
    started = state_dir() / "redis.json"
    if started.exists():
        port = json.loads(started.read_text())["port"]
        if _port_open("127.0.0.1", port):
            return f"redis://127.0.0.1:{port}/0"
    binary = shutil.which("redis-server")
    if binary is None:
        if required:
            sys.exit(
                "Redis is needed (CeleryExecutor, shared rate limits) but none answers on "
                "127.0.0.1:6379 and redis-server is not installed: `apt-get install redis-server` "
                "or set JOBYARD_REDIS_URL."
            )
        return None
    port = free_port()
    pidfile = state_dir() / "redis.pid"
    pidfile.unlink(missing_ok=True)
    subprocess.run(
        [binary, "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--appendonly", "no", "--dir", str(state_dir()), "--pidfile", str(pidfile),
         "--logfile", str(state_dir() / "redis.log")],
        check=True,
    )
    for _ in range(50):
        if _port_open("127.0.0.1", port) and pidfile.exists():
            break
        time.sleep(0.1)
    else:
        sys.exit(f"redis-server did not start on 127.0.0.1:{port}; see {state_dir() / 'redis.log'}")
    pid = int(pidfile.read_text())
    # pid + start time: whoever stops it later (make stop, the test session) kills only this one.
    started.write_text(json.dumps({"port": port, "pid": pid, "start": proc_start_time(pid)}))
    log(f"started redis-server on 127.0.0.1:{port} (pid {pid})")
    return f"redis://127.0.0.1:{port}/0"


def stop_started_redis(timeout: float = 5) -> int | None:
    """Stop the redis-server that redis_url() started in this state folder, if it is still that
    process; returns its pid, or None when there was none."""
    started = state_dir() / "redis.json"
    if not started.exists():
        return None
    info = json.loads(started.read_text())
    pid = info.get("pid")
    if pid is not None and proc_start_time(pid) == info.get("start"):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while proc_start_time(pid) == info["start"] and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc_start_time(pid) == info["start"]:
            os.kill(pid, signal.SIGKILL)
        log(f"stopped redis-server on 127.0.0.1:{info['port']} (pid {pid})")
    started.unlink(missing_ok=True)
    (state_dir() / "redis.pid").unlink(missing_ok=True)
    return pid


# --- Airflow environment -------------------------------------------------------------------

def _pg_conn(url: str) -> dict:
    """An Airflow connection (JSON form) for a libpq URL, socket URLs included."""
    parts = urlsplit(url)
    conn: dict = {
        "conn_type": "postgres",
        "host": parts.hostname or "",
        "port": parts.port or 5432,
        "login": parts.username or "postgres",
        "password": parts.password or "",
        "schema": parts.path.lstrip("/"),
    }
    if not conn["host"] and "host=" in parts.query:  # Unix socket (embedded PostgreSQL)
        conn["host"] = dict(p.split("=", 1) for p in parts.query.split("&"))["host"]
    return conn


def connections(app_db_url: str, airflow_db_url: str, redis: str | None,
                sandbox_smtp: int = SANDBOX_SMTP_PORT, sandbox_http: int = SANDBOX_HTTP_PORT) -> dict[str, dict]:
    """The dev/test connections: app databases, the Airflow metadata database (read by the
    health check), the SMTP sink and Redis. Local values only: nothing here is a secret."""
    conns = {f"{domain}_db": _pg_conn(app_db_url) for domain in DOMAINS}
    conns["airflow_metadata_db"] = _pg_conn(airflow_db_url)
    conns["smtp_default"] = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": sandbox_smtp,
        "login": "",
        "password": "",
        # JSON booleans: the SMTP provider reads these with bool().
        "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "jobyard@localhost",
                  "timeout": 10, "retry_limit": 2},
    }
    # The sandbox's FCM HTTP v1; the bearer token only works against the sandbox.
    conns["fcm_api"] = {
        "conn_type": "http",
        "host": f"http://127.0.0.1:{sandbox_http}",
        "password": "sandbox-only-token",
        "extra": {"project_id": "jobyard-dev"},
    }
    # The sandbox's OpenAI-compatible chat completions; the key only works against the sandbox.
    conns["llm_default"] = {
        "conn_type": "http",
        "host": f"http://127.0.0.1:{sandbox_http}",
        "password": "sandbox-only-key",
        "extra": {"auth": "bearer", "model": "sandbox-small"},
    }
    # The sandbox's YouTube Analytics v2 and AdSense Management v2 (sandbox-only tokens).
    conns["videos_analytics_api"] = {
        "conn_type": "http",
        "host": f"http://127.0.0.1:{sandbox_http}",
        "password": "sandbox-only-token",
        "extra": {"auth": "bearer", "ids": "channel==MINE", "page_size": 5000},
    }
    conns["adsense_api"] = {
        "conn_type": "http",
        "host": f"http://127.0.0.1:{sandbox_http}",
        "password": "sandbox-only-token",
        "extra": {"auth": "bearer", "account_id": "pub-7052138940016523", "currency_code": "USD"},
    }
    # The sandbox's Soundcharts (key auth headers) and ACRCloud identify (signed form), both
    # behind the shared Redis limits of include/common/rate_limit.py; sandbox-only keys.
    conns["soundcharts_api"] = {
        "conn_type": "http",
        "host": f"http://127.0.0.1:{sandbox_http}",
        "login": "sandbox-app",
        "password": "sandbox-key",
        "extra": {"auth": "api_key", "api_key_header": "x-api-key", "login_header": "x-app-id",
                  "rate_limit": "soundcharts"},
    }
    conns["acrcloud_api"] = {
        "conn_type": "http",
        "host": f"http://127.0.0.1:{sandbox_http}",
        "login": "sandbox-acr-key",
        "password": "sandbox-acr-secret",
        "extra": {"auth": "none", "rate_limit": "acrcloud"},  # the secret signs the form, never a header
    }
    # Ads: the Fernet key of the stored ad account tokens (per install, .state/secrets.json),
    # and the sandbox's Meta Marketing, TikTok Business and Google Ads APIs (sandbox-only app
    # secrets; each account's own token authorizes its calls). Google's OAuth refresh goes to
    # the sandbox's token endpoint.
    conns["ads_token_key"] = {"conn_type": "generic", "password": install_secrets()["ads_token_key"]}
    # The HMAC key of the recurring emails' one-click unsubscribe links (per install).
    conns["unsubscribe_signing"] = {"conn_type": "generic", "password": install_secrets()["unsubscribe_signing_key"]}
    conns["meta_ads_api"] = {
        "conn_type": "http",
        "host": f"http://127.0.0.1:{sandbox_http}",
        "login": "1234567890123456",
        "password": "sandbox-meta-app-secret",
        "extra": {"api_version": "v25.0"},
    }
    conns["tiktok_ads_api"] = {
        "conn_type": "http",
        "host": f"http://127.0.0.1:{sandbox_http}",
        "login": "7000000000000000000",
        "password": "sandbox-tiktok-app-secret",
        "extra": {"api_version": "v1.3", "page_size": 1000},
    }
    conns["google_ads_api"] = {
        "conn_type": "http",
        "host": f"http://127.0.0.1:{sandbox_http}",
        "login": "sandbox-client.apps.googleusercontent.com",
        "password": "sandbox-google-client-secret",
        "extra": {"developer_token": "sandbox-developer-token", "login_customer_id": "9876543210",
                  "token_uri": f"http://127.0.0.1:{sandbox_http}/token", "api_version": "v21"},
    }
    if redis:
        parts = urlsplit(redis)
        conns["redis_default"] = {
            "conn_type": "redis",
            "host": parts.hostname,
            "port": parts.port or 6379,
            "extra": {"db": int((parts.path or "/0").lstrip("/") or 0)},
        }
    return conns


# make run's APIs are the sandbox's: their shared limits run 60 times faster than the vendors'
# (2 and 1 requests a second instead of a minute), so the music jobs' first runs finish in
# minutes while the limiter and the pools still pace them. Tests set their own.
DEV_RATE_LIMITS = json.dumps({"soundcharts": [2, 1], "acrcloud": [1, 1]})


def variables() -> dict[str, str]:
    """Alert recipients per domain (local addresses caught by the SMTP sink) and the backup
    folder under the state folder."""
    values = {f"{domain}_alert_emails": f"{domain}-owners@jobyard.local" for domain in DOMAINS}
    values["platform_backup_dir"] = str(state_dir() / "backups")
    # The product backends' one-click unsubscribe endpoints (RFC 8058 needs https; dev never calls them).
    values["unsubscribe_base_urls"] = json.dumps({domain: f"https://{domain}.jobyard.localhost/email/unsubscribe"
                                                  for domain in DOMAINS})
    return values


def airflow_env(airflow_db_url: str, app_db_url: str, redis: str | None,
                home: Path | None = None) -> dict[str, str]:
    """Environment for every Airflow process (make targets and tests alike)."""
    keys = install_secrets()
    home = home or Path(os.environ.get("JOBYARD_AIRFLOW_HOME", state_dir() / "airflow"))
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "JOBYARD_ROOT": str(ROOT),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_CONFIG": str(ROOT / "airflow.cfg"),
        "PYTHONPATH": str(ROOT),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url(airflow_db_url),
        "AIRFLOW__CORE__FERNET_KEY": keys["fernet_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
        "AIRFLOW__API__SECRET_KEY": keys["api_secret_key"],
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "JOBYARD_APP_DB_URL": app_db_url,
        "JOBYARD_AIRFLOW_DB_URL": airflow_db_url,
        "JOBYARD_SANDBOX_URL": f"http://127.0.0.1:{SANDBOX_HTTP_PORT}",
    }
    if redis:
        env["JOBYARD_REDIS_URL"] = redis
        env["AIRFLOW__CELERY__BROKER_URL"] = redis
        env["AIRFLOW__CELERY__RESULT_BACKEND"] = "db+" + sqlalchemy_url(airflow_db_url)
    return env


def connection_env(conns: dict[str, dict], vars_: dict[str, str]) -> dict[str, str]:
    """The same connections and variables as AIRFLOW_CONN_* / AIRFLOW_VAR_* (tests)."""
    env = {f"AIRFLOW_CONN_{cid.upper()}": json.dumps(c) for cid, c in conns.items()}
    env.update({f"AIRFLOW_VAR_{k.upper()}": v for k, v in vars_.items()})
    return env


def resolve() -> dict[str, str]:
    """Pick the servers, create the project's databases, and return the Airflow environment."""
    server = server_url()
    airflow_db = ensure_database(server, os.environ.get("JOBYARD_AIRFLOW_DB", AIRFLOW_DB))
    app_db = ensure_database(server, os.environ.get("JOBYARD_APP_DB", APP_DB))
    return airflow_env(airflow_db, app_db, redis_url())


# --- setup steps ---------------------------------------------------------------------------

def run(cmd: list[str], env: dict[str, str], quiet: bool = False) -> None:
    full = {**os.environ, **env}
    full["PATH"] = str(Path(sys.executable).parent) + os.pathsep + full.get("PATH", "")
    out = subprocess.DEVNULL if quiet else None
    subprocess.run(cmd, env=full, check=True, stdout=out)


def migrate_app_db(app_db_url: str) -> None:
    run([sys.executable, "-m", "alembic", "-c", str(ROOT / "migrations" / "alembic.ini"),
         "upgrade", "head"], {"JOBYARD_APP_DB_URL": app_db_url}, quiet=True)


def setup(env: dict[str, str]) -> None:
    """Migrate both databases and load the dev connections, variables and pools."""
    from include.orchestration.pools import POOLS

    t0 = time.monotonic()
    run(["airflow", "db", "migrate"], env, quiet=True)
    migrate_app_db(env["JOBYARD_APP_DB_URL"])
    files = state_dir()
    conns = connections(env["JOBYARD_APP_DB_URL"], env["JOBYARD_AIRFLOW_DB_URL"], env.get("JOBYARD_REDIS_URL"))
    (files / "connections.json").write_text(json.dumps(conns, indent=2))
    (files / "variables.json").write_text(json.dumps({**variables(), "rate_limits": DEV_RATE_LIMITS}, indent=2))
    pools = {name: {"slots": slots, "description": desc, "include_deferred": False}
             for name, (slots, desc) in POOLS.items()}
    (files / "pools.json").write_text(json.dumps(pools, indent=2))
    run(["airflow", "connections", "import", "--overwrite", str(files / "connections.json")], env, quiet=True)
    run(["airflow", "variables", "import", "-a", "overwrite", str(files / "variables.json")], env, quiet=True)
    run(["airflow", "pools", "import", str(files / "pools.json")], env, quiet=True)
    log(f"databases migrated, connections/variables/pools loaded in {time.monotonic() - t0:.1f}s")


def _domain_tables(conn) -> list[str]:
    """The tables of the domains' schemas, Alembic's version table (in `platform`) excepted."""
    rows = conn.execute(
        "SELECT format('%%I.%%I', schemaname, tablename) FROM pg_tables"
        " WHERE schemaname = ANY(%s) AND tablename <> 'alembic_version' ORDER BY 1",
        (list(DOMAINS),)).fetchall()
    return [r[0] for r in rows]


def app_db_has_data(app_db_url: str) -> bool:
    """Whether any table of the domains' schemas has a row (demo data, job results, outbox...).
    Migrations insert no rows, so a fresh database answers False."""
    from include.common.db import connect

    with connect(app_db_url) as conn:
        return any(conn.execute(f"SELECT EXISTS (SELECT FROM {t})").fetchone()[0] for t in _domain_tables(conn))


def seed(app_db_url: str, scale: int = 1, reset: bool = False) -> dict[str, int]:
    """Load the demo data of every domain, replacing the previous demo data (the social tables
    are emptied first; videos and platform replace their demo rows). `reset` first empties every
    table of the domains' schemas, job results and outbox included."""
    from include.common.db import connect
    from include.demo.seed import seed_all

    # The ads seeder encrypts its demo tokens with this install's key (include/ must not read
    # .state/ through tools): handed over in the environment for the seed step only.
    previous = os.environ.get("JOBYARD_ADS_TOKEN_KEY")
    os.environ["JOBYARD_ADS_TOKEN_KEY"] = install_secrets()["ads_token_key"]
    try:
        with connect(app_db_url) as conn:
            if reset:
                conn.execute(f"TRUNCATE {', '.join(_domain_tables(conn))} RESTART IDENTITY CASCADE")
                log("app database emptied (RESET=1)")
            counts = seed_all(conn, scale=scale)
    finally:
        if previous is None:
            os.environ.pop("JOBYARD_ADS_TOKEN_KEY", None)
        else:
            os.environ["JOBYARD_ADS_TOKEN_KEY"] = previous
    log(f"demo data loaded (scale {scale}): {counts}")
    return counts


def seed_if_empty(app_db_url: str, scale: int = 1) -> dict[str, int] | None:
    """`make run`: demo data for a fresh database only, never over data a developer has (their
    own rows, job results); returns the counts, or None when it left the data alone."""
    if app_db_has_data(app_db_url):
        log("app database has data: demo data not reloaded (`make seed [SCALE=n] [RESET=1]` replaces it)")
        return None
    return seed(app_db_url, scale)


def shell_exports(env: dict[str, str]) -> str:
    """`source <(python -m tools.devenv env)`: the Airflow environment plus this venv's bin on
    PATH (once), so `airflow ...` in that shell is the project's Airflow."""
    venv_bin = _shquote(str(Path(sys.executable).parent))  # not resolved: the venv's own bin
    lines = [f"export {k}={_shquote(v)}" for k, v in env.items()]
    lines.append(f'case ":$PATH:" in *:{venv_bin}:*) ;; *) export PATH={venv_bin}:"$PATH" ;; esac')
    return "\n".join(lines)


def _shquote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.devenv")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("env", help="print shell exports of the Airflow environment")
    sub.add_parser("setup", help="migrate databases, load connections/variables/pools")
    sub.add_parser("migrate", help="migrate the app database only")
    # Not named `seed`: that would hide the module's seed() inside main().
    seed_cmd = sub.add_parser("seed", help="load demo data, replacing the previous demo data")
    seed_cmd.add_argument("--scale", type=int, default=1)
    seed_cmd.add_argument("--reset", action="store_true", help="first empty every table of the domains")
    args = parser.parse_args(argv)

    env = resolve()
    if args.cmd == "env":
        print(shell_exports(env))
    elif args.cmd == "setup":
        setup(env)
    elif args.cmd == "migrate":
        migrate_app_db(env["JOBYARD_APP_DB_URL"])
        log("app database migrated")
    elif args.cmd == "seed":
        migrate_app_db(env["JOBYARD_APP_DB_URL"])  # a fresh install's `make seed` needs the tables
        seed(env["JOBYARD_APP_DB_URL"], args.scale, reset=args.reset)


if __name__ == "__main__":
    main()
