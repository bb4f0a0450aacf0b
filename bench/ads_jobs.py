"""The ads jobs at the issue's scale: 10k ad accounts x 20 campaigns x 90 days = 18M rows of
`ads.campaign_daily_stats`, generated set-based (generate_series, one INSERT per day, in day
order as the fetch job appends them, each row with its campaign's running totals of the
earlier rows, `prior_*` of migration 0011, from the previous day's rows; a sample of accounts
is checked against the fetch merge's own `refresh_priors`) in a scratch database, then:

1. anomaly detection (include/ads/anomalies.py) over all accounts for one day (the last
   one), goal < 10 s; against a per-campaign Python loop doing the same median/MAD (one query
   per campaign for its baseline and day, `statistics.median` in Python, an INSERT per
   anomaly): the loop runs on a SAMPLE of campaigns spread over the ids and its rate is
   EXTRAPOLATED to all campaigns (goal: set-based >= 40x faster); both must flag the same
   anomalies on the sample;
2. the daily report (include/ads/daily_report.py) for all users (one chart per currency,
   rendered and queued in the outbox): renders/s, and its peak RSS in a process of its own
   (goal < 250 MB);
3. the stats upsert of the fetch job (include/ads/repository/fetch.py `store_stats`: text
   COPY into a staging table, one merge keeping the running totals), one account per call
   and commit as the job does: 90 new days for 200 accounts (a newly connected account's
   backfill, 1,800 rows a call), the rows built before the clock starts; first by one
   writer, then by three at once on 200 other accounts, as the fetch DAG's three platform
   tasks write (processes of their own); goal >= 100k rows/s (wall clock) for the three.
   Also reported: the CPU time it took (clients + PostgreSQL backends), whose rate depends
   less on how loaded the machine is;
4. the whole fetch (include/ads/fetch.py `fetch_platform`, the real clients with their
   default page sizes) of 90 days for ADS_BENCH_FETCH_ACCOUNTS new accounts per platform
   against the sandbox's stand-ins in a process of their own: rows/s, and how its time
   splits into client CPU (HTTP, JSON, validation, rows), PostgreSQL CPU and waiting for
   the sandbox (informational: the stand-ins compute every row from hashes in Python).

Scale by environment (a quick run is about a minute): ADS_BENCH_ACCOUNTS (10000),
ADS_BENCH_CAMPAIGNS (20), ADS_BENCH_DAYS (90), ADS_BENCH_LOOP_SAMPLE (2000 campaigns),
ADS_BENCH_UPSERT_ACCOUNTS (200), ADS_BENCH_UPSERT_DAYS (90), ADS_BENCH_FETCH_ACCOUNTS (30);
e.g. `ADS_BENCH_ACCOUNTS=300 ADS_BENCH_LOOP_SAMPLE=300 ADS_BENCH_UPSERT_ACCOUNTS=20
ADS_BENCH_FETCH_ACCOUNTS=10 python -m bench ads_jobs`. A full run takes 20-40 minutes on 2
shared cores (generating the 18M rows with their totals most of it).

The generated series: per campaign a base budget (every 10th campaign a tiny one, under the
detector's minimum spend), a CPA and a ROAS of its own, each day a bounded sine wiggle
(+-10 % spend, +-5 % CPA and ROAS); every 7th campaign reports no revenue; on the last day
every 997th campaign gets a tenth of its conversions (a planted CPA spike). The stats table's
key and day index are dropped for the bulk load and rebuilt after it. Users have
4 accounts each in one currency (every 10th user a second one: two charts), 5 % opted out.

Measured 2026-12-04, full scale, the 2-core machine otherwise idle (load 0.02-2.9), 372 s:
18M rows generated in 258 s (4.25 GB); detection 1.06 s, 73x the loop (extrapolated 77.9 s
from 2,567 campaigns/s), 221 anomalies; daily report 2,375 emails in 83.9 s, peak RSS 161 MB;
upsert 71,569 rows/s by one writer, **141,861 rows/s by three** (360k rows in 2.5 s, 4.64 CPU s:
77,576 rows per CPU second); fetch+upsert against the sandbox 7,563 rows/s (60 % waiting for
the stand-ins). On earlier, loaded days the three writers did 88,726 rows/s at ~20 us of CPU
per row (against ~13 us today): the wall-clock rate follows the machine, rows per CPU second is
the comparable figure.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg

from bench._harness import bench_database, main, peak_rss_mb, rate, sandbox, say

NAME = "ads_jobs"
TIMEOUT_SECONDS = 2700  # 18M rows with their running totals on 2 shared, loaded cores
LAST_DAY = date(2026, 11, 30)
USERS_PER_ACCOUNT = 4  # accounts per user
UPSERT_WRITERS = 3  # the fetch DAG's three platform tasks write at the same time
GOALS = {"detect_s": 10.0, "speedup": 40.0, "report_rss_mb": 250.0, "upsert_rows_s": 100_000}
DETECT = {"baseline_days": 28, "min_history": 14, "min_spend": 50.0, "threshold": 4.0, "mad_floor": 0.10}


def _env(name: str, default: int) -> int:
    value = int(os.environ.get(name, default))
    if value < 1:
        raise SystemExit(f"{name} must be at least 1, got {value}")
    return value


# -- the data ----------------------------------------------------------------------------------

def generate(dsn: str, accounts: int, campaigns: int, days: int) -> dict:
    users = math.ceil(accounts / USERS_PER_ACCOUNT)
    total = accounts * campaigns
    first_day = LAST_DAY - timedelta(days=days - 1)
    started = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        conn.execute("""INSERT INTO ads.users (id, email, name, report_opt_out)
                        SELECT g, 'user' || g || '@bench.test', 'User ' || g, g %% 20 = 0
                          FROM generate_series(1, %s) g""", (users,))
        # A user's accounts share a currency, except every 10th user's last one (two charts).
        conn.execute("""INSERT INTO ads.ad_accounts (id, user_id, platform, external_account_id, name, currency)
                        SELECT g, (g - 1) / %(per)s + 1, (ARRAY['meta', 'tiktok', 'google'])[g %% 3 + 1],
                               'bench-' || g, 'Account ' || g,
                               CASE WHEN g %% (%(per)s * 10) = 0 THEN 'JPY'
                                    ELSE (ARRAY['USD', 'EUR', 'GBP'])[((g - 1) / %(per)s + 1) %% 3 + 1] END
                          FROM generate_series(1, %(n)s) g""", {"per": USERS_PER_ACCOUNT, "n": accounts})
        conn.execute("""INSERT INTO ads.campaigns (id, account_id, external_campaign_id, name, status)
                        SELECT g, (g - 1) / %(c)s + 1, 'c' || g, 'Campaign ' || g, 'ACTIVE'
                          FROM generate_series(1, %(n)s) g""", {"c": campaigns, "n": total})
        for table in ("users", "ad_accounts", "campaigns"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('ads.{table}', 'id'), "
                         f"(SELECT max(id) FROM ads.{table}))")
        conn.commit()
        # A bulk load: the key, index and foreign key are dropped first and rebuilt after (one
        # sorted build each instead of 18M index insertions and FK trigger calls).
        for statement in _DROP_KEYS:
            conn.execute(statement)
        # Each day's rows carry their campaign's running totals (prior_*, migration 0011): the
        # previous day's rows (kept in a temp table) plus their contribution, as the fetch
        # merge computes them (the benchmark checks a sample against the merge's own SQL).
        conn.execute("CREATE TEMP TABLE bench_prev (LIKE ads.campaign_daily_stats)")
        columns = ", ".join(c for (c,) in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'bench_prev'::regclass AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum"))
        for d in range(days):
            day = first_day + timedelta(days=d)
            conn.execute(_STATS_OF_DAY, {"n": total, "c": campaigns, "day": day, "d": day.toordinal(),
                                         "spike": day == LAST_DAY})
            conn.execute(f"INSERT INTO ads.campaign_daily_stats ({columns}) SELECT {columns} FROM bench_day")
            conn.execute("DROP TABLE IF EXISTS bench_prev")
            conn.execute("ALTER TABLE bench_day RENAME TO bench_prev")
        conn.execute("DROP TABLE IF EXISTS bench_prev")
        conn.commit()
        loaded = time.perf_counter() - started
        for statement in _ADD_KEYS:
            conn.execute(statement)
        conn.commit()
    generated = time.perf_counter() - started
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) ads.users, ads.ad_accounts, ads.campaigns, ads.campaign_daily_stats")
        size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('ads.campaign_daily_stats'))").fetchone()[0]
    vacuumed = time.perf_counter() - started
    say(f"generated {total * days:,} stats rows ({size}) in {generated:.1f} s (inserts {loaded:.1f} s, keys "
        f"{generated - loaded:.1f} s), vacuumed in {vacuumed:.1f} s")
    return {"users": users, "accounts": accounts, "campaigns": total, "stats_rows": total * days,
            "generate_s": round(generated, 1), "insert_s": round(loaded, 1), "vacuum_s": round(vacuumed, 1),
            "table_size": size}


_DROP_KEYS = (
    "ALTER TABLE ads.campaign_daily_stats DROP CONSTRAINT campaign_daily_stats_pkey",
    "DROP INDEX ads.campaign_daily_stats_day_idx",
)
_ADD_KEYS = (
    "SET maintenance_work_mem = '512MB'",
    "ALTER TABLE ads.campaign_daily_stats ADD PRIMARY KEY (account_id, campaign_id, day)",
    "CREATE INDEX campaign_daily_stats_day_idx ON ads.campaign_daily_stats (day, account_id, campaign_id)",
)


# One day of every campaign (into the temp table bench_day, in the stats table's column order),
# its running totals from the previous day's rows (bench_prev). Spend: a base budget (tiny for
# every 10th campaign) x +-10 %; CPA: its own 10..49 x +-5 %; ROAS 2..4 x +-5 %, none for every
# 7th campaign.
_STATS_OF_DAY = """
    CREATE TEMP TABLE bench_day AS
    SELECT (c - 1) / %(c)s + 1 AS account_id, c AS campaign_id, %(day)s::date AS day, s.spend,
           (s.spend * 150)::bigint AS impressions, (s.spend * 3)::bigint AS clicks,
           CASE WHEN %(spike)s AND c %% 997 = 0 THEN round(s.conversions / 10) ELSE s.conversions END AS conversions,
           CASE WHEN c %% 7 = 0 THEN NULL
                ELSE round(s.spend * (2 + c %% 3) * (1 + 0.05 * sin(c * 0.23 + %(d)s * 0.7))::numeric, 2) END
               AS revenue,
           now() AS fetched_at,
           coalesce(p.prior_days + 1, 0) AS prior_days, coalesce(p.prior_spend + p.spend, 0) AS prior_spend,
           coalesce(p.prior_cpa_days + (v.cpa IS NOT NULL)::int, 0) AS prior_cpa_days,
           coalesce(p.prior_cpa_sum + coalesce(v.cpa, 0), 0) AS prior_cpa_sum,
           coalesce(p.prior_cpa_sq + coalesce(v.cpa * v.cpa, 0), 0) AS prior_cpa_sq,
           coalesce(p.prior_roas_days + (v.roas IS NOT NULL)::int, 0) AS prior_roas_days,
           coalesce(p.prior_roas_sum + coalesce(v.roas, 0), 0) AS prior_roas_sum,
           coalesce(p.prior_roas_sq + coalesce(v.roas * v.roas, 0), 0) AS prior_roas_sq
      FROM generate_series(1, %(n)s::bigint) c
     CROSS JOIN LATERAL (
         SELECT round((CASE WHEN c %% 10 = 0 THEN 2 + (c * 7919) %% 1000 / 100.0 ELSE 60 + (c * 7919) %% 1000 END
                       * (1 + 0.1 * sin(c * 0.37 + %(d)s * 1.3)))::numeric, 2) AS spend
     ) b
     CROSS JOIN LATERAL (
         SELECT b.spend,
                round(b.spend / ((10 + (c * 104729) %% 40) * (1 + 0.05 * sin(c * 0.11 + %(d)s * 2.1)))::numeric)
                    AS conversions
     ) s
      LEFT JOIN bench_prev p ON p.campaign_id = c
     CROSS JOIN LATERAL (
         SELECT CASE WHEN p.conversions > 0 THEN round(p.spend / p.conversions, 6) END AS cpa,
                CASE WHEN p.revenue IS NOT NULL AND p.spend > 0 THEN round(p.revenue / p.spend, 6) END AS roas
     ) v
"""


def check_priors(dsn: str, accounts: int, sample: int = 20) -> list[str]:
    """The generated running totals of a sample of accounts are what the fetch's own SQL
    (`refresh_priors`) computes: it finds nothing to rewrite."""
    from include.ads.repository.fetch import refresh_priors

    step = max(1, accounts // sample)
    ids = list(range(1, accounts + 1, step))
    with psycopg.connect(dsn) as conn:
        wrong = refresh_priors(conn, ids)
        conn.rollback()
    say(f"running totals of {len(ids)} sampled accounts checked: {wrong} rows differ")
    return [f"generated running totals differ from refresh_priors on {wrong} rows"] if wrong else []


# -- 1. anomaly detection ------------------------------------------------------------------------

def run_detection(dsn: str) -> dict:
    from include.ads.anomalies import detect_anomalies

    end = datetime.combine(LAST_DAY + timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=10)
    with psycopg.connect(dsn) as conn:
        started = time.perf_counter()
        result = detect_anomalies(conn, end, eval_days=1, batch_size=500, **DETECT)
        seconds = time.perf_counter() - started
    say(f"detection: {result['scored']:,} campaign-day metrics scored, {result['inserted']} anomalies "
        f"in {seconds:.2f} s ({result['batches']} batches)")
    return {"seconds": round(seconds, 3), **{k: result[k] for k in ("observed_days", "scored", "flagged", "inserted",
                                                                     "batches")}}


def _robust_z(x: float, values: list[float]) -> float | None:
    median = statistics.median(values)
    if median <= 0:
        return None
    mad = statistics.median(abs(v - median) for v in values)
    return (x - median) / (1.4826 * max(mad, DETECT["mad_floor"] * median))


def loop_detection(dsn: str, accounts: list[int]) -> dict:
    """The naive way, as the seed's Celery task would with the ORM (re-written with plain
    queries, each statement autocommitted): per account a query for its campaigns; per
    campaign a query for the day's row (`.get()`) and one for its baseline days (`.filter()`),
    the median and MAD in Python (`statistics.median`), and per anomaly a `get_or_create`
    (SELECT, then INSERT). Returns the time, the campaigns looked at and the (campaign, metric)
    pairs it flagged."""
    first = LAST_DAY - timedelta(days=DETECT["baseline_days"])
    flagged: set[tuple[int, str]] = set()
    campaigns = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        started = time.perf_counter()
        for account_id in accounts:
            for (campaign_id,) in conn.execute("SELECT id FROM ads.campaigns WHERE account_id = %s ORDER BY id",
                                               (account_id,)).fetchall():
                campaigns += 1
                today = conn.execute("""SELECT spend, conversions, revenue FROM ads.campaign_daily_stats
                                         WHERE account_id = %s AND campaign_id = %s AND day = %s""",
                                     (account_id, campaign_id, LAST_DAY)).fetchone()
                if today is None or today[0] < DETECT["min_spend"]:
                    continue
                base = conn.execute("""SELECT spend, conversions, revenue FROM ads.campaign_daily_stats
                                        WHERE account_id = %s AND campaign_id = %s AND day >= %s AND day < %s
                                        ORDER BY day""", (account_id, campaign_id, first, LAST_DAY)).fetchall()
                if not base or statistics.fmean(float(r[0]) for r in base) < DETECT["min_spend"]:
                    continue
                spend, conversions, revenue = today
                for metric, x, values in (
                        ("cpa", float(spend / conversions) if conversions > 0 else None,
                         [float(r[0] / r[1]) for r in base if r[1] > 0]),
                        ("roas", float(revenue / spend) if revenue is not None and spend > 0 else None,
                         [float(r[2] / r[0]) for r in base if r[2] is not None and r[0] > 0])):
                    if x is None or len(values) < DETECT["min_history"]:
                        continue
                    z = _robust_z(x, values)
                    if z is None or not (z >= DETECT["threshold"] if metric == "cpa" else z <= -DETECT["threshold"]):
                        continue
                    flagged.add((campaign_id, metric))
                    at = datetime.combine(LAST_DAY, datetime.min.time(), UTC)
                    exists = conn.execute("""SELECT id FROM ads.anomalies WHERE account_id = %s AND campaign_id = %s
                                              AND metric = %s AND period = 'day' AND period_start = %s""",
                                          (account_id, campaign_id, metric, at)).fetchone()
                    if exists is None:
                        conn.execute("""INSERT INTO ads.anomalies (account_id, campaign_id, metric, period,
                                                                   period_start, observed, baseline, deviation)
                                        VALUES (%s, %s, %s, 'day', %s, %s, %s, %s)""",
                                     (account_id, campaign_id, metric, at, x, statistics.median(values), z))
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "campaigns": campaigns, "flagged": flagged}


# -- 2. the daily report, in a process of its own -------------------------------------------------

def _vm_hwm_mb() -> float:
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return peak_rss_mb()


def _report_child(dsn: str, pipe) -> None:
    try:
        from include.ads.daily_report import queue_daily_reports

        before = _vm_hwm_mb()
        with psycopg.connect(dsn) as conn:
            started = time.perf_counter()
            result = queue_daily_reports(conn, LAST_DAY)
            seconds = time.perf_counter() - started
        pipe.send(("ok", {"seconds": seconds, "result": result, "rss_before_mb": before, "peak_rss_mb": _vm_hwm_mb()}))
    except BaseException as exc:  # reported to the parent, which fails the benchmark
        pipe.send(("error", f"{type(exc).__name__}: {exc}"))


def run_report(dsn: str) -> dict:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_report_child, args=(dsn, child), name="bench-ads-report")
    proc.start()
    child.close()
    kind, info = parent.recv()
    proc.join(30)
    if kind != "ok":
        raise RuntimeError(f"daily report failed: {info}")
    r = info["result"]
    say(f"report: {r['queued']:,} emails ({r['accounts']:,} accounts) in {info['seconds']:.1f} s, "
        f"peak RSS {info['peak_rss_mb']} MB")
    return {"seconds": round(info["seconds"], 2), "queued": r["queued"], "recipients": r["recipients"],
            "accounts": r["accounts"], "batches": r["batches"], "peak_rss_mb": info["peak_rss_mb"],
            "rss_before_mb": info["rss_before_mb"]}


# -- 3. the stats upsert -----------------------------------------------------------------------

def _upsert_child(dsn: str, account_ids: list[int], campaigns: int, days: int, go, pipe) -> None:
    """One writer: its accounts' rows built first, then (after `go`) one store_stats call and
    commit per account; sends its rows, wall seconds, and client and backend CPU seconds."""
    try:
        from decimal import Decimal

        from include.ads.repository.fetch import store_stats

        new_days = [LAST_DAY + timedelta(days=d + 1) for d in range(days)]
        batches = [(account_id, [(f"c{(account_id - 1) * campaigns + k + 1}",
                                  f"Campaign {(account_id - 1) * campaigns + k + 1}",
                                  day, Decimal(f"{100 + k}.{d % 100:02d}"), 15000 + d, 300 + k, Decimal(4 + k % 3),
                                  Decimal(f"{300 + k}.50") if k % 7 else None)
                                 for k in range(campaigns) for d, day in enumerate(new_days)])
                   for account_id in account_ids]
        rows_total = 0
        with psycopg.connect(dsn) as conn:
            conn.execute("SELECT 1")
            conn.rollback()
            go.wait()
            backend_before, cpu_before = _backend_cpu_ms(conn.info.backend_pid), time.process_time()
            started = time.perf_counter()
            for account_id, rows in batches:
                counts = store_stats(conn, account_id, rows)
                conn.commit()
                if counts["inserted"] != len(rows):
                    raise AssertionError(f"account {account_id}: {counts} for {len(rows)} new rows")
                rows_total += len(rows)
            seconds = time.perf_counter() - started
            client_cpu = time.process_time() - cpu_before
            backend_after = _backend_cpu_ms(conn.info.backend_pid)
        backend_cpu = 0.0 if backend_before is None else (backend_after - backend_before) / 1000
        pipe.send(("ok", {"rows": rows_total, "seconds": seconds, "client_cpu_s": client_cpu,
                          "backend_cpu_s": backend_cpu}))
    except BaseException as exc:  # reported to the parent, which fails the benchmark
        pipe.send(("error", f"{type(exc).__name__}: {exc}"))


def run_upsert(dsn: str, account_ids: list[int], campaigns: int, days: int, writers: int) -> dict:
    """`days` new days for each account (a newly connected account's backfill), one
    store_stats call and commit per account as the fetch job does, by `writers` processes at
    once (each its own connection and share of the accounts; the fetch DAG's three platform
    tasks are three such writers). The rows are built before the clock starts (the API
    clients' parsing is not the upsert's cost); the wall clock runs from the start signal to
    the last writer's end."""
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    procs, pipes = [], []
    for w in range(writers):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_upsert_child, args=(dsn, account_ids[w::writers], campaigns, days, go, child),
                           name=f"bench-ads-upsert-{w}")
        proc.start()
        child.close()
        procs.append(proc)
        pipes.append(parent)
    time.sleep(2 + writers)  # every writer has built its rows and connected
    started = time.perf_counter()
    go.set()
    results = []
    for pipe in pipes:
        kind, info = pipe.recv()
        if kind != "ok":
            raise RuntimeError(f"upsert writer failed: {info}")
        results.append(info)
    seconds = time.perf_counter() - started
    for proc in procs:
        proc.join(30)
    rows_total = sum(r["rows"] for r in results)
    client_cpu = sum(r["client_cpu_s"] for r in results)
    cpu = client_cpu + sum(r["backend_cpu_s"] for r in results)
    say(f"upsert, {writers} writer(s): {rows_total:,} new rows in {seconds:.1f} s "
        f"({rate(rows_total, seconds):,.0f} rows/s, {days * campaigns} rows per call); CPU {cpu:.2f} s "
        f"(client {client_cpu:.2f} s): {rate(rows_total, cpu):,.0f} rows per CPU second")
    return {"writers": writers, "rows": rows_total, "rows_per_call": days * campaigns, "seconds": round(seconds, 2),
            "rows_per_s": round(rate(rows_total, seconds)), "cpu_s": round(cpu, 2),
            "client_cpu_s": round(client_cpu, 2), "rows_per_cpu_s": round(rate(rows_total, cpu))}


# -- 4. the whole fetch against the sandbox -----------------------------------------------------

def _backend_cpu_ms(pid: int) -> float | None:
    """CPU time (user + system) of a PostgreSQL backend on this machine, or None (not Linux)."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return None
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def run_fetch(dsn: str, accounts: int, days: int) -> dict:
    """The fetch job's own path (include/ads/fetch.py `fetch_platform` with the real clients
    and their default page sizes) against the sandbox's stand-ins, for `accounts` new accounts
    per platform and `days` days each: HTTP, JSON, validation, staging and merge. The sandbox
    runs in a process of its own; the time is split into this process's CPU (clients,
    validation, row building), the PostgreSQL backend's CPU and the rest (mostly waiting for
    the sandbox to generate and serve the pages)."""
    from include.ads.fetch import fetch_platform
    from include.ads.google_ads_client import GoogleAdsClient
    from include.ads.meta_client import MetaClient
    from include.ads.tiktok_client import TikTokClient
    from include.common.crypto import TokenCipher, generate_key
    from include.common.http import ApiClient

    os.environ["SANDBOX_ADS_TODAY"] = LAST_DAY.isoformat()  # the sandbox process inherits it
    cipher = TokenCipher(generate_key())
    end, start = LAST_DAY, LAST_DAY - timedelta(days=days - 1)
    first_external = {"meta": 101000000500000, "tiktok": 7100000000500000, "google": 1010500000}
    out: dict = {"platforms": {}}
    with sandbox() as box, psycopg.connect(dsn) as conn:
        user_id = conn.execute("INSERT INTO ads.users (email, name) VALUES ('fetch@bench.test', 'Fetch') "
                               "RETURNING id").fetchone()[0]
        for platform, first in first_external.items():
            for i in range(accounts):
                external = f"act_{first + i}" if platform == "meta" else str(first + i)
                account_id = conn.execute(
                    "INSERT INTO ads.ad_accounts (user_id, platform, external_account_id, currency) "
                    "VALUES (%s, %s, %s, 'USD') RETURNING id", (user_id, platform, external)).fetchone()[0]
                conn.execute("INSERT INTO ads.ad_account_tokens (account_id, access_token_enc, refresh_token_enc) "
                             "VALUES (%s, %s, %s)",
                             (account_id, cipher.encrypt("system-bench" if platform == "meta" else "act.bench"),
                              cipher.encrypt("bench-refresh") if platform == "google" else None))
        conn.commit()
        totals = {"rows": 0, "seconds": 0.0, "client_cpu_s": 0.0, "backend_cpu_s": 0.0}
        for platform in first_external:
            api = ApiClient(box.base_url)
            if platform == "meta":
                client = MetaClient(api, app_id="1", app_secret="s")
            elif platform == "tiktok":
                client = TikTokClient(api)
            else:
                client = GoogleAdsClient(api, client_id="c", client_secret="s", developer_token="d",
                                         token_uri=f"{box.base_url}/token")
            backend_before, cpu_before = _backend_cpu_ms(conn.info.backend_pid), time.process_time()
            started = time.perf_counter()
            with client:
                result = fetch_platform(conn, platform, client, cipher, start, end, now=datetime.now(UTC))
            seconds = time.perf_counter() - started
            client_cpu = time.process_time() - cpu_before
            backend_after = _backend_cpu_ms(conn.info.backend_pid)
            backend_cpu = None if backend_before is None else (backend_after - backend_before) / 1000
            if result["inserted"] != result["fetched"] or result["failed"]:
                raise AssertionError(f"{platform}: {result}")
            out["platforms"][platform] = {"rows": result["inserted"], "seconds": round(seconds, 2),
                                          "rows_per_s": round(rate(result["inserted"], seconds)),
                                          "client_cpu_s": round(client_cpu, 2),
                                          "backend_cpu_s": None if backend_cpu is None else round(backend_cpu, 2)}
            totals["rows"] += result["inserted"]
            totals["seconds"] += seconds
            totals["client_cpu_s"] += client_cpu
            totals["backend_cpu_s"] += backend_cpu or 0.0
    waiting = max(0.0, totals["seconds"] - totals["client_cpu_s"] - totals["backend_cpu_s"])
    out.update(rows=totals["rows"], seconds=round(totals["seconds"], 2),
               rows_per_s=round(rate(totals["rows"], totals["seconds"])),
               client_cpu_share=round(totals["client_cpu_s"] / totals["seconds"], 3),
               backend_cpu_share=round(totals["backend_cpu_s"] / totals["seconds"], 3),
               waiting_share=round(waiting / totals["seconds"], 3), sandbox_peak_rss_mb=box.peak_rss_mb)
    say(f"fetch+upsert against the sandbox: {out['rows']:,} rows in {out['seconds']} s ({out['rows_per_s']:,} rows/s): "
        f"client CPU {out['client_cpu_share']:.0%}, PostgreSQL CPU {out['backend_cpu_share']:.0%}, "
        f"waiting for the sandbox {out['waiting_share']:.0%}; per platform {out['platforms']}")
    return out


# -- the run -------------------------------------------------------------------------------------

def run() -> dict:
    accounts = _env("ADS_BENCH_ACCOUNTS", 10_000)
    campaigns = _env("ADS_BENCH_CAMPAIGNS", 20)
    days = _env("ADS_BENCH_DAYS", 90)
    sample_size = min(_env("ADS_BENCH_LOOP_SAMPLE", 2_000), accounts * campaigns)
    upsert_accounts = min(_env("ADS_BENCH_UPSERT_ACCOUNTS", 200), accounts // 2)
    upsert_days = _env("ADS_BENCH_UPSERT_DAYS", 90)
    fetch_accounts = _env("ADS_BENCH_FETCH_ACCOUNTS", 30)
    if days < DETECT["baseline_days"] + 1:
        raise SystemExit(f"ADS_BENCH_DAYS must be at least {DETECT['baseline_days'] + 1}")
    failures: list[str] = []
    with bench_database() as dsn:
        data = generate(dsn, accounts, campaigns, days)
        failures.extend(check_priors(dsn, accounts))
        detection = run_detection(dsn)
        total = accounts * campaigns
        # The loop on a sample of whole accounts spread over the ids (about ADS_BENCH_LOOP_SAMPLE campaigns).
        sample_accounts = max(1, sample_size // campaigns)
        step = accounts / sample_accounts
        sampled = sorted({int(i * step) + 1 for i in range(sample_accounts)})
        loop = loop_detection(dsn, sampled)
        with psycopg.connect(dsn) as conn:
            set_based = {(c, m) for c, m in conn.execute(
                "SELECT campaign_id, metric FROM ads.anomalies WHERE period = 'day' AND account_id = ANY(%s)",
                (sampled,))}
        if set_based != loop["flagged"]:
            failures.append(f"set-based and loop disagree on the sample: {sorted(set_based ^ loop['flagged'])[:10]}")
        loop_rate = rate(loop["campaigns"], loop["seconds"])
        loop_full_s = total / loop_rate
        speedup = loop_full_s / detection["seconds"]
        report = run_report(dsn)
        # One writer, then three at once (the fetch DAG's three platform tasks), each on accounts
        # of their own: every call stores new days.
        upsert_one = run_upsert(dsn, list(range(1, upsert_accounts + 1)), campaigns, upsert_days, writers=1)
        upsert = run_upsert(dsn, list(range(upsert_accounts + 1, 2 * upsert_accounts + 1)), campaigns, upsert_days,
                            writers=UPSERT_WRITERS)
        fetch = run_fetch(dsn, fetch_accounts, upsert_days)
    renders = rate(report["queued"], report["seconds"])
    if detection["seconds"] >= GOALS["detect_s"]:
        failures.append(f"detection took {detection['seconds']} s (goal < {GOALS['detect_s']:g} s)")
    if speedup < GOALS["speedup"]:
        failures.append(f"detection only {speedup:.1f}x the per-campaign loop (goal >= {GOALS['speedup']:g}x)")
    if report["peak_rss_mb"] >= GOALS["report_rss_mb"]:
        failures.append(f"daily report peak RSS {report['peak_rss_mb']} MB (goal < {GOALS['report_rss_mb']:g} MB)")
    if upsert["rows_per_s"] < GOALS["upsert_rows_s"]:
        failures.append(f"stats upsert by {UPSERT_WRITERS} writers {upsert['rows_per_s']:,} rows/s "
                        f"(goal >= {GOALS['upsert_rows_s']:,})")
    summary = [
        ["stats rows generated (set-based)", data["stats_rows"], "rows"],
        ["generation", data["generate_s"], "s"],
        ["anomaly detection, all accounts, one day", detection["seconds"], "s"],
        ["campaign-day metrics scored", detection["scored"], "rows"],
        ["anomalies found (planted: every 997th campaign)", detection["inserted"], "rows"],
        [f"per-campaign Python loop, measured on {loop['campaigns']} campaigns", round(loop_rate), "campaigns/s"],
        ["per-campaign loop extrapolated to all campaigns", round(loop_full_s, 1), "s"],
        ["detection speed-up vs the loop", round(speedup, 1), "x"],
        ["daily report emails queued", report["queued"], "emails"],
        ["daily report", round(renders, 1), "renders/s"],
        ["daily report peak RSS (own process)", report["peak_rss_mb"], "MB"],
        ["stats upsert (store_stats, new rows), one writer", upsert_one["rows_per_s"], "rows/s"],
        [f"stats upsert, {UPSERT_WRITERS} writers at once (the DAG's platform tasks)", upsert["rows_per_s"], "rows/s"],
        ["stats upsert per CPU second (client + PostgreSQL backend)", upsert["rows_per_cpu_s"], "rows/cpu-s"],
        ["fetch+upsert against the sandbox (fetch_platform, 3 platforms)", fetch["rows_per_s"], "rows/s"],
        ["  of its time: client CPU / PostgreSQL CPU / waiting for the sandbox",
         f"{fetch['client_cpu_share']:.0%} / {fetch['backend_cpu_share']:.0%} / {fetch['waiting_share']:.0%}", ""],
    ]
    details = {"data": data, "detection": detection,
               "loop": {"campaigns": loop["campaigns"], "seconds": round(loop["seconds"], 2),
                        "flagged": len(loop["flagged"]), "extrapolated_s": round(loop_full_s, 1)},
               "report": report, "upsert_one_writer": upsert_one,
               "upsert": upsert, "fetch": fetch, "goals": GOALS, "detector": DETECT}
    return {"summary": summary, "details": details, "failures": failures}


if __name__ == "__main__":
    main(NAME, run)
