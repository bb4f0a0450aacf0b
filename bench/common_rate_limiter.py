"""Limiter accuracy: 4 processes hammer one key of include/common/rate_limit.RedisRateLimiter
(strict sliding log, the real Redis) at scaled-down limits, and every grant is checked.

Per phase (2 per 1 s, then 5 per 2 s, ~10 s each) 4 spawned processes share one key and
call `acquire()` in a loop until the phase ends, re-asking at least every POLL_CAP seconds
(the limiter's own wait is capped), so all of them race for every slot the moment it
opens. Each grant's time is the Redis server clock returned by `acquire()` (integer us).

Reported per phase: grants per fixed window from the first grant, the maximum in ANY
sliding window of one period (must be <= rate), the theoretical maximum for the phase
(rate x ceil(duration / period): rate at once, then rate each period), and how the grants
split over the processes. Any window with more than `rate` grants fails the benchmark.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from bisect import bisect_left

from bench._harness import bench_api_name, main, peak_rss_mb, redis_url, say

NAME = "common_rate_limiter"
WORKERS = 4
POLL_CAP = 0.002  # s: the longest a worker sleeps between two script calls
PHASES = (  # label, rate, period (s), duration (s)
    ("2 per 1 s", 2, 1.0, 10.0),
    ("5 per 2 s", 5, 2.0, 10.0),
)
START_DELAY = 0.5  # s between handing out the phase and its common start


def _warm_up(_: int) -> int:
    import redis  # noqa: F401

    import include.common.rate_limit  # noqa: F401

    time.sleep(0.2)  # hold this worker so the next task goes to another one
    return os.getpid()


def hammer(url: str, api: str, rate: int, period: float, start_at: float, stop_at: float) -> dict:
    """One worker process: acquire until stop_at; the grants' Redis times in us."""
    import redis

    from include.common.rate_limit import SOCKET_TIMEOUTS, Limit, RateLimitTimeout, RedisRateLimiter

    denied = 0

    def capped_sleep(seconds: float) -> None:
        nonlocal denied
        denied += 1
        time.sleep(min(seconds, POLL_CAP))

    limiter = RedisRateLimiter(redis.Redis.from_url(url, **SOCKET_TIMEOUTS), api, Limit(rate, period),
                               sleep=capped_sleep)
    grants: list[int] = []
    time.sleep(max(0.0, start_at - time.time()))
    while (remaining := stop_at - time.time()) > 0:
        try:
            granted_at = limiter.acquire(timeout=remaining)
        except RateLimitTimeout:
            break
        grants.append(round(granted_at * 1e6))
    return {"pid": os.getpid(), "grants": grants, "denied_calls": denied, "peak_rss_mb": peak_rss_mb()}


def analyse(grants: list[int], rate: int, period: float, duration: float) -> dict:
    """Window counts of sorted grant times (us) for a limit of `rate` per `period` s."""
    times = sorted(grants)
    period_us = round(period * 1e6)
    windows = math.ceil(duration / period)
    theoretical = rate * windows
    if not times:
        return {"granted": 0, "theoretical_max": theoretical, "max_in_sliding_window": 0,
                "violations": 0, "per_window": [0] * windows}
    # Every window [t, t + period) holds at most `rate` grants iff t[i + rate] - t[i] >= period.
    max_sliding = max(bisect_left(times, t + period_us, lo=i) - i for i, t in enumerate(times))
    violations = [(times[i], times[i + rate]) for i in range(len(times) - rate)
                  if times[i + rate] - times[i] < period_us]
    first = times[0]
    per_window = [0] * max(windows, (times[-1] - first) // period_us + 1)
    for t in times:
        per_window[(t - first) // period_us] += 1
    gaps = [(b - a) / 1000 for a, b in zip(times[::rate], times[rate::rate], strict=False)]
    return {
        "granted": len(times),
        "theoretical_max": theoretical,
        "fill_pct": round(100 * len(times) / theoretical, 1),
        "max_in_sliding_window": max_sliding,
        "violations": len(violations),
        "violation_examples_us": violations[:5],
        "per_window": per_window,
        "span_s": round((times[-1] - first) / 1e6, 3),
        # how late each new batch of `rate` came after the previous one's first grant
        "slot_delay_ms": {"median": round(sorted(gaps)[len(gaps) // 2] - period * 1000, 2) if gaps else None,
                          "max": round(max(gaps) - period * 1000, 2) if gaps else None},
    }


def run() -> dict:
    import redis

    from include.common.rate_limit import KEY_PREFIX, SOCKET_TIMEOUTS

    url = redis_url()
    client = redis.Redis.from_url(url, **SOCKET_TIMEOUTS)
    failures: list[str] = []
    summary: list[list] = []
    phases: dict[str, dict] = {}
    worker_rss: list[float] = []
    keys: list[str] = []
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(WORKERS) as pool:
        pool.map(_warm_up, range(WORKERS), chunksize=1)  # all workers up and imported before the clock
        try:
            for label, limit_rate, period, duration in PHASES:
                api = bench_api_name("limiter")
                keys.append(KEY_PREFIX + api)
                start_at = time.time() + START_DELAY
                args = (url, api, limit_rate, period, start_at, start_at + duration)
                say(f"limiter: {WORKERS} processes on one key at {label} for {duration:g} s")
                outcomes = pool.starmap_async(hammer, [args] * WORKERS).get(timeout=duration + 60)
                result = analyse([g for o in outcomes for g in o["grants"]], limit_rate, period, duration)
                result["per_process"] = [len(o["grants"]) for o in outcomes]
                result["denied_calls"] = sum(o["denied_calls"] for o in outcomes)
                result["limit"] = {"rate": limit_rate, "period_s": period, "duration_s": duration}
                worker_rss += [o["peak_rss_mb"] for o in outcomes]
                phases[label] = result
                summary += [
                    [f"{label}: granted / theoretical max", f"{result['granted']} / {result['theoretical_max']}", ""],
                    [f"{label}: max in any {period:g} s window (limit {limit_rate})",
                     result["max_in_sliding_window"], "grants"],
                    [f"{label}: grants per window", " ".join(map(str, result["per_window"])), ""],
                    [f"{label}: per process", " ".join(map(str, result["per_process"])), "grants"],
                    [f"{label}: refused script calls (racing)", result["denied_calls"], "calls"],
                ]
                if result["violations"] or result["max_in_sliding_window"] > limit_rate:
                    failures.append(f"{label}: limit exceeded: {result['max_in_sliding_window']} grants in one "
                                    f"{period:g} s window ({result['violations']} violating pairs)")
                if result["granted"] < result["theoretical_max"] * 0.8:
                    failures.append(f"{label}: only {result['granted']} of {result['theoretical_max']} "
                                    "possible grants: the limiter is far too conservative")
        finally:
            if keys:
                client.delete(*keys)
    return {
        "summary": summary,
        "details": {"workers": WORKERS, "poll_cap_s": POLL_CAP, "algorithm": "strict sliding log",
                    "clock": "Redis TIME returned by acquire()", "phases": phases},
        "failures": failures,
        "peak_rss_mb": {"worker_processes_max": max(worker_rss, default=None)},
    }


if __name__ == "__main__":
    main(NAME, run)
