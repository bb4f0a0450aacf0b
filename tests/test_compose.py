"""Static checks of the docker compose stack (docker-compose.yaml, docker/, .env.example).

Nothing is built or started: the file is parsed, `${VAR}` interpolation is resolved from
.env.example the way compose does it, and every command is checked against the real CLI
parsers (Airflow's, Alembic's, the sandbox's) in one helper process with a throw-away
AIRFLOW_HOME. No database, Redis or Docker engine is needed.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / "docker" / "Dockerfile.dockerignore"
INIT_SCRIPT = ROOT / "docker" / "airflow-init.sh"
ENV_EXAMPLE = ROOT / ".env.example"
AIRFLOW_CFG = ROOT / "airflow.cfg"

DOMAINS = ("videos", "social", "music", "ads", "fitness", "platform")
QUEUES = {"media", "emails", "users", "analytics", "maintenance", "default"}  # JOBS.md
AIRFLOW_SERVICES = {"api-server", "scheduler", "dag-processor", "triggerer", "flower"}
INFRA_SERVICES = {"postgres", "redis", "airflow-init", "sandbox"}
# The long-running Airflow components the stack must run (argv after `airflow`).
REQUIRED_COMMANDS = {("api-server",), ("scheduler",), ("dag-processor",), ("triggerer",),
                     ("celery", "worker"), ("celery", "flower"), ("db", "migrate")}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$")
PLACEHOLDER = "CHANGE_ME"

# `$$` (a literal $), `${NAME}`, `${NAME:-default}`, `${NAME:?error}`, ... and `$NAME`.
INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)
WHOLE_REQUIRED = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]*\}")


# --- reading the files ------------------------------------------------------------------------

def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
        values[key.strip()] = value.strip().strip("'\"")
    return values


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation of one string (https://docs.docker.com/compose/how-tos/environment-variables/variable-interpolation/)."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match["name"] or match["bare"]
        op, arg = match["op"] or "", match["arg"] or ""
        value = env.get(name)
        missing = value is None or (op.startswith(":") and value == "")
        if op.endswith("-"):
            return arg if missing else value
        if op.endswith("?"):
            if missing:
                raise ValueError(f"required variable {name} is missing a value: {arg}")
            return value
        if op.endswith("+"):
            return "" if missing else arg
        return value or ""

    return INTERPOLATION.sub(replace, text)


def walk(node: Any, fn) -> Any:
    """Apply `fn` to every string of a parsed YAML tree (keys included)."""
    if isinstance(node, dict):
        return {walk(k, fn): walk(v, fn) for k, v in node.items()}
    if isinstance(node, list):
        return [walk(v, fn) for v in node]
    return fn(node) if isinstance(node, str) else node


def strings(node: Any) -> list[str]:
    found: list[str] = []
    walk(node, lambda s: found.append(s) or s)
    return found


def variables_in(node: Any) -> set[str]:
    names = set()
    for text in strings(node):
        for match in INTERPOLATION.finditer(text):
            if match.group(0) != "$$":
                names.add(match["name"] or match["bare"])
    return names


def argv(command: Any) -> list[str]:
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.strip().startswith("#") and not current:
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        if current.strip():
            joined.append(current.strip())
        current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
            for line in joined]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, args in dockerfile_instructions():
        if instruction == "ENV":
            for item in shlex.split(args):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def shell_commands(script: str) -> list[list[str]]:
    """Simple commands of a shell snippet: split on && || ; | and newlines."""
    commands = []
    for part in re.split(r"&&|\|\||;|\||\n", script):
        try:
            words = shlex.split(part)
        except ValueError:
            continue
        while words and words[0] in {"exec", "then", "else", "do", "!"}:
            words = words[1:]
        if words:
            commands.append(words)
    return commands


def script_commands(path: Path) -> list[list[str]]:
    """Commands of a bash script outside its heredocs."""
    lines, heredoc_end = [], None
    for line in path.read_text().splitlines():
        if heredoc_end is not None:
            if line.strip() == heredoc_end:
                heredoc_end = None
            continue
        match = re.search(r"<<-?\s*'?\"?(\w+)", line)
        if match:
            heredoc_end = match.group(1)
            line = line[: match.start()]
        if not line.strip().startswith("#"):
            lines.append(line)
    return shell_commands("\n".join(lines))


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def compose(raw, env_example) -> dict:
    """The compose file as compose sees it with .env = .env.example."""
    return walk(raw, lambda s: interpolate(s, env_example))


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict]:
    return compose["services"]


def workers(services: dict[str, dict]) -> dict[str, list[str]]:
    return {name: argv(s.get("command")) for name, s in services.items()
            if argv(s.get("command"))[:3] == ["airflow", "celery", "worker"]}


def worker_queues(command: list[str]) -> set[str]:
    """The queues of `airflow celery worker -q a,b` (or -qa,b, --queues a,b, --queues=a,b)."""
    args = command[3:]
    for i, arg in enumerate(args):
        flag, eq, value = arg.partition("=")
        if flag == "-q" or (flag.startswith("--q") and "--queues".startswith(flag)):
            return set((value if eq else args[i + 1]).split(","))
        if flag.startswith("-q"):
            return set(arg[2:].split(","))
    raise AssertionError(f"{' '.join(command)}: no -q (it would serve only the default queue)")


def init_command(services: dict[str, dict]) -> list[str]:
    return argv(services["airflow-init"].get("command"))


def all_commands(services: dict[str, dict]) -> list[tuple[str, list[str]]]:
    """(where, argv) of every command the stack runs: services, healthchecks, init script."""
    found = []
    for name, service in services.items():
        command = argv(service.get("command"))
        if command[:2] in (["bash", "-c"], ["sh", "-c"]):
            found += [(name, c) for c in shell_commands(command[2])]
        elif command:
            found.append((name, command))
        test = (service.get("healthcheck") or {}).get("test")
        if isinstance(test, str):
            test = ["CMD-SHELL", test]
        if test and test[0] == "CMD":
            found.append((f"{name} healthcheck", test[1:]))
        elif test and test[0] == "CMD-SHELL":
            found += [(f"{name} healthcheck", c) for c in shell_commands(test[1])]
    found += [(INIT_SCRIPT.name, c) for c in script_commands(INIT_SCRIPT)]
    return found


HELPER = textwrap.dedent(
    """
    import importlib, json, sys

    request = json.load(sys.stdin)
    result = {"airflow": [], "options": [], "python": []}

    from airflow.cli.cli_parser import get_parser
    from airflow.configuration import conf, retrieve_configuration_description

    parser = get_parser()
    for args in request["airflow"]:
        try:
            ns = parser.parse_args(args)
            ok = callable(getattr(ns, "func", None))
            result["airflow"].append([ok, "" if ok else "not a command (a group?)"])
        except SystemExit as exc:
            result["airflow"].append([False, f"rejected by the parser (exit {exc.code})"])

    described = retrieve_configuration_description(include_providers=True)
    for section, key in request["options"]:
        exists = key in described.get(section, {}).get("options", {})
        new = conf.inversed_deprecated_options.get((section, key))
        result["options"].append([exists, list(new) if new else None])

    def check_python(args):
        if args[:1] == ["-c"]:
            compile(args[1], "<healthcheck>", "exec")
            return
        assert args[0] == "-m", args
        module, rest = args[1], args[2:]
        if module == "alembic":
            from alembic.config import CommandLine
            CommandLine(prog="alembic").parser.parse_args(rest)
        elif module == "sandbox":
            from sandbox.__main__ import parse_args
            parse_args(rest)
        else:
            assert importlib.util.find_spec(module), f"no module {module}"

    for args in request["python"]:
        try:
            if args[0] == "celery":  # celery --app <module>.<attr> ...
                module, _, attr = args[args.index("--app") + 1].rpartition(".")
                getattr(importlib.import_module(module), attr)
            else:
                check_python(args)
            result["python"].append([True, ""])
        except SystemExit as exc:
            result["python"].append([False, f"rejected by the parser (exit {exc.code})"])
        except Exception as exc:
            result["python"].append([False, repr(exc)])

    with open(request["out"], "w") as out:
        json.dump(result, out)
    """
)


@pytest.fixture(scope="module")
def checked(services, tmp_path_factory) -> dict:
    """Run every command through its real parser and look up every Airflow option, in one
    process with the containers' environment (but a throw-away AIRFLOW_HOME)."""
    tmp = tmp_path_factory.mktemp("compose")
    commands = all_commands(services)
    airflow_cmds = [c[1:] for _, c in commands if c[0] == "airflow"]
    python_cmds = [c for _, c in commands if c[0] == "celery"]
    # `python - <<'PY'` reads a heredoc: compiled by test_init_script_heredocs_compile.
    python_cmds += [c[1:] for _, c in commands if c[0] == "python" and c[1:2] != ["-"]]
    options = sorted({tuple(k.split("__")[1:3]) for s in services.values() for k in env_of(s)
                      if k.startswith("AIRFLOW__")})
    options = [[s.lower(), k.lower()] for s, k in options]
    request = {"airflow": airflow_cmds, "python": python_cmds, "options": options,
               "out": str(tmp / "result.json")}

    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(env_of(services["airflow-init"]))
    env.update({"AIRFLOW_HOME": str(tmp / "home"), "AIRFLOW_CONFIG": str(AIRFLOW_CFG),
                "JOBYARD_ROOT": str(ROOT), "PYTHONPATH": str(ROOT)})
    proc = subprocess.run([sys.executable, "-c", HELPER], input=json.dumps(request), env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp / "result.json").read_text())
    verdicts = {("airflow", *c): v for c, v in zip(airflow_cmds, result["airflow"], strict=True)}
    verdicts.update({(c if c[0] == "celery" else ("python", *c)): v
                     for c, v in zip(map(tuple, python_cmds), result["python"], strict=True)})
    return {
        "verdicts": verdicts,
        "options": dict(zip(map(tuple, options), result["options"], strict=True)),
        "commands": commands,
    }


# --- the tests ---------------------------------------------------------------------------------

def test_compose_file_parses_with_the_whole_stack(raw, services):
    assert isinstance(raw, dict) and isinstance(raw.get("services"), dict)
    assert "x-airflow-common" in raw, "Airflow services share one x-airflow-common anchor"
    missing = (AIRFLOW_SERVICES | INFRA_SERVICES) - set(services)
    assert not missing, f"services missing from the stack: {sorted(missing)}"
    assert len(workers(services)) >= 2, "Celery workers by queue group"


def test_every_command_is_a_real_cli_command(checked):
    verdicts = checked["verdicts"]
    bad = [f"{where}: {' '.join(cmd)} -> {verdicts[tuple(cmd)][1]}"
           for where, cmd in checked["commands"]
           if tuple(cmd) in verdicts and not verdicts[tuple(cmd)][0]]
    assert not bad, "commands the real CLI rejects:\n" + "\n".join(bad)

    airflow = [cmd[1:] for cmd in verdicts if cmd[0] == "airflow"]
    ran = {tuple(a[: len(r)]) for a in airflow for r in REQUIRED_COMMANDS}
    assert REQUIRED_COMMANDS <= ran, f"not run by any service: {REQUIRED_COMMANDS - ran}"
    assert any(cmd[1:3] == ("-m", "alembic") and "upgrade" in cmd for cmd in verdicts), (
        "the app database migrations (alembic upgrade head) are not run"
    )


def test_init_script_heredocs_compile():
    text = INIT_SCRIPT.read_text()
    bodies = re.findall(r"<<'PY'\n(.*?)\nPY\n", text, flags=re.DOTALL)
    assert bodies, "the Python steps of airflow-init.sh"
    for body in bodies:
        compile(body, str(INIT_SCRIPT), "exec")


def test_every_service_runs_something_known(services):
    init = init_command(services)
    init_target = {
        Path(args.split()[-1]).name for instruction, args in dockerfile_instructions()
        if instruction == "COPY" and "airflow-init.sh" in args
    }
    for name, service in services.items():
        command = argv(service.get("command"))
        if name in {"postgres", "redis"}:
            continue
        assert command, f"{name} has no command"
        if command == init:
            assert command[0] in init_target, f"{command[0]} is not copied into the image"
        else:
            assert command[0] in {"airflow", "python", "celery", "bash", "sh"}, (name, command)
    syntax = subprocess.run(["bash", "-n", str(INIT_SCRIPT)], capture_output=True, text=True,
                            check=False)
    assert syntax.returncode == 0, syntax.stderr
    assert "set -euo pipefail" in INIT_SCRIPT.read_text()


def test_workers_serve_exactly_the_jobs_queues(services):
    groups = {name: worker_queues(command) for name, command in workers(services).items()}
    served = set().union(*groups.values())
    assert served == QUEUES, f"served {sorted(served)}, JOBS.md has {sorted(QUEUES)}"
    assert sum(map(len, groups.values())) == len(served), f"a queue served twice: {groups}"
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(AIRFLOW_CFG)
    assert cfg.get("operators", "default_queue", fallback="default") in served


def test_image_installs_the_pinned_requirements(services, raw):
    instructions = dockerfile_instructions()
    base = next(args for instruction, args in instructions if instruction == "FROM")
    assert re.fullmatch(r"python:3\.11(-slim)?(-\w+)?", base), (
        f"FROM {base}: a plain Python 3.11 base, so requirements.txt + constraints.txt is what runs"
    )
    copies = " ".join(args for instruction, args in instructions if instruction in {"COPY", "ADD"})
    runs = " ".join(args for instruction, args in instructions if instruction == "RUN")
    assert "requirements.txt" in copies and "constraints.txt" in copies
    assert re.search(r"pip install -r \S*requirements\.txt -c \S*constraints\.txt", runs), runs
    for mounted in ("dags", "include", "plugins", "migrations", "sandbox", "airflow.cfg"):
        assert not re.search(rf"(^|\s|/){re.escape(mounted)}(/|\s|$)", copies), (
            f"{mounted} is mounted by compose, not copied into the image"
        )
    assert "postgresql-client" in runs, "pg_dump/pg_restore for the backup job"

    env = dockerfile_env()
    assert env["AIRFLOW_CONFIG"] == "/opt/jobyard/airflow.cfg"
    assert env["JOBYARD_ROOT"] == "/opt/jobyard"
    assert env["AIRFLOW_HOME"] == "/opt/airflow"
    assert env["PYTHONPATH"] == "/opt/jobyard"

    # The build context is the repo root: only the files the image needs go into it.
    ignore = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert ignore[0] == "*", "allow-list: .venv, .state and .env stay out of the context"
    assert not any(p.lstrip("!").startswith((".env", ".venv", ".state")) for p in ignore[1:])

    # Every Airflow service runs the one image built from docker/Dockerfile.
    airflow = {n for n, s in services.items() if argv(s.get("command"))[:1] == ["airflow"]}
    images = {(services[n].get("image"), json.dumps(services[n].get("build"), sort_keys=True))
              for n in airflow | {"airflow-init"}}
    assert len(images) == 1, images
    build = raw["services"]["scheduler"]["build"]
    assert Path(ROOT, build["context"], build["dockerfile"]).resolve() == DOCKERFILE


def _major(image: str) -> int:
    tag = image.partition(":")[2]
    match = re.match(r"(\d+)", tag)
    assert match, f"{image}: pin a major version, not {tag or 'latest'}"
    return int(match.group(1))


def test_database_and_broker_images_are_sensible(services):
    pg_major = _major(services["postgres"]["image"])
    assert services["postgres"]["image"].startswith("postgres:") and 14 <= pg_major <= 18
    assert services["redis"]["image"].startswith("redis:") and 7 <= _major(services["redis"]["image"]) <= 8
    # pg_dump must be at least the server's major: the image installs that exact client.
    build_args = {**{a.split("=")[0]: a.partition("=")[2] for _, a in
                     [i for i in dockerfile_instructions() if i[0] == "ARG"]},
                  **(services["scheduler"]["build"].get("args") or {})}
    assert "postgresql-client-${PG_MAJOR}" in DOCKERFILE.read_text()
    assert int(build_args["PG_MAJOR"]) == pg_major, (
        f"image installs postgresql-client-{build_args['PG_MAJOR']}, server is {pg_major}"
    )


def test_airflow_env_names_real_config_options(checked):
    unknown = [f"AIRFLOW__{s.upper()}__{k.upper()}" for (s, k), (exists, _) in
               checked["options"].items() if not exists]
    assert not unknown, f"not Airflow 3.3 config options: {unknown}"
    deprecated = [f"AIRFLOW__{s.upper()}__{k.upper()} (now [{new[0]}] {new[1]})"
                  for (s, k), (_, new) in checked["options"].items() if new]
    assert not deprecated, f"deprecated option names: {deprecated}"


def test_env_example_and_compose_name_the_same_variables(raw, env_example):
    used = variables_in(raw)
    assert used == set(env_example), (
        f"in compose only: {sorted(used - set(env_example))}; "
        f"in .env.example only: {sorted(set(env_example) - used)}"
    )
    for key in env_example:
        if SECRET_NAME.search(key):
            assert env_example[key] == PLACEHOLDER, f".env.example commits a value for {key}"
    # A missing secret must stop compose, not start a stack with an empty one.
    for text in strings(raw):
        for match in INTERPOLATION.finditer(text):
            name = match["name"] or match["bare"]
            if name and SECRET_NAME.search(name):
                assert match["op"] == ":?", f"{match.group(0)}: use ${{{name}:?...}}"


def test_connections_and_variables(services, env_example):
    init_env = env_of(services["airflow-init"])
    app_db = init_env["JOBYARD_APP_DB_NAME"]
    pg = env_of(services["postgres"])
    sandbox = argv(services["sandbox"]["command"])
    smtp_port = int(sandbox[sandbox.index("--smtp-port") + 1])
    for name, service in services.items():
        if argv(service.get("command"))[:1] != ["airflow"] and name != "airflow-init":
            continue
        env = env_of(service)
        conns = {k[len("AIRFLOW_CONN_"):].lower(): json.loads(v) for k, v in env.items()
                 if k.startswith("AIRFLOW_CONN_")}
        expected = {f"{d}_db" for d in DOMAINS} | {"airflow_metadata_db", "smtp_default", "redis_default"}
        assert expected <= set(conns), f"{name}: missing {sorted(expected - set(conns))}"
        for domain in DOMAINS:
            conn = conns[f"{domain}_db"]
            assert conn["conn_type"] == "postgres" and conn["host"] == "postgres"
            assert conn["schema"] == app_db, f"{domain}_db must point at the app database"
            assert conn["login"] == pg["POSTGRES_USER"]
            assert conn["password"] == env_example["POSTGRES_PASSWORD"]
        metadata = conns["airflow_metadata_db"]
        assert (metadata["host"], metadata["schema"]) == ("postgres", pg["POSTGRES_DB"])
        smtp = conns["smtp_default"]
        assert (smtp["conn_type"], smtp["host"], smtp["port"]) == ("smtp", "sandbox", smtp_port)
        # The SMTP provider reads these with bool(): the string "false" would mean True.
        assert smtp["extra"]["disable_tls"] is True and smtp["extra"]["disable_ssl"] is True
        assert (conns["redis_default"]["conn_type"], conns["redis_default"]["host"]) == ("redis", "redis")
        for domain in DOMAINS:
            assert "@" in env.get(f"AIRFLOW_VAR_{domain.upper()}_ALERT_EMAILS", ""), (name, domain)
        assert urlsplit(env["JOBYARD_APP_DB_URL"]).path == f"/{app_db}"


def test_mounted_folders_exist_and_match_airflow_cfg(services):
    env = dockerfile_env()
    root = env["JOBYARD_ROOT"]
    for name, service in services.items():
        for volume in service.get("volumes") or []:
            source, _, rest = volume.partition(":")
            target = rest.split(":")[0]
            if not source.startswith("."):
                continue  # a named volume
            assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repo"
            assert target == f"{root}/{Path(source).name}", f"{name}: {volume}"

    scheduler_mounts = {v.split(":")[1] for v in services["scheduler"]["volumes"]}
    for folder in ("dags", "include", "plugins", "migrations", "sandbox"):
        assert f"{root}/{folder}" in scheduler_mounts, f"{folder} is not mounted"
    assert env["AIRFLOW_CONFIG"] in scheduler_mounts, "the image's AIRFLOW_CONFIG is not mounted"
    assert INIT_SCRIPT.read_text().count("migrations/alembic.ini") and (
        ROOT / "migrations" / "alembic.ini"
    ).exists(), "alembic runs migrations/alembic.ini from WORKDIR /opt/jobyard"
    workdir = [args for instruction, args in dockerfile_instructions() if instruction == "WORKDIR"]
    assert workdir[-1] == root

    # airflow.cfg, with the image's JOBYARD_ROOT, points at the mounted folders.
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(AIRFLOW_CFG)
    for key in ("dags_folder", "plugins_folder"):
        path = cfg.get("core", key).replace("${JOBYARD_ROOT}", root)
        assert path in scheduler_mounts, f"[core] {key} = {path} is not mounted"


def test_env_matches_airflow_cfg_and_the_services(services):
    env = env_of(services["scheduler"])
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(AIRFLOW_CFG)
    port = cfg.getint("api", "port")

    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    execution = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert (execution.hostname, execution.port, execution.path) == ("api-server", port, "/execution/")
    assert env["AIRFLOW__API__HOST"] == "0.0.0.0"
    published = [p.rsplit(":", 1)[-1] for p in services["api-server"]["ports"]]
    assert str(port) in published, "the api-server's port of airflow.cfg is published"
    assert f"localhost:{port}" in " ".join(argv(services["api-server"]["healthcheck"]["test"]))

    pg = env_of(services["postgres"])
    metadata = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert metadata.scheme == "postgresql+psycopg2" and metadata.hostname == "postgres"
    assert metadata.path == f"/{pg['POSTGRES_DB']}" and metadata.username == pg["POSTGRES_USER"]
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+" + env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
    assert (broker.scheme, broker.hostname) == ("redis", "redis")

    # Every Airflow service sees the same configuration (one anchor).
    for name, service in services.items():
        if argv(service.get("command"))[:1] == ["airflow"]:
            other = env_of(service)
            assert {k: v for k, v in other.items() if k.startswith("AIRFLOW")} == {
                k: v for k, v in env.items() if k.startswith("AIRFLOW")
            }, f"{name} has a different Airflow environment"


def test_healthchecks_and_start_order(services):
    for name, service in services.items():
        if name != "airflow-init":
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on with conditions"
        for dependency, spec in depends.items():
            assert dependency in services, (name, dependency)
            condition = spec["condition"]
            if condition == "service_healthy":
                assert services[dependency].get("healthcheck"), (name, dependency)
            if condition == "service_completed_successfully":
                assert services[dependency].get("restart") == "no", dependency
        if argv(service.get("command"))[:1] == ["airflow"]:
            assert depends.get("airflow-init", {}).get("condition") == "service_completed_successfully", name
            assert depends.get("postgres", {}).get("condition") == "service_healthy", name
            assert depends.get("redis", {}).get("condition") == "service_healthy", name
    assert {"postgres", "redis"} <= set(services["airflow-init"]["depends_on"])
    for name in [*workers(services), "triggerer"]:  # run tasks/callbacks: execution API + SMTP
        assert services[name]["depends_on"]["api-server"]["condition"] == "service_healthy"
        assert services[name]["depends_on"]["sandbox"]["condition"] == "service_healthy"


def test_no_literal_secrets(raw):
    for text in strings(raw):
        # user:password@host in any URL
        for match in re.finditer(r"://[^:/@\s]+:([^@\s]*)@", text):
            assert WHOLE_REQUIRED.fullmatch(match.group(1)), f"literal password in {text!r}"
        # a Fernet key or a long random token
        assert not re.search(r"(?<![\w$])[A-Za-z0-9_-]{43}=", text), f"literal key in {text!r}"

    def check_env(env: dict) -> None:
        for key, value in env.items():
            value = "" if value is None else str(value)
            if SECRET_NAME.search(key) and not key.endswith("_FILE"):
                assert WHOLE_REQUIRED.fullmatch(value), f"{key}: a literal secret, use ${{VAR:?...}}"
            if key.startswith("AIRFLOW_CONN_") and value.lstrip().startswith("{"):
                password = json.loads(value).get("password", "")
                # Tokens of the local sandbox are no secret and say so in their name.
                assert (password == "" or password.startswith("sandbox-only-")
                        or WHOLE_REQUIRED.fullmatch(password)), f"{key}: literal password"

    for service in raw["services"].values():
        check_env(env_of(service))
    check_env(raw["x-airflow-common"]["environment"])


# The queue groups of the workers (issue 14): user-facing work apart from batch work.
WORKER_GROUPS = [{"media", "emails"}, {"analytics", "maintenance", "users", "default"}]


def test_workers_are_split_by_queue_group(services):
    groups = sorted((worker_queues(command) for command in workers(services).values()), key=len)
    assert groups == WORKER_GROUPS, f"worker queue groups {groups}, want {WORKER_GROUPS}"


def test_workers_scale_with_compose_scale(raw, services):
    """`docker compose up --scale worker-batch=3` needs replicas that differ only by container:
    no container_name (unique per project), no published host port (one per host), no fixed
    hostname or Celery node name (replicas would share celery@<name>: Celery drops duplicate
    nodes from its broadcasts and the healthcheck would ping another replica)."""
    for name, command in workers(services).items():
        service, source = services[name], raw["services"][name]
        assert "container_name" not in service, f"{name}: a container_name stops --scale"
        assert not service.get("ports"), f"{name}: a published port clashes between replicas"
        assert "hostname" not in service, f"{name}: the hostname must be each container's own"
        assert not (service.get("deploy") or {}).get("replicas"), f"{name}: replicas come from --scale"
        env = env_of(service)
        assert "AIRFLOW__CELERY__CELERY_HOSTNAME" not in env, f"{name}: a fixed Celery node name"
        for i, arg in enumerate(command):
            flag = arg.partition("=")[0]
            if flag in ("-H", "--celery-hostname"):
                value = arg.partition("=")[2] or command[i + 1]
                assert "%h" in value or "%n" in value, f"{name}: node name {value!r} is the same in every replica"
        # The healthcheck pings this replica's own node: celery@ + the container's $HOSTNAME
        # (`$$` in the file: compose leaves it to the container's shell).
        test = " ".join(argv(source["healthcheck"]["test"]))
        assert "celery@$${HOSTNAME}" in test, f"{name}: healthcheck {test!r} must ping celery@$HOSTNAME"
        # Named volumes and the read-only code mounts are shared by every replica; nothing is
        # written to a host path that two replicas would both own.
        for volume in service.get("volumes") or []:
            source_path, _, rest = volume.partition(":")
            if source_path.startswith("."):
                assert rest.endswith(":ro"), f"{name}: {volume} is written by every replica"
