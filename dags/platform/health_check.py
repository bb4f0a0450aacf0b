"""
# platform_health_check

Every 15 minutes: checks each app database (connect + latency), Redis, free disk of the
backup folder, host memory and the Airflow backlog (queued task instances), stores the
readings in `platform.health_readings`, and emails the platform owners **once** when a check
turns bad and once when it recovers (state in `platform.health_state`, mail via the outbox).

- **Owner:** platform
- **Reads:** connections `<domain>_db`, `redis_default`, `airflow_metadata_db`;
  variables `platform_health_thresholds` (JSON, optional), `platform_backup_dir`
- **Writes:** `platform.health_readings`, `platform.health_state`, `platform.outbox`
  (then delivers the outbox, as `platform_deliver_notifications` does)
- **Triage:** safe to clear and re-run: readings are upserts keyed by (interval end, check,
  target) and each transition's alert has a dedupe key, so a rerun sends nothing twice.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.notify import deliver_notifications
from include.orchestration.schedules import interval_timetable

CRON = "*/15 * * * *"


@dag(schedule=interval_timetable("platform", CRON),
     **dag_settings("platform", queue="maintenance", cron=CRON, execution_timeout=timedelta(minutes=5)),
     doc_md=__doc__)
def platform_health_check():
    @task
    def check_health() -> dict:
        import dataclasses

        from include.common.db import connect
        from include.orchestration import connections, variables
        from include.orchestration.schedules import current_interval
        from include.platform import health

        _, data_interval_end = current_interval()
        limits = health.Thresholds(**variables.get_json("platform_health_thresholds", {}))
        readings = [health.check_database(name, dsn, limits)
                    for name, dsn in connections.app_databases().items()]
        readings.append(health.check_redis(*connections.redis_address(), limits))
        readings.append(health.check_disk(variables.get_str("platform_backup_dir", "/"), limits))
        readings.append(health.check_memory(limits))
        readings.append(health.check_backlog(connections.postgres_dsn("airflow_metadata_db"), limits))
        with connect(connections.outbox_db("platform")) as conn:
            receipt = health.record(conn, data_interval_end, readings, variables.alert_recipients("platform"))
        receipt["checks"] = [dataclasses.asdict(r) for r in readings]
        return receipt

    # The transition alerts go out now rather than at the next outbox sweep.
    deliver_notifications(upstream=check_health())


platform_health_check()
