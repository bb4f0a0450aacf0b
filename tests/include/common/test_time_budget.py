"""Soft time limits: stop before the limit, keep the committed batches, fail with the count."""

from __future__ import annotations

import time

import pytest

from include.common.time_budget import SoftTimeLimitExceeded, TimeBudget, run_batches


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_stops_before_the_limit_with_the_count_of_done_batches():
    clock, committed = FakeClock(), []
    budget = TimeBudget(41.5, clock=clock)

    def process(batch: int) -> int:
        clock.now += 1.0  # each batch takes a second
        committed.append(batch)
        return batch

    with pytest.raises(SoftTimeLimitExceeded) as err:
        run_batches(list(range(60)), process, budget)
    assert str(err.value) == "soft time limit: 41 of 60 batches done, rerun continues"
    assert committed == list(range(41)) and err.value.results == committed
    assert budget.remaining() == pytest.approx(0.5)


def test_the_slowest_batch_sets_the_margin_and_total_may_be_unknown():
    clock = FakeClock()
    durations = iter([1.0, 5.0, 1.0, 1.0, 1.0, 1.0])

    def process(batch: int) -> None:
        clock.now += next(durations)

    with pytest.raises(SoftTimeLimitExceeded, match="^soft time limit: 4 batches done, rerun continues$"):
        run_batches((b for b in range(6)), process, TimeBudget(12.0, clock=clock))
    # after 4 batches 8 s are used; 4 s left < the 5 s batch seen, so batch 5 is not started


def test_real_clock_tiny_limit_commits_finished_batches():
    committed: list[int] = []

    def process(batch: int) -> None:
        time.sleep(0.05)
        committed.append(batch)

    started = time.monotonic()
    with pytest.raises(SoftTimeLimitExceeded) as err:
        run_batches(range(100), process, TimeBudget(0.3), margin=0.02)
    elapsed = time.monotonic() - started
    assert elapsed < 0.3  # stopped before the soft limit, not at or after it
    assert 1 <= err.value.done == len(committed) <= 5 and err.value.total == 100
    assert str(err.value) == f"soft time limit: {len(committed)} of 100 batches done, rerun continues"


def test_all_batches_within_budget_return_their_results():
    assert run_batches([1, 2, 3], lambda b: b * 10, TimeBudget(60)) == [10, 20, 30]


def test_budget_arithmetic():
    clock = FakeClock()
    budget = TimeBudget(10, clock=clock)
    clock.now = 7.5
    assert budget.elapsed() == 7.5 and budget.remaining() == 2.5
    assert not budget.exhausted(2.0) and budget.exhausted(3.0)
