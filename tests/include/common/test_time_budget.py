"""The batch loop: stop before the soft limit, keep the committed batches and their combined
result, fail with the count."""

from __future__ import annotations

import time

import pytest

from include.common.time_budget import SoftTimeLimitExceeded, TimeBudget, add_counts, run_batches


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_stops_before_the_limit_with_the_combined_result_of_done_batches():
    clock, committed = FakeClock(), []
    budget = TimeBudget(41.5, clock=clock)

    def steps():
        for batch in range(60):
            clock.now += 1.0  # each batch takes a second
            committed.append(batch)
            yield {"rows": 10, "batches": 1}

    with pytest.raises(SoftTimeLimitExceeded) as err:
        run_batches(steps(), budget, result={"day": "2026-03-01", "rows": 0, "batches": 0}, total=60)
    assert committed == list(range(41))
    assert err.value.result == {"day": "2026-03-01", "rows": 410, "batches": 41}
    assert str(err.value) == ("soft time limit: 41 of 60 batches done, rerun continues; "
                              "done so far: {'day': '2026-03-01', 'rows': 410, 'batches': 41}")
    assert budget.remaining() == pytest.approx(0.5)


def test_the_slowest_batch_sets_the_margin_and_total_may_be_unknown():
    clock = FakeClock()
    durations = iter([1.0, 5.0, 1.0, 1.0, 1.0, 1.0])
    started: list[int] = []

    def steps():
        for batch in range(6):
            started.append(batch)
            clock.now += next(durations)
            yield None  # a step may have nothing to count

    with pytest.raises(SoftTimeLimitExceeded, match=r"^soft time limit: 4 batches done, rerun continues"):
        run_batches(steps(), TimeBudget(12.0, clock=clock))
    # after 4 batches 8 s are used; 4 s left < the 5 s batch seen, so batch 5 is not started
    assert started == [0, 1, 2, 3]


def test_a_stop_closes_the_generator_so_its_cleanup_runs_at_once():
    clock, closed = FakeClock(), []

    def steps():
        try:
            while True:
                clock.now += 1
                yield {"n": 1}
        finally:
            closed.append(True)

    with pytest.raises(SoftTimeLimitExceeded):
        run_batches(steps(), TimeBudget(3, clock=clock))
    assert closed == [True]


def test_no_stop_is_declared_after_the_last_of_a_known_total():
    clock = FakeClock()

    def steps():
        for _ in range(3):
            clock.now += 1
            yield {"n": 1}

    # 3 s of a 3 s budget: the loop is done, nothing is left to stop before
    assert run_batches(steps(), TimeBudget(3, clock=clock), total=3) == {"n": 3}


def test_real_clock_tiny_limit_commits_finished_batches():
    committed: list[int] = []

    def steps():
        for batch in range(100):
            time.sleep(0.05)
            committed.append(batch)
            yield {"committed": 1}

    started = time.monotonic()
    with pytest.raises(SoftTimeLimitExceeded) as err:
        run_batches(steps(), TimeBudget(0.3), total=100, margin=0.02)
    elapsed = time.monotonic() - started
    assert elapsed < 0.3  # stopped before the soft limit, not at or after it
    assert 1 <= err.value.done == len(committed) <= 5 and err.value.total == 100
    assert err.value.result == {"committed": len(committed)}


def test_all_batches_within_budget_return_their_sum_and_no_budget_means_no_limit():
    steps = ({"written": n, "sources": [f"s{n}"], "by_kind": {"a": 1}} for n in (1, 2, 3))
    assert run_batches(steps) == {"written": 6, "sources": ["s1", "s2", "s3"], "by_kind": {"a": 3}}


def test_add_counts_adds_numbers_merges_dicts_and_replaces_the_rest():
    result = {"n": 1, "flag": False, "kinds": {"x": 1}}
    add_counts(result, {"n": 2, "flag": True, "kinds": {"x": 1, "y": 2}, "day": "D"})
    assert result == {"n": 3, "flag": True, "kinds": {"x": 2, "y": 2}, "day": "D"}


def test_budget_arithmetic():
    clock = FakeClock()
    budget = TimeBudget(10, clock=clock)
    clock.now = 7.5
    assert budget.elapsed() == 7.5 and budget.remaining() == 2.5
    assert not budget.exhausted(2.0) and budget.exhausted(3.0)
    assert not TimeBudget.unlimited().exhausted(1e9)
