"""Client overhead per request: include/common/http.ApiClient against a bare requests.Session.

N sequential GETs of the sandbox's `GET /v1/models` (the LLM API stand-in, bearer header,
a small JSON answer) with three clients, each reusing one keep-alive connection:

- baseline: `requests.Session.get` + `raise_for_status()` + `.json()`;
- ApiClient: `client.get("/v1/models")` (retry policy, error mapping, JSON decoding);
- ApiClient + RedisRateLimiter: the same with the shared limiter of the real Redis at a
  limit far above what one client can reach (one Lua script call per request).

The variants run interleaved in rounds after a warm-up, so a drift of the machine hits all
three alike. Reported: median and p95 latency and their difference to the baseline (the
overhead in us), and the client process's CPU time per request, whose difference is the
overhead measured without the server's and the scheduler's noise (on a busy 2-core machine
latency medians move by +-50 us between runs, about the size of ApiClient's own cost). The
limiter's `acquire()` alone is timed too, as a cross-check.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench._harness import bench_api_name, main, percentile, redis_url, sandbox, say

NAME = "common_http_client"
N = 2000  # timed requests per variant
ROUNDS = 20  # N is split into this many interleaved rounds (100 requests each)
WARMUP = 200
TOKEN = "bench-token"
GENEROUS = (1_000_000, 1.0)  # rate, period: never binding for one sequential client


def _time_calls(call: Callable[[], object], count: int, out: list[float]) -> tuple[object, int]:
    """Append each call's latency (us) to `out`; returns the last answer and the CPU time
    (ns) this process spent on the calls (the client's own work, whatever the server does)."""
    last = None
    cpu = time.process_time_ns()
    for _ in range(count):
        started = time.perf_counter_ns()
        last = call()
        out.append((time.perf_counter_ns() - started) / 1000)
    return last, time.process_time_ns() - cpu


def _stats(samples: list[float]) -> dict:
    return {"n": len(samples), "median_us": round(percentile(samples, 50), 1),
            "p95_us": round(percentile(samples, 95), 1), "p99_us": round(percentile(samples, 99), 1),
            "mean_us": round(sum(samples) / len(samples), 1), "min_us": round(min(samples), 1)}


def run() -> dict:
    import redis
    import requests

    from include.common.http import ApiClient
    from include.common.rate_limit import SOCKET_TIMEOUTS, Limit, RedisRateLimiter

    failures: list[str] = []
    r = redis.Redis.from_url(redis_url(), **SOCKET_TIMEOUTS)
    api_names = [bench_api_name("http"), bench_api_name("http-acquire")]
    limit = Limit(*GENEROUS)
    with sandbox() as box:
        url = f"{box.base_url}/v1/models"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        session = requests.Session()

        def plain() -> object:
            response = session.get(url, headers=headers, timeout=(5.0, 30.0))
            response.raise_for_status()
            return response.json()

        client = ApiClient(box.base_url, headers=headers)
        limiter = RedisRateLimiter(r, api_names[0], limit, timeout=10)
        limited = ApiClient(box.base_url, headers=headers, rate_limiter=limiter)
        variants: dict[str, Callable[[], object]] = {
            "requests.Session": plain,
            "ApiClient": lambda: client.get("/v1/models"),
            "ApiClient+RedisRateLimiter": lambda: limited.get("/v1/models"),
        }
        samples: dict[str, list[float]] = {name: [] for name in variants}
        cpu_ns: dict[str, int] = dict.fromkeys(variants, 0)
        try:
            for call in variants.values():
                _time_calls(call, WARMUP, [])
            names = list(variants)
            for round_no in range(ROUNDS):
                order = names[round_no % len(names):] + names[:round_no % len(names)]
                for name in order:
                    answer, cpu = _time_calls(variants[name], N // ROUNDS, samples[name])
                    cpu_ns[name] += cpu
                    if not (isinstance(answer, dict) and answer.get("data")):
                        failures.append(f"{name}: unexpected answer {answer!r:.200}")
            acquire_only = RedisRateLimiter(r, api_names[1], limit, timeout=10)
            acquire_samples: list[float] = []
            _time_calls(acquire_only.acquire, WARMUP, [])
            _time_calls(acquire_only.acquire, N, acquire_samples)
        finally:
            for c in (client, limited):
                c.close()
            session.close()
            r.delete(*(RedisRateLimiter(r, a, limit).key for a in api_names))
    say(f"{len(variants)} x {N} requests timed")

    stats = {name: {**_stats(values), "client_cpu_us": round(cpu_ns[name] / len(values) / 1000, 1)}
             for name, values in samples.items()}
    base = stats["requests.Session"]
    summary = []
    for name, s in stats.items():
        summary.append([f"{name} median", s["median_us"], "us"])
        summary.append([f"{name} p95", s["p95_us"], "us"])
        summary.append([f"{name} client CPU per request", s["client_cpu_us"], "us"])
        if s is not base:
            s["overhead_median_us"] = round(s["median_us"] - base["median_us"], 1)
            s["overhead_p95_us"] = round(s["p95_us"] - base["p95_us"], 1)
            s["overhead_median_pct"] = round(100 * s["overhead_median_us"] / base["median_us"], 1)
            s["overhead_client_cpu_us"] = round(s["client_cpu_us"] - base["client_cpu_us"], 1)
            summary.append([f"{name} overhead (median)", s["overhead_median_us"], "us"])
            summary.append([f"{name} overhead (p95)", s["overhead_p95_us"], "us"])
            summary.append([f"{name} overhead (client CPU)", s["overhead_client_cpu_us"], "us"])
    acquire = _stats(acquire_samples)
    summary.append(["RedisRateLimiter.acquire alone median", acquire["median_us"], "us"])
    return {
        "summary": summary,
        "details": {"requests_per_variant": N, "rounds": ROUNDS, "warmup": WARMUP,
                    "endpoint": "GET /v1/models (sandbox llm API, bearer)",
                    "limit": {"rate": limit.rate, "period_s": limit.period, "strict": limit.strict},
                    "variants": stats, "limiter_acquire_alone": acquire},
        "failures": failures,
        "peak_rss_mb": {"sandbox_process": box.peak_rss_mb},
    }


if __name__ == "__main__":
    main(NAME, run)
