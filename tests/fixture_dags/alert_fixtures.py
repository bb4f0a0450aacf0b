"""DAGs that exist only for the live-stack tests (a second DAG bundle, never deployed):
a task that always fails, a run that overstays its deadline, tasks on two Celery queues."""

import time
from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.schedules import deadline_alert_after

FAST_RETRIES = {"retries": 2, "retry_delay": timedelta(seconds=1), "retry_exponential_backoff": 0}


@dag(schedule=None, **dag_settings("platform", queue="default", cron=None, **FAST_RETRIES))
def fixture_always_fails():
    @task
    def fail_always():
        raise RuntimeError("deliberate failure for the alert test")

    fail_always()


@dag(schedule=None, deadline=deadline_alert_after("platform", timedelta(seconds=5)),
     **dag_settings("platform", queue="default", cron=None))
def fixture_misses_deadline():
    @task
    def overstay():
        time.sleep(20)

    overstay()


@dag(schedule=None, **dag_settings("platform", queue="media", cron=None))
def fixture_two_queues():
    @task(queue="media")
    def on_media() -> str:
        import socket

        return socket.gethostname()

    @task(queue="analytics", priority_weight=5)
    def on_analytics(previous: str) -> str:
        return previous

    on_analytics(on_media())


fixture_always_fails()
fixture_misses_deadline()
fixture_two_queues()
