"""
# platform_cleanup_metadata

Daily at 03:30: purges Airflow metadata (dag runs, task instances, logs, XComs, ...) older
than 30 days before the data interval's end with `airflow db clean`, as Celery's result
expiry did for the old design.

- **Owner:** platform
- **Reads:** the Airflow metadata database (connection `airflow_metadata_db`, through the
  `airflow` CLI of the worker); variable `platform_metadata_keep_days` (default 30)
- **Writes:** deletes old rows of the Airflow metadata tables (no archive tables)
- **Triage:** safe to clear and re-run: deleting what is already gone does nothing.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.schedules import interval_timetable

CRON = "30 3 * * *"


@dag(schedule=interval_timetable("platform", CRON),
     **dag_settings("platform", queue="maintenance", cron=CRON,
                     execution_timeout=timedelta(minutes=30)), doc_md=__doc__)
def platform_cleanup_metadata():
    @task
    def purge_metadata() -> dict:
        import shutil
        import sys
        from pathlib import Path

        from include.orchestration import connections, variables
        from include.orchestration.schedules import current_interval
        from include.platform.metadata import clean_metadata

        _, data_interval_end = current_interval()
        keep = timedelta(days=variables.get_int("platform_metadata_keep_days", 30, minimum=1, maximum=3650))
        airflow_bin = shutil.which("airflow") or str(Path(sys.executable).with_name("airflow"))
        return clean_metadata(airflow_bin, connections.sqlalchemy_url("airflow_metadata_db"),
                              data_interval_end - keep)

    purge_metadata()


platform_cleanup_metadata()
