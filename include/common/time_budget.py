"""Soft time limits and THE batch loop of every job.

A job that works in batches stops taking new ones before the hard `execution_timeout` kills
it mid-batch, keeps what it committed, and fails saying so (a rerun continues). One way to do
it, used by every domain:

    def _steps(conn, ...) -> Iterator[dict]:
        for low, high in ranges:
            scanned, written = repository.upsert_range(conn, low, high)
            conn.commit()
            yield {"scanned": scanned, "written": written, "batches": 1}

    return run_batches(_steps(conn, ...), budget, result={"scanned": 0, "written": 0, "batches": 0})

Each step of the generator does and commits ONE batch and yields its counts; `run_batches`
adds them up and, before resuming the generator for the next batch, checks that the budget
can fit another batch as slow as the slowest so far. When it cannot, it closes the generator
and raises `SoftTimeLimitExceeded` carrying the combined result of the finished batches (the
orchestration layer logs it and keeps it as the task's return value:
include/orchestration/budget.py). Services take `budget: TimeBudget | None` (None: no limit),
never a `should_continue` callback. The soft limit itself is declared once per DAG through
`dag_settings` (derived from the task's `execution_timeout`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from include.common.errors import TransientError

# How many fields of a result a stop's message spells out (the log stays readable).
_SHOWN_KEYS = 12


class SoftTimeLimitExceeded(TransientError):
    """Stopped early: `done` batches were committed and `result` is their combined result.
    Transient: the retry continues where this try stopped."""

    def __init__(self, done: int, total: int | None, result: dict[str, Any]):
        self.done, self.total, self.result = done, total, result
        count = f"{done} of {total}" if total is not None else f"{done}"
        shown = {k: v for k, v in list(result.items())[:_SHOWN_KEYS] if not isinstance(v, (list, dict))}
        super().__init__(f"soft time limit: {count} batches done, rerun continues; done so far: {shown}")


class TimeBudget:
    """Seconds left of a soft limit counted from construction (the task's start)."""

    def __init__(self, soft_limit_seconds: float, *, clock: Callable[[], float] = time.monotonic):
        self.soft_limit = soft_limit_seconds
        self._clock = clock
        self._start = clock()

    @classmethod
    def unlimited(cls) -> TimeBudget:
        return cls(float("inf"))

    def elapsed(self) -> float:
        return self._clock() - self._start

    def remaining(self) -> float:
        return self.soft_limit - self.elapsed()

    def exhausted(self, margin: float = 0.0) -> bool:
        """True when less than `margin` seconds are left."""
        return self.remaining() < margin


def add_counts(result: dict[str, Any], counts: Mapping[str, Any]) -> dict[str, Any]:
    """Fold one batch's counts into `result`: numbers are added, dicts merged the same way,
    lists extended; any other value (a day, a flag) replaces the one before."""
    for key, value in counts.items():
        old = result.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float, dict, list)):
            result[key] = value
        elif isinstance(value, (int, float)):
            result[key] = (old or 0) + value
        elif isinstance(value, dict):
            result[key] = add_counts(dict(old or {}), value)
        else:
            result[key] = [*(old or []), *value]
    return result


def run_batches(steps: Iterable[Mapping[str, Any] | None], budget: TimeBudget | None = None, *,
                result: dict[str, Any] | None = None, total: int | None = None,
                margin: float = 0.0) -> dict[str, Any]:
    """Run `steps` (each does and commits one batch, then yields its counts or None) while
    `budget` can fit another step as slow as the slowest so far plus `margin` seconds.

    Returns `result` (default {}) with every step's counts added (see `add_counts`). When
    the budget runs out with steps left, raises SoftTimeLimitExceeded(done, total, result);
    with `total` (the number of steps, when known) no stop is declared after the last one.
    Work between two yields is one batch: a step must not claim work it does not finish."""
    result = {} if result is None else result
    budget = budget or TimeBudget.unlimited()
    iterator: Iterator = iter(steps)
    done, slowest = 0, 0.0
    try:
        while True:
            if (total is None or done < total) and budget.exhausted(slowest + margin):
                # The service's own count of batches when it keeps one (a scan is a step, not a batch).
                counted = result.get("batches")
                raise SoftTimeLimitExceeded(counted if type(counted) is int else done, total, result)
            started = budget.elapsed()
            try:
                counts = next(iterator)
            except StopIteration:
                return result
            slowest = max(slowest, budget.elapsed() - started)
            done += 1
            if counts:
                add_counts(result, counts)
    finally:
        close = getattr(iterator, "close", None)
        if callable(close):
            close()  # a stopped generator runs its `finally` blocks now, not at garbage collection
