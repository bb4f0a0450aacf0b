"""The soft time limit of the running task, and what a stop by it leaves behind.

One way, for every DAG: `dag_settings(..., execution_timeout=...)` declares the soft limit
(derived: the hard limit less 10 %, at least 1 and at most 5 minutes; or `soft_limit=` to
override), and a task runs its service under it:

    with soft_limit() as budget:
        return cleanup_expired_tokens(conn, end, budget=budget)

The service's batch loop (`include/common/time_budget.run_batches`) stops before the next
batch when the budget cannot fit it and raises SoftTimeLimitExceeded with the combined result
of the finished batches; `soft_limit()` logs that result, keeps it as the task's return value
(XCom, visible in the UI) and lets the exception fail the try, which Airflow retries: the
retry continues where this one stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from include.common.time_budget import SoftTimeLimitExceeded, TimeBudget

log = logging.getLogger(__name__)

MIN_MARGIN = timedelta(minutes=1)
MAX_MARGIN = timedelta(minutes=5)
SOFT_LIMIT_ARG = "soft_limit"  # the default_args key dag_settings stores it under


def derive_soft_limit(execution_timeout: timedelta) -> timedelta:
    """Room before the hard limit to finish the batch in flight, commit and fail cleanly."""
    margin = min(max(execution_timeout * 0.1, MIN_MARGIN), MAX_MARGIN)
    if margin >= execution_timeout:
        raise ValueError(f"execution_timeout {execution_timeout} leaves no room for a soft limit")
    return execution_timeout - margin


def soft_limit_of(execution_timeout: timedelta | None, default_args: Mapping[str, Any]) -> timedelta | None:
    """The soft limit of a task: the DAG's declared one when the task keeps the DAG's hard
    limit, else derived from the task's own `execution_timeout`."""
    if execution_timeout is None:
        return None
    declared = default_args.get(SOFT_LIMIT_ARG)
    if declared is not None and default_args.get("execution_timeout") == execution_timeout:
        return declared
    return derive_soft_limit(execution_timeout)


def task_budget() -> TimeBudget:
    """The running task's soft limit, counted from the start of this try."""
    from airflow.sdk import get_current_context

    context = get_current_context()
    limit = soft_limit_of(context["task"].execution_timeout, context["dag"].default_args or {})
    if limit is None:
        return TimeBudget.unlimited()
    started = getattr(context["ti"], "start_date", None)
    used = (datetime.now(UTC) - started).total_seconds() if started else 0.0
    return TimeBudget(limit.total_seconds() - max(used, 0.0))


@contextmanager
def soft_limit() -> Iterator[TimeBudget]:
    """The task's budget; a SoftTimeLimitExceeded raised inside is logged with the combined
    result of the finished batches, kept as the task's return value, and re-raised."""
    budget = task_budget()
    try:
        yield budget
    except SoftTimeLimitExceeded as stop:
        from airflow.sdk import get_current_context

        log.warning("stopped by the soft time limit (%.0f s) after %s batches; committed so far: %s",
                    budget.soft_limit, stop.done, stop.result)
        get_current_context()["ti"].xcom_push(key="return_value", value=stop.result)
        raise
