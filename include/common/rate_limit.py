"""Rate limits shared by every worker process and machine, kept in Redis.

Each attempt to take a token is ONE atomic Lua script (EVALSHA, reloaded on NOSCRIPT by
redis-py's Script) on the key `jobyard:ratelimit:<api>`, timed by the Redis server's TIME so
workers' clocks don't matter. Two algorithms:

- strict (the default): a sliding log of grant times. A token is granted only while fewer
  than `rate` grants lie in the last `period`, so "N per period" holds in EVERY window of that
  length, and N may still go at once. A plain token bucket with capacity N refilled N per
  period does not: it lets N go at the end of one minute and N more as they refill, up to
  2N in one sliding minute, which a strict API (Soundcharts 2/min) answers with 429.
- bucket: a classic token bucket (capacity `burst`, refilled `rate` per `period`), for APIs
  that state a sustained rate with a burst allowance.

The guarantee is on grant times at Redis. Requests reach the API a little later, each by a
different delay (1-4 ms measured on loopback; connection setup and TLS over the internet add
more), so a burst granted exactly one period after the previous one can look like N+1 in the
API's own window. `guard` seconds widen every window against that: the defaults give the
strict per-minute APIs one second (2 per 61 s in effect, 1.6% below the limit).
Redis unreachable -> RateLimiterUnavailable: never call the API unlimited.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from include.common.errors import TransientError

KEY_PREFIX = "jobyard:ratelimit:"
# Fail fast when Redis is down or blackholed instead of hanging the task.
SOCKET_TIMEOUTS = {"socket_connect_timeout": 2.0, "socket_timeout": 5.0}

# KEYS[1] the limiter key; ARGV: mode ("log" | "bucket"), rate, period (us), burst, member.
# Returns {granted 0|1, wait (us) before a token may be free, server time (us)}.
_SCRIPT = """
local key, mode = KEYS[1], ARGV[1]
local rate, period = tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local kind = redis.call('TYPE', key)['ok']
local want = mode == 'log' and 'zset' or 'hash'
if kind ~= 'none' and kind ~= want then redis.call('DEL', key) end
if mode == 'log' then
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - period)
  local n = redis.call('ZCARD', key)
  if n < rate then
    redis.call('ZADD', key, now, ARGV[5])
    redis.call('PEXPIRE', key, math.ceil(period / 1000) + 1000)
    return {1, 0, now}
  end
  -- the grant whose expiry brings the count below rate (n > rate after a limit was lowered)
  local oldest = redis.call('ZRANGE', key, n - rate, n - rate, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + period - now, now}
end
local burst = tonumber(ARGV[4])
local per_token = period / rate
local state = redis.call('HMGET', key, 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local elapsed = math.max(0, now - (tonumber(state[2]) or now))
tokens = math.min(burst, tokens + elapsed / per_token)
local granted, wait = 0, 0
if tokens >= 1 then
  tokens, granted = tokens - 1, 1
else
  wait = math.ceil((1 - tokens) * per_token)
end
redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', key, math.ceil(burst * per_token / 1000) + 1000)
return {granted, wait, now}
"""


class RateLimiterError(TransientError, RuntimeError):
    """Base of the limiter's errors; transient: Airflow retries the task on them."""


class RateLimitTimeout(RateLimiterError):
    """No token within the caller's bound (retryable: the limit is busy, not broken)."""


class RateLimiterUnavailable(RateLimiterError):
    """Redis can't be reached: we refuse to proceed without the shared limit."""


@dataclass(frozen=True)
class Limit:
    """`rate` requests per `period` seconds, windows widened by `guard` s (see the module
    docstring); `burst` is the bucket capacity (bucket mode only)."""

    rate: int
    period: float
    guard: float = 0.0
    burst: int | None = None
    strict: bool = True

    def __post_init__(self) -> None:
        if not (isinstance(self.rate, int) and self.rate >= 1 and self.period > 0 and self.guard >= 0):
            raise ValueError(f"a limit needs an integer rate >= 1, a period > 0 and a guard >= 0, got {self!r}")
        if self.strict and self.burst not in (None, self.rate):
            raise ValueError("burst applies to bucket mode (strict=False); strict allows rate at once")
        if self.burst is not None and self.burst < 1:
            raise ValueError(f"burst must be >= 1, got {self.burst}")

    def __str__(self) -> str:
        guard = f" +{self.guard:g}s guard" if self.guard else ""
        return f"{self.rate}/{self.period:g}s{guard}" + ("" if self.strict else f" burst {self.capacity}")

    @property
    def capacity(self) -> int:
        return self.burst if self.burst is not None else self.rate

    @property
    def window(self) -> float:
        return self.period + self.guard


DEFAULT_LIMITS: dict[str, Limit] = {
    "soundcharts": Limit(2, 60.0, guard=1.0),
    "acrcloud": Limit(1, 60.0, guard=1.0),
}


def load_limits(overrides: str | Mapping[str, Any] | None = None) -> dict[str, Limit]:
    """DEFAULT_LIMITS updated by a JSON mapping (the `rate_limits` Airflow variable) of
    api -> [rate, period(, guard)] or the Limit fields by name, e.g.
    `{"soundcharts": [2, 60, 1], "llm": {"rate": 50, "period": 1, "burst": 100, "strict": false}}`."""
    limits = dict(DEFAULT_LIMITS)
    raw = json.loads(overrides) if isinstance(overrides, str) else (overrides or {})
    if not isinstance(raw, Mapping):
        raise TypeError(f"rate limits must be a JSON object of api -> limit, got {raw!r}")
    for api, spec in raw.items():
        try:
            limits[api] = Limit(**spec) if isinstance(spec, Mapping) else Limit(*spec)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"bad rate limit for {api!r}: {spec!r} ({exc})") from exc
    return limits


def limit_for(api: str, overrides: str | Mapping[str, Any] | None = None) -> Limit:
    """The configured limit of `api`; an API without one is an error, not an unlimited API."""
    limits = load_limits(overrides)
    if api not in limits:
        raise ValueError(f"no rate limit configured for {api!r}: add it to the `rate_limits` "
                         f"variable (known: {', '.join(sorted(limits))})")
    return limits[api]


class RedisRateLimiter:
    """`acquire()` blocks until this API's shared limit grants a token, up to `timeout` s."""

    def __init__(self, client: redis.Redis, api: str, limit: Limit, *, timeout: float = 300.0,
                 key_prefix: str = KEY_PREFIX, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.api, self.limit, self.timeout = api, limit, timeout
        self.key = f"{key_prefix}{api}"
        self._script = client.register_script(_SCRIPT)
        self._sleep, self._clock = sleep, clock
        kw = client.connection_pool.connection_kwargs
        self._where = kw.get("path") or f"{kw.get('host')}:{kw.get('port')}/{kw.get('db', 0)}"

    @classmethod
    def from_url(cls, url: str, api: str, limits: str | Mapping[str, Any] | None = None,
                 **kwargs: Any) -> RedisRateLimiter:
        """A limiter on the Redis at `url` with the limit configured for `api`."""
        return cls(redis.Redis.from_url(url, **SOCKET_TIMEOUTS), api, limit_for(api, limits), **kwargs)

    def try_acquire(self) -> tuple[bool, float, float]:
        """One script call: (granted, seconds to wait before retrying, server time in s)."""
        mode = "log" if self.limit.strict else "bucket"
        args = [mode, self.limit.rate, int(self.limit.window * 1e6), self.limit.capacity, uuid.uuid4().hex]
        try:
            granted, wait_us, now_us = self._script(keys=[self.key], args=args)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise RateLimiterUnavailable(
                f"rate limiter for {self.api}: Redis at {self._where} is unreachable ({exc}); "
                "not calling the API without the shared limit") from exc
        return bool(granted), wait_us / 1e6, now_us / 1e6

    def acquire(self, timeout: float | None = None) -> float:
        """Wait for a token; returns the grant's server time (epoch s). Raises RateLimitTimeout
        as soon as the next free slot is known to lie beyond the bound."""
        bound = self.timeout if timeout is None else timeout
        deadline = self._clock() + bound
        while True:
            granted, wait, now = self.try_acquire()
            if granted:
                return now
            if self._clock() + wait > deadline:
                raise RateLimitTimeout(f"rate limit {self.api} ({self.limit}): no token within "
                                       f"{bound:g} s, next in {wait:.1f} s")
            self._sleep(max(wait, 0.001))
