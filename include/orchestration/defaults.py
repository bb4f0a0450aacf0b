"""The shared settings of every DAG and task, from the JOBS.md conventions.

DAG files call `dag_settings(...)` and never paste a block of defaults of their own.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from include.orchestration.schedules import START_DATE, deadline_alert

# CeleryExecutor queues and their absolute priorities (JOBS.md).
QUEUE_PRIORITY = {
    "media": 9,
    "emails": 8,
    "users": 7,
    "analytics": 5,
    "maintenance": 3,
    "default": 1,
}

# Retry policy: 3 retries, exponential from 60 s capped at 30 min; ads: 3 fixed 5 min.
RETRY_POLICY: dict[str, dict[str, Any]] = {
    "default": {
        "retries": 3,
        "retry_delay": timedelta(seconds=60),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=30),
    },
    "ads": {
        "retries": 3,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": 0,
    },
}
DEFAULT_TIMEOUT = {"default": timedelta(minutes=30), "ads": timedelta(hours=1)}


def default_args(domain: str, queue: str, *, execution_timeout: timedelta | None = None,
                 **overrides: Any) -> dict[str, Any]:
    """Retries, backoff, hard timeout, queue, absolute priority and the failure alert."""
    from airflow.sdk import WeightRule

    from include.orchestration.alerts import failure_notifier

    if queue not in QUEUE_PRIORITY:
        raise ValueError(f"unknown queue {queue!r}; one of {sorted(QUEUE_PRIORITY)}")
    args: dict[str, Any] = {
        "owner": domain,
        **RETRY_POLICY.get(domain, RETRY_POLICY["default"]),
        "execution_timeout": execution_timeout or DEFAULT_TIMEOUT.get(domain, DEFAULT_TIMEOUT["default"]),
        "queue": queue,
        "priority_weight": QUEUE_PRIORITY[queue],
        "weight_rule": WeightRule.ABSOLUTE,
        "on_failure_callback": failure_notifier(domain),
    }
    args.update(overrides)
    return args


def dag_settings(domain: str, *, queue: str, cron: str | None, **task_overrides: Any) -> dict[str, Any]:
    """Keyword arguments for `@dag` besides `schedule` (which each DAG states itself, e.g.
    `schedule=interval_timetable(domain, CRON)`): start date, no catchup, one run at a time,
    the deadline alert of a scheduled DAG (`cron` given) and the shared task defaults."""
    settings: dict[str, Any] = {
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "tags": [domain],
        "default_args": default_args(domain, queue, **task_overrides),
    }
    if cron is not None:
        settings["deadline"] = deadline_alert(domain, cron)
    return settings
