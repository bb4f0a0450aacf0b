"""The shared rate limiter against the real Redis: several processes, every sliding window."""

from __future__ import annotations

import multiprocessing
import socket
import time

import pytest
import redis

from include.common.http import ApiClient
from include.common.rate_limit import (
    DEFAULT_LIMITS,
    Limit,
    RateLimiterUnavailable,
    RateLimitTimeout,
    RedisRateLimiter,
    limit_for,
    load_limits,
)


def max_in_window(times: list[float], period: float) -> int:
    """The most grants in any half-open window [t, t + period) of the sorted times."""
    times = sorted(times)
    best, j = 0, 0
    for i, start in enumerate(times):
        while j < len(times) and times[j] < start + period:
            j += 1
        best = max(best, j - i)
    return best


def take_for(limiter: RedisRateLimiter, seconds: float) -> list[float]:
    """Grant times (Redis clock) of every token taken within `seconds`."""
    stop, times = time.monotonic() + seconds, []
    while (left := stop - time.monotonic()) > 0:
        try:
            times.append(limiter.acquire(timeout=left))
        except RateLimitTimeout:
            break
    return times


def hammer(url: str, prefix: str, limits: dict, start_at: float, stop_at: float, out) -> None:
    """One worker process: take tokens as fast as granted until stop_at."""
    limiter = RedisRateLimiter.from_url(url, "hammer", limits, key_prefix=prefix)
    time.sleep(max(0.0, start_at - time.time()))
    grants = []
    while (left := stop_at - time.time()) > 0:
        try:
            server_time = limiter.acquire(timeout=left)
        except RateLimitTimeout:
            break
        grants.append((server_time, time.time()))
    out.put(grants)


def test_four_processes_never_exceed_the_limit_in_any_window(redis_url, key_prefix):
    rate, period, duration = 5, 2.0, 6.0
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 1.5  # time for the spawned interpreters to start
    workers = [ctx.Process(target=hammer, args=(redis_url, key_prefix, {"hammer": [rate, period]},
                                                start_at, start_at + duration, out))
               for _ in range(4)]
    for w in workers:
        w.start()
    per_worker = [out.get(timeout=duration + 15) for _ in workers]
    for w in workers:
        w.join(timeout=5)
        assert w.exitcode == 0
    server = [s for grants in per_worker for s, _ in grants]
    client = [c for grants in per_worker for _, c in grants]
    # Redis-side grant times: never more than `rate` in any window of `period`
    assert max_in_window(server, period) == rate
    # as the callers saw them: the same, with a few ms of scheduling jitter allowed
    assert max_in_window(client, period - 0.05) <= rate
    # and the limit is used, not just respected: 3 full windows fit in 6 s (one may be lost to
    # spawned interpreters starting late on a loaded machine)
    assert rate * (int(duration / period) - 1) <= len(server) <= rate * int(duration / period)
    assert sum(1 for grants in per_worker if grants) >= 2  # the processes really competed


def test_strict_mode_versus_a_plain_token_bucket(redis_url, key_prefix):
    """Why strict is the default: a bucket of 2 refilled 2/s lets 3 through in one second."""
    got = {}
    for strict in (True, False):
        limiter = RedisRateLimiter.from_url(redis_url, "api", {"api": {"rate": 2, "period": 1.0, "strict": strict}},
                                            key_prefix=f"{key_prefix}{strict}:")
        got[strict] = max_in_window(take_for(limiter, 1.3), 1.0)
    assert got == {True: 2, False: 3}


def test_bucket_burst_capacity(redis_url, key_prefix):
    limiter = RedisRateLimiter(redis.Redis.from_url(redis_url), "burst", Limit(1, 10.0, burst=4, strict=False),
                               key_prefix=key_prefix)
    assert [limiter.try_acquire()[0] for _ in range(5)] == [True] * 4 + [False]
    assert 9.5 < limiter.try_acquire()[1] <= 10.0  # one token per 10 s


def test_acquire_gives_up_at_once_when_the_next_slot_is_beyond_the_bound(redis_url, key_prefix):
    limiter = RedisRateLimiter.from_url(redis_url, "acrcloud", key_prefix=key_prefix)  # 1/min
    limiter.acquire()
    started = time.monotonic()
    with pytest.raises(RateLimitTimeout,
                       match=r"rate limit acrcloud \(1/60s \+1s guard\): no token within 5 s, next in 61\.0 s"):
        limiter.acquire(timeout=5)
    assert time.monotonic() - started < 0.5


def test_acquire_waits_for_the_window_to_slide(redis_url, key_prefix):
    limiter = RedisRateLimiter.from_url(redis_url, "x", {"x": [2, 0.5]}, key_prefix=key_prefix)
    times = [limiter.acquire(timeout=2) for _ in range(3)]
    assert times[2] - times[0] >= 0.5 and times[2] - times[0] < 0.6


def test_a_lowered_limit_waits_for_enough_old_grants_to_expire(redis_url, key_prefix):
    before = RedisRateLimiter.from_url(redis_url, "x", {"x": [3, 2]}, key_prefix=key_prefix)
    assert [before.try_acquire()[0] for _ in range(3)] == [True] * 3
    after = RedisRateLimiter.from_url(redis_url, "x", {"x": [1, 2]}, key_prefix=key_prefix)
    granted, wait, _ = after.try_acquire()
    assert not granted and 1.9 < wait <= 2.0  # until the newest of the three leaves the window


def test_redis_down_is_a_clear_error_never_an_unlimited_call():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    limiter = RedisRateLimiter.from_url(f"redis://:secret@127.0.0.1:{port}/0", "soundcharts")
    started = time.monotonic()
    with pytest.raises(RateLimiterUnavailable) as err:
        limiter.acquire()
    assert time.monotonic() - started < 1.0
    assert f"rate limiter for soundcharts: Redis at 127.0.0.1:{port}/0 is unreachable" in str(err.value)
    assert "secret" not in str(err.value)


def test_client_requests_arrive_within_the_shared_limit(api_server, redis_url, key_prefix):
    """With a guard the limit holds at the API too, in windows measured on arrival times."""
    limiter = RedisRateLimiter.from_url(redis_url, "sandbox", {"sandbox": [3, 1.0, 0.05]}, key_prefix=key_prefix)
    api = ApiClient(api_server.url, rate_limiter=limiter)
    started = time.monotonic()
    for _ in range(7):
        api.get("/ok")
    assert 2.1 <= time.monotonic() - started < 2.6  # 3 + 3 + 1 over three 1.05 s windows
    assert max_in_window([r.at for r in api_server.requests], 1.0) == 3


def test_limits_configuration():
    assert DEFAULT_LIMITS["soundcharts"] == Limit(2, 60.0, guard=1.0)
    assert DEFAULT_LIMITS["acrcloud"] == Limit(1, 60.0, guard=1.0)
    limits = load_limits('{"soundcharts": [3, 60, 2], "llm": {"rate": 50, "period": 1, "burst": 80, "strict": false}}')
    assert limits["soundcharts"] == Limit(3, 60, guard=2) and limits["acrcloud"] == DEFAULT_LIMITS["acrcloud"]
    assert limits["llm"] == Limit(50, 1, burst=80, strict=False)
    with pytest.raises(ValueError, match="no rate limit configured for 'tiktok'"):
        limit_for("tiktok")
    with pytest.raises(ValueError, match="bad rate limit for 'x'"):
        load_limits({"x": [0, 60]})
    with pytest.raises(ValueError, match="burst applies to bucket mode"):
        Limit(2, 60, burst=5)
