"""The shared settings of every DAG and task, from the JOBS.md conventions.

DAG files call `dag_settings(...)` and never paste a block of defaults of their own. It sets,
once for every task: retries and backoff, the hard `execution_timeout` and the SOFT limit
derived from it (include/orchestration/budget.py; `soft_limit=` overrides), the queue and its
absolute priority, the failure alert, and the error policy (`retry_policy`, see
include/orchestration/errors.py: permanent errors fail at once, transient ones retry).
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
                 soft_limit: timedelta | None = None, **overrides: Any) -> dict[str, Any]:
    """Retries, backoff, hard and soft timeouts, queue, absolute priority, the failure alert
    and the error policy."""
    from airflow.sdk import WeightRule

    from include.orchestration.alerts import failure_notifier
    from include.orchestration.budget import SOFT_LIMIT_ARG, derive_soft_limit
    from include.orchestration.errors import ERROR_POLICY

    if queue not in QUEUE_PRIORITY:
        raise ValueError(f"unknown queue {queue!r}; one of {sorted(QUEUE_PRIORITY)}")
    timeout = execution_timeout or DEFAULT_TIMEOUT.get(domain, DEFAULT_TIMEOUT["default"])
    if soft_limit is not None and not timedelta(0) < soft_limit < timeout:
        raise ValueError(f"soft_limit {soft_limit} must lie between 0 and the execution_timeout {timeout}")
    args: dict[str, Any] = {
        "owner": domain,
        **RETRY_POLICY.get(domain, RETRY_POLICY["default"]),
        "execution_timeout": timeout,
        # Not an operator argument: read back by budget.task_budget() from dag.default_args.
        SOFT_LIMIT_ARG: soft_limit or derive_soft_limit(timeout),
        "queue": queue,
        "priority_weight": QUEUE_PRIORITY[queue],
        "weight_rule": WeightRule.ABSOLUTE,
        "on_failure_callback": failure_notifier(domain),
        "retry_policy": ERROR_POLICY,
    }
    args.update(overrides)
    return args


def dag_settings(domain: str, *, queue: str, cron: str | None, max_active_runs: int = 1,
                 **task_overrides: Any) -> dict[str, Any]:
    """Keyword arguments for `@dag` besides `schedule` (which each DAG states itself, e.g.
    `schedule=interval_timetable(domain, CRON)`): start date, no catchup, one run at a time
    (unless `max_active_runs` says more), the deadline alert of a scheduled DAG (`cron`
    given) and the shared task defaults (`execution_timeout=`, `soft_limit=`, ...)."""
    settings: dict[str, Any] = {
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": max_active_runs,
        "tags": [domain],
        "default_args": default_args(domain, queue, **task_overrides),
    }
    if cron is not None:
        settings["deadline"] = deadline_alert(domain, cron)
    return settings
