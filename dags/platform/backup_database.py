"""
# platform_backup_database

Daily at 01:30: `pg_dump --format=custom` of each app database into the backup folder,
verified with `pg_restore --list`, recorded in `platform.backups`; files of days older than
the retention (variable `platform_backup_keep_days`, default 7) are deleted.

- **Owner:** platform
- **Reads:** connections `<domain>_db` (each distinct database once); variables
  `platform_backup_dir`, `platform_backup_keep_days`
- **Writes:** `<backup_dir>/<database>/<database>_<day>.dump`, `platform.backups`
- **Triage:** safe to clear and re-run: the day's file is written to a temporary name and
  renamed over the old one; the row is an upsert keyed by (database, day).
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.schedules import interval_timetable

CRON = "30 1 * * *"


@dag(schedule=interval_timetable("platform", CRON),
     **dag_settings("platform", queue="maintenance", cron=CRON,
                     execution_timeout=timedelta(hours=2)), doc_md=__doc__)
def platform_backup_database():
    @task(pool="pg_dump")
    def dump_databases() -> dict:
        from pathlib import Path

        from include.orchestration import connections, variables
        from include.orchestration.schedules import local_days
        from include.platform.backup import backup_databases

        return backup_databases(
            connections.app_db("platform"),
            connections.app_databases(),
            Path(variables.get_str("platform_backup_dir", "/var/backups/jobyard")),
            local_days("platform").first,
            keep_days=variables.get_int("platform_backup_keep_days", 7, minimum=1, maximum=3650),
        )

    dump_databases()


platform_backup_database()
