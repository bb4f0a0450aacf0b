"""The music jobs at the issue's scale: 200 charts x 365 daily ranking dates x 200 positions =
14.6M chart rankings (plus 2,000 tracks x 365 days of audience), each against its goal:

1. ingest through include/music/repository/chart_sync.store_periods as the chart sync calls
   it when Soundcharts answers faster than it commits (`FLUSH_PERIODS` = 50 periods of 200
   rows per COPY and commit, the resume point moving with each commit), rows generated in
   Python from a seeded RNG (no API), in a process of its own, on a sample of `INGEST_PERIODS`
   periods (the first charts' dates); the rest of the 14.6M rows is bulk-loaded in SQL
   (generate_series), as a year of syncs would have left them. Goal >= 100k rows/s. Beside it,
   one period per commit (what a sync does at the API's real 2 requests a minute, where the
   database is never the bottleneck): no goal, it shows why the sync batches;
2. the dispatcher's claim, include.music.chart_sync.claim_due_schedules, with 10k schedules
   due (limit 10k), in a process of its own: goal < 1 s;
3. music_cleanup_old_data's service (include.music.cleanup.cleanup_old_data, batches of 20k)
   on the 90-day-old part (275 of 365 days: ~11M rankings and 550k audience rows), in a
   process of its own with every statement timed: goal >= 40x the seed's per-row delete loop
   (SELECT the old keys, then one autocommitted DELETE per key), longest statement < 0.5 s.
   The loop runs on a sample of LOOP_SAMPLE rows spread over the old part and its rate is
   extrapolated (11M rows one by one would take hours here: each commit waits for a WAL
   flush); the same loop in one transaction is shown beside it (no goal);
4. every job's peak RSS (VmHWM of its process) < 250 MB.

Scale: `--scale` or JOBYARD_BENCH_MUSIC_SCALE (default 1) multiplies the charts, tracks,
schedules and ingest sample (365 days x 200 positions stay, so the old part stays 75 %);
`JOBYARD_BENCH_MUSIC_SCALE=0.02 python -m bench music` runs in well under a minute. A full
run takes about 5 minutes on 2 cores (`python -m bench music --timeout 900`).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg

from bench._harness import bench_database, main, rate, say
from bench.social_jobs import TimedCursor, process_peak_rss_mb
from include.music.chart_sync import FLUSH_PERIODS

NAME = "music_jobs"
TIMEOUT_SECONDS = 900
FULL = {"charts": 200, "tracks": 2_000, "schedules": 10_000, "ingest_periods": 1_000}
DAYS, POSITIONS, RETENTION_DAYS = 365, 200, 90
TRACK_POOL = 20_000  # songs the rankings draw from
END = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)  # the cleanup's interval end; the newest ranking is END's day - 1
LOOP_SAMPLE = 3_000
SEED = 11
GOALS = {"ingest_rows_per_s": 100_000, "claim_s": 1.0, "cleanup_speedup": 40.0, "longest_statement_s": 0.5,
         "rss_mb": 250.0}


def scale_from_env() -> float:
    raw = os.environ.get("JOBYARD_BENCH_MUSIC_SCALE", "1")
    try:
        scale = float(raw)
    except ValueError:
        raise SystemExit(f"JOBYARD_BENCH_MUSIC_SCALE must be a number in (0, 1], got {raw!r}") from None
    return scale


def sizes_for(scale: float) -> dict[str, int]:
    if not 0 < scale <= 1:
        raise SystemExit(f"the scale must be in (0, 1], got {scale}")
    return {k: max(1 if k == "charts" else 100, round(v * scale)) for k, v in FULL.items()}


def first_day() -> datetime:
    return (END - timedelta(days=DAYS)).replace(hour=0)


def pool() -> list[str]:
    rng = random.Random(SEED)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(TRACK_POOL)]


def period_rows(rng: random.Random, songs: list[str]) -> list[tuple]:
    """One ranking period as the chart sync hands it to store_period: (position, uuid, title,
    artist, metric, position_evolution, entry_state, time_on_chart)."""
    return [(p, u, f"Song {u[:8]}", f"Artist {u[9:13]}", rng.randrange(10_000, 5_000_000), rng.randrange(-20, 21),
             "STABLE", rng.randrange(1, 60)) for p, u in enumerate(rng.sample(songs, POSITIONS), 1)]


def ingest_periods(count: int, charts: int, first_chart: int = 1) -> Iterator[tuple[int, datetime]]:
    """(chart_id, ranking_date) of the first `count` periods, chart by chart, oldest first."""
    n = 0
    for chart_id in range(first_chart, first_chart + charts):
        for day in range(DAYS):
            if n == count:
                return
            yield chart_id, first_day() + timedelta(days=day)
            n += 1


# -- the jobs, each in a process of its own ----------------------------------------------------

def _ingest(conn: psycopg.Connection, params: dict) -> dict:
    """store_periods as the chart sync calls it: `per_commit` periods per COPY and commit
    (FLUSH_PERIODS when the API is fast, 1 at its real rate), a chart's dates in order."""
    from include.music.repository.chart_sync import store_periods

    rng, songs = random.Random(SEED + params.get("first_chart", 1)), pool()
    rows = generate_s = commit_s = 0.0
    per_commit, batch, chart_of = params["per_commit"], [], None
    started = time.perf_counter()

    def flush() -> int:
        nonlocal commit_s
        written, _ = store_periods(conn, chart_of, batch)
        c = time.perf_counter()
        conn.commit()
        commit_s += time.perf_counter() - c
        batch.clear()
        return written

    for chart_id, at in ingest_periods(params["periods"], params["charts"], params.get("first_chart", 1)):
        if batch and (chart_id != chart_of or len(batch) >= per_commit):
            rows += flush()
        chart_of = chart_id
        g = time.perf_counter()
        batch.append((at, period_rows(rng, songs)))
        generate_s += time.perf_counter() - g
    if batch:
        rows += flush()
    seconds = time.perf_counter() - started
    return {"rows": int(rows), "seconds": seconds, "rows_per_s": rate(int(rows), seconds),
            "generate_s": round(generate_s, 2), "commit_s": round(commit_s, 2), "periods": params["periods"],
            "periods_per_commit": per_commit}


def _claim(conn: psycopg.Connection, params: dict) -> dict:
    from include.music.chart_sync import claim_due_schedules

    started = time.perf_counter()
    claims = claim_due_schedules(conn, END, "bench-run", limit=params["limit"])
    return {"claimed": len(claims), "seconds": time.perf_counter() - started}


def _cleanup(conn: psycopg.Connection, params: dict) -> dict:
    from include.music.cleanup import cleanup_old_data

    started = time.perf_counter()
    result = cleanup_old_data(conn, END, retention_days=RETENTION_DAYS)
    return {**result, "seconds": time.perf_counter() - started}


JOBS = {"ingest": _ingest, "ingest_per_period": _ingest, "claim": _claim,
        "cleanup": _cleanup}


def _child(job: str, dsn: str, params: dict, pipe) -> None:
    try:
        TimedCursor.timings = []
        with psycopg.connect(dsn, cursor_factory=TimedCursor) as conn:
            outcome = JOBS[job](conn, params)
        longest = max(TimedCursor.timings, default=(0.0, ""))
        pipe.send({"ok": True, **outcome, "peak_rss_mb": process_peak_rss_mb(), "statements": len(TimedCursor.timings),
                   "longest_statement_s": round(longest[0], 4), "longest_statement": longest[1]})
    except Exception as exc:  # sent to the parent, which records the failure
        import traceback

        traceback.print_exc()
        pipe.send({"ok": False, "error": f"{type(exc).__name__}: {exc}"})


def run_job(job: str, dsn: str, **params) -> dict:
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(job, dsn, params, send), name=f"music-{job}")
    proc.start()
    send.close()
    try:
        outcome = receive.recv()
    except EOFError:
        outcome = {"ok": False, "error": "the job's process died without an answer"}
    proc.join()
    if outcome["ok"]:
        say(f"{job}: {outcome['seconds']:.2f} s, peak RSS {outcome['peak_rss_mb']} MB, {outcome['statements']} "
            f"statements, longest {outcome['longest_statement_s']:.3f} s")
    else:
        say(f"{job} FAILED: {outcome['error']}")
    return outcome


# -- the data ----------------------------------------------------------------------------------

def add_charts(dsn: str, sizes: dict[str, int]) -> None:
    """The ranked charts, 20 spare ones (the batched ingest's), and one per due schedule."""
    with psycopg.connect(dsn) as conn:
        conn.execute("""INSERT INTO music.charts (slug, name, platform, frequency)
                        SELECT 'bench-' || g, 'Bench ' || g, 'spotify', 'daily' FROM generate_series(1, %s) g""",
                     (sizes["charts"] + sizes["schedules"] + 20,))


def load(dsn: str, sizes: dict[str, int]) -> dict:
    """Charts, the rest of the rankings (after the ingest sample), tracks' audience and the
    due schedules, in SQL; then VACUUM ANALYZE."""
    started = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        conn.execute("""INSERT INTO music.tracks (uuid, title)
                        SELECT gen_random_uuid(), 'bench' FROM generate_series(1, %s)
                        ON CONFLICT DO NOTHING""", (max(TRACK_POOL - conn.execute(
            "SELECT count(*) FROM music.tracks").fetchone()[0], 0) + sizes["tracks"],))
        conn.commit()
        tracks = conn.execute("SELECT max(id) FROM music.tracks").fetchone()[0]
        # The rankings the ingest did not write: the sample covers (chart, date) keys in chart-major
        # order, so skip those keys; date-major insertion, as a year of daily syncs lays the table out.
        skip = sizes["ingest_periods"]
        for day in range(DAYS):
            conn.execute("""
                INSERT INTO music.chart_rankings (chart_id, ranking_date, position, track_id, metric,
                                                  position_evolution, entry_state, time_on_chart)
                SELECT c, %(at)s, p, 1 + (hashint8(c * 1000003 + %(day)s * 1009 + p) %% %(tracks)s + %(tracks)s)
                                                                                            %% %(tracks)s,
                       1000 * p, 0, 'STABLE', 1
                  FROM generate_series(1, %(charts)s) c, generate_series(1, %(positions)s) p
                 WHERE (c - 1) * %(days)s + %(day)s >= %(skip)s""",
                         {"at": first_day() + timedelta(days=day), "day": day, "tracks": tracks,
                          "charts": sizes["charts"], "positions": POSITIONS, "days": DAYS, "skip": skip})
            conn.execute("""
                INSERT INTO music.track_audience (track_id, platform, day, value)
                SELECT t.id, 'spotify', %(at)s::date, %(day)s * 100 + t.id
                  FROM (SELECT id FROM music.tracks ORDER BY id LIMIT %(n)s) t""",
                         {"at": first_day() + timedelta(days=day), "day": day, "n": sizes["tracks"]})
            if day % 30 == 29:
                conn.commit()
        conn.commit()
        conn.execute("""INSERT INTO music.chart_sync_schedules (chart_id, frequency, next_sync_at)
                        SELECT id, 'daily', %s - (id %% 1000) * interval '1 minute' FROM music.charts
                         WHERE id > %s ORDER BY id LIMIT %s""",
                     (END, sizes["charts"] + 20, sizes["schedules"]))
        conn.execute("""INSERT INTO music.chart_sync_schedules (chart_id, frequency, next_sync_at)
                        SELECT id, 'daily', %s + interval '1 day' FROM music.charts WHERE id <= %s""",
                     (END, sizes["charts"]))  # not due: the claim must skip them
        conn.commit()
        counts = dict(zip(("rankings", "audience", "tracks", "due_schedules"), conn.execute("""
            SELECT (SELECT count(*) FROM music.chart_rankings), (SELECT count(*) FROM music.track_audience),
                   (SELECT count(*) FROM music.tracks),
                   (SELECT count(*) FROM music.chart_sync_schedules WHERE next_sync_at <= %s)""",
                                                                       (END,)).fetchone(), strict=True))
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) music.chart_rankings, music.track_audience, music.tracks, "
                     "music.charts, music.chart_sync_schedules")
    say(f"loaded {counts} in {loaded:.1f} s, vacuumed in {time.perf_counter() - started:.1f} s")
    return {**counts, "load_s": round(loaded, 1), "vacuum_s": round(time.perf_counter() - started, 1)}


def delete_loop(dsn: str, sample: int) -> dict:
    """The per-row baseline on `sample` keys spread over the old part: the old keys, then one
    DELETE per key, autocommitted (as the seed's ORM loop did); and, on `sample` other keys,
    the same loop in one transaction (what is left without the commit per row)."""
    from include.music.cleanup import cutoffs

    before, _ = cutoffs(END, RETENTION_DAYS)
    out: dict = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        old = conn.execute("SELECT count(*) FROM music.chart_rankings WHERE ranking_date < %s", (before,)).fetchone()[0]
        step = max(1, old // (2 * sample))
        keys = conn.execute("""SELECT chart_id, ranking_date, position FROM music.chart_rankings
                                WHERE ranking_date < %s AND (hashint8(chart_id * 7919 + position) %% %s) = 0
                                LIMIT %s""", (before, step, 2 * sample)).fetchall()
        for label, part in (("autocommit", keys[:sample]), ("one_transaction", keys[sample:])):
            started = time.perf_counter()
            with conn.transaction() if label == "one_transaction" else _nothing():
                for key in part:
                    conn.execute("DELETE FROM music.chart_rankings WHERE chart_id = %s AND ranking_date = %s "
                                 "AND position = %s", key)
            seconds = time.perf_counter() - started
            per_s = rate(len(part), seconds)
            out[label] = {"sample": len(part), "sample_s": round(seconds, 2), "rows_per_s": round(per_s),
                          "extrapolated_s": round(old / per_s, 1)}
    say(f"per-row delete loop: {out}")
    return {**out, "population": old, "note": f"timed on {sample:,} of {old:,} old rows each, rate extrapolated"}


@contextmanager
def _nothing() -> Iterator[None]:
    yield


# -- the run -----------------------------------------------------------------------------------

def run(scale: float) -> dict:
    sizes = sizes_for(scale)
    failures: list[str] = []
    details: dict = {"scale": scale, "sizes": sizes, "days": DAYS, "positions": POSITIONS, "end": END.isoformat(),
                     "retention_days": RETENTION_DAYS, "goals": GOALS, "cpus": os.cpu_count()}
    with bench_database() as dsn:
        add_charts(dsn, sizes)
        runs = {"ingest": run_job("ingest", dsn, periods=sizes["ingest_periods"], charts=sizes["charts"],
                                  per_commit=FLUSH_PERIODS)}
        details["load"] = load(dsn, sizes)
        runs["claim"] = run_job("claim", dsn, limit=sizes["schedules"])
        details["loop"] = delete_loop(dsn, max(200, round(LOOP_SAMPLE * scale)))
        runs["cleanup"] = run_job("cleanup", dsn)
        # After the cleanup, on charts the rankings never used (new keys): one period per commit.
        runs["ingest_per_period"] = run_job("ingest_per_period", dsn, periods=sizes["ingest_periods"] // 4,
                                            charts=10, first_chart=sizes["charts"] + 1, per_commit=1)
    details["runs"] = runs
    for label, outcome in runs.items():
        if not outcome["ok"]:
            failures.append(f"{label}: {outcome['error']}")
    return {"summary": summarize(details, failures), "details": details, "failures": failures}


def summarize(details: dict, failures: list[str]) -> list[list]:
    runs, sizes, load_info = details["runs"], details["sizes"], details["load"]
    summary = [[f"data: {load_info['rankings']:,} rankings ({sizes['charts']} charts x {DAYS} days x {POSITIONS}), "
                f"{load_info['audience']:,} audience rows, loaded in SQL", load_info["load_s"], "s"]]

    def goal(metric: str, value: float, unit: str, ok: bool, target: str) -> None:
        summary.append([f"{metric} (goal {target}){'' if ok else ' MISSED'}", round(value, 2), unit])
        if not ok:
            failures.append(f"{metric}: {value:,.2f} {unit}, goal {target}")

    ingest = runs["ingest"]
    if ingest["ok"]:
        goal(f"ingest: store_periods, {FLUSH_PERIODS} periods per commit ({ingest['rows']:,} rows, commits "
             f"{ingest['commit_s']} s of {ingest['seconds']:.1f} s)", ingest["rows_per_s"], "rows/s",
             ingest["rows_per_s"] >= GOALS["ingest_rows_per_s"], f">= {GOALS['ingest_rows_per_s']:,}")
    single = runs["ingest_per_period"]
    if single["ok"]:
        summary.append([f"ingest: one period per commit, as at the API's real rate (no goal; "
                        f"{single['rows']:,} rows)", round(single["rows_per_s"]), "rows/s"])
    claim = runs["claim"]
    if claim["ok"]:
        goal(f"claim_due_schedules: {claim['claimed']:,} of {load_info['due_schedules']:,} due", claim["seconds"],
             "s", claim["seconds"] < GOALS["claim_s"] and claim["claimed"] == load_info["due_schedules"],
             f"< {GOALS['claim_s']:g} s, all claimed")
    cleanup, loop = runs["cleanup"], details["loop"]
    if cleanup["ok"]:
        summary.append([f"cleanup: {cleanup['rankings']:,} rankings + {cleanup['audience']:,} audience rows in "
                        f"{cleanup['batches']:,} batches", round(cleanup["seconds"], 2), "s"])
        job_rate = rate(cleanup["rankings"] + cleanup["audience"], cleanup["seconds"])
        summary.append(["cleanup: rows deleted per second", round(job_rate), "rows/s"])
        for label, what in (("autocommit", "a commit per row, as the seed"), ("one_transaction", "one transaction")):
            summary.append([f"cleanup: per-row loop, {what} ({loop[label]['sample']:,} of {loop['population']:,} "
                            "old rows timed, extrapolated)", loop[label]["extrapolated_s"], "s"])
        speedup = job_rate / loop["autocommit"]["rows_per_s"]
        goal("cleanup: speed-up vs the seed's per-row loop", speedup, "x", speedup >= GOALS["cleanup_speedup"],
             f">= {GOALS['cleanup_speedup']:g}x")
        # Without the commit per row the loop is faster; shown, not a goal (the seed committed each row).
        summary.append(["cleanup: speed-up vs the per-row loop in one transaction (no goal)",
                        round(job_rate / loop["one_transaction"]["rows_per_s"], 1), "x"])
        goal("cleanup: longest statement", cleanup["longest_statement_s"], "s",
             cleanup["longest_statement_s"] < GOALS["longest_statement_s"], f"< {GOALS['longest_statement_s']:g} s")
    for job, outcome in runs.items():
        if outcome["ok"]:
            goal(f"{job}: peak RSS", outcome["peak_rss_mb"], "MB", outcome["peak_rss_mb"] < GOALS["rss_mb"],
                 f"< {GOALS['rss_mb']:g} MB")
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.music_jobs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=None,
                        help="fraction of the issue's sizes (default: JOBYARD_BENCH_MUSIC_SCALE, else 1)")
    args = parser.parse_args()
    chosen = args.scale if args.scale is not None else scale_from_env()
    sizes_for(chosen)
    main(NAME, lambda: run(chosen))
