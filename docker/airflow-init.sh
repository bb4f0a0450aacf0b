#!/usr/bin/env bash
# One-shot set-up of the compose stack (service airflow-init; every other Airflow service
# waits for it to complete). Idempotent: it runs on every `docker compose up`.
#   1. refuses empty or placeholder secrets (.env copied from .env.example but not filled in);
#   2. creates the app database next to the Airflow metadata database;
#   3. migrates the Airflow metadata database, then the app database (Alembic);
#   4. loads the pools (include/orchestration/pools.py);
#   5. writes the admin login of the simple auth manager from AIRFLOW_ADMIN_PASSWORD.
# Connections and variables need no import: compose gives them as AIRFLOW_CONN_*/AIRFLOW_VAR_*.
set -euo pipefail

log() { printf '[airflow-init] %s\n' "$*" >&2; }

for name in AIRFLOW__CORE__FERNET_KEY AIRFLOW__API_AUTH__JWT_SECRET AIRFLOW__API__SECRET_KEY \
            PGPASSWORD AIRFLOW_ADMIN_PASSWORD; do
  case "${!name:-}" in
    "" | *CHANGE_ME*)
      log "$name is empty or still the .env.example placeholder: generate it (see .env.example)"
      exit 1 ;;
  esac
done

app_db="${JOBYARD_APP_DB_NAME:?JOBYARD_APP_DB_NAME is not set}"
# PGHOST, PGUSER, PGDATABASE and PGPASSWORD come from the service environment.
if [ "$(psql -v ON_ERROR_STOP=1 -tAc "SELECT 1 FROM pg_database WHERE datname = '${app_db}'")" != "1" ]; then
  psql -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"${app_db}\""
  log "created database ${app_db}"
fi

log "migrating the Airflow metadata database"
airflow db migrate

log "migrating the app database ${app_db}"
python -m alembic -c migrations/alembic.ini upgrade head

pools_file="$(mktemp --suffix .json)"
python - "$pools_file" <<'PY'
import json
import sys

from include.orchestration.pools import POOLS

pools = {name: {"slots": slots, "description": desc, "include_deferred": False}
         for name, (slots, desc) in POOLS.items()}
with open(sys.argv[1], "w") as out:
    json.dump(pools, out)
PY
airflow pools import "$pools_file"
rm -f "$pools_file"

# The api-server keeps this file's passwords and generates one only for a user missing here.
python - <<'PY'
import json
import os

path = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as out:
    json.dump({"admin": os.environ["AIRFLOW_ADMIN_PASSWORD"]}, out)
    out.write("\n")
PY

log "done: UI on http://127.0.0.1:8080 (user admin, password AIRFLOW_ADMIN_PASSWORD of .env)"
