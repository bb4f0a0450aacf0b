"""Soft time limits: stop taking new batches before the hard `execution_timeout` kills the
task mid-batch, keep what was committed, and fail with a message saying a rerun continues."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

B = TypeVar("B")
R = TypeVar("R")


class SoftTimeLimitExceeded(Exception):
    """Stopped early; `done` batches were committed, `results` holds what they returned."""

    def __init__(self, done: int, total: int | None, results: list[Any]):
        self.done, self.total, self.results = done, total, results
        count = f"{done} of {total}" if total is not None else f"{done}"
        super().__init__(f"soft time limit: {count} batches done, rerun continues")


class TimeBudget:
    """Seconds left of a soft limit counted from construction (the task's start)."""

    def __init__(self, soft_limit_seconds: float, *, clock: Callable[[], float] = time.monotonic):
        self.soft_limit = soft_limit_seconds
        self._clock = clock
        self._start = clock()

    def elapsed(self) -> float:
        return self._clock() - self._start

    def remaining(self) -> float:
        return self.soft_limit - self.elapsed()

    def exhausted(self, margin: float = 0.0) -> bool:
        """True when less than `margin` seconds are left."""
        return self.remaining() < margin


def run_batches(batches: Iterable[B], process: Callable[[B], R], budget: TimeBudget, *,
                total: int | None = None, margin: float = 0.0) -> list[R]:
    """Call `process(batch)` (which does and commits one batch) for each batch while the
    budget can fit another one as slow as the slowest so far plus `margin`.

    Returns the results when every batch is done, else raises SoftTimeLimitExceeded. The next
    batch is drawn before the check (so a loop that finished exactly at the limit does not
    fail): drawing one must not claim work, only read it.
    """
    if total is None and hasattr(batches, "__len__"):
        total = len(batches)  # type: ignore[arg-type]
    results: list[R] = []
    slowest = 0.0
    started = budget.elapsed()
    for batch in batches:
        if budget.exhausted(slowest + margin):
            raise SoftTimeLimitExceeded(len(results), total, results)
        results.append(process(batch))
        finished = budget.elapsed()
        slowest = max(slowest, finished - started)  # includes drawing the batch
        started = finished
    return results
