"""The social jobs at the issue's scale (100k users / 2M follows / 1M posts / 5M hashtag
links, plus 1M comments and 2M likes), each against its goal, in one run:

1. a fresh database `jobyard_bench_social_<random>`, filled by include/demo/social_seed.generate
   (timed) and vacuumed, as a live database would be;
2. seed-style loops (the seed's Django ORM loops re-written with plain queries, one
   autocommitted statement at a time): user statistics (per user: count followers, count
   following, count posts, UPDATE) and engagement scores (per post of the job's window:
   count likes, count comments, the job's formula in Python, upsert). They run on a sample
   of SAMPLE users/posts spread over the ids, and their rate is extrapolated to the full
   population; their writes are then undone so the jobs start from the generated state;
3. every job in a process of its own (spawned, so its peak RSS - ru_maxrss - is its own),
   its connection's cursors timing every statement: user statistics and engagement (speed-up
   vs the loop: goal >= 40x), trending hashtags (goal < 2 s), content analytics, token cleanup,
   the weekly digest (queueing only; delivery is the outbox's own benchmark), the welcome email,
   media processing of a 12-megapixel JPEG and a short 1080p video;
4. a 1% change (one new like on 1% of the posts, one new post by 1% of the users), then user
   statistics and engagement again (goal: >= 10x faster than their first run);
5. old-post cleanup last (it deletes), goal: no single statement over 0.5 s;
6. the same jobs on a second database at 1/10 of the size: every job's peak RSS must stay
   under 250 MB and flat (at most 1.25x) when the data grows 10x.

`python -m bench.social_jobs --scale 0.1` runs everything 10x smaller (the RSS comparison
then uses 1/100). A full run takes 3.5-6 minutes on 2 cores: give `python -m bench` a longer
limit (`python -m bench social --timeout 900`).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bench._harness import main, peak_rss_mb, require_loopback, say

NAME = "social_jobs"
TIMEOUT_SECONDS = 900  # 100k users / 5M hashtag links: generation alone takes about a minute
FULL = {"users": 100_000, "follows": 2_000_000, "posts": 1_000_000, "comments": 1_000_000, "likes": 2_000_000,
        "hashtags": 20_000, "hashtag_links": 5_000_000}
NOW = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday 00:00: the end of every job's data interval
SAMPLE = 2_000  # rows of each seed-style loop
CLEANUP_BUDGET_S = 120.0  # the old-post cleanup stops cleanly after this (its first run has a 1-year backlog)
DIGEST_BUDGET_S = 90.0
GOALS = {"speedup": 40.0, "rerun_speedup": 10.0, "trending_s": 2.0, "longest_statement_s": 0.5, "rss_mb": 250.0,
         "rss_growth": 1.25}


# -- the database -----------------------------------------------------------------------------

@contextmanager
def social_database() -> Iterator[str]:
    """A migrated database `jobyard_bench_social_<random>`, dropped afterwards."""
    from tools import devenv

    server = devenv.server_url()
    require_loopback(server, "PostgreSQL")
    name = f"jobyard_bench_social_{secrets.token_hex(4)}"
    url = devenv.ensure_database(server, name)
    try:
        devenv.migrate_app_db(url)
        yield url
    finally:
        devenv.drop_database(server, name)
        say(f"database {name} dropped")


def load(dsn: str, sizes: dict[str, int]) -> dict:
    """generate() in one transaction, then VACUUM ANALYZE (hint bits and visibility map set,
    as on a live database, so neither the jobs nor the loops pay for the bulk load)."""
    from include.demo.social_seed import GENERATED_TABLES, generate

    started = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        cpu_before = backend_cpu_s(backend)
        rows = generate(conn, **sizes, now=NOW)
        cpu = backend_cpu_s(backend) - cpu_before if cpu_before is not None else None
    generated = time.perf_counter() - started
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) " + ", ".join(f"social.{t}" for t in GENERATED_TABLES))
    vacuumed = time.perf_counter() - started
    say(f"generated {sum(rows.values()):,} rows in {generated:.1f} s (backend CPU {cpu} s), "
        f"vacuumed in {vacuumed:.1f} s")
    return {"rows": rows, "generate_s": round(generated, 2), "generate_backend_cpu_s": cpu,
            "vacuum_s": round(vacuumed, 2)}


def backend_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) a local PostgreSQL backend has used so far, from /proc:
    the generator's work whatever else the machine's cores are busy with. None where /proc
    does not show it (another OS, or a server in a container of its own)."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)


# -- the jobs, each in a process of its own ----------------------------------------------------

class TimedCursor(psycopg.Cursor):
    """A cursor that times each execute (the connection's cursor_factory, so conn.execute
    goes through it too)."""

    timings: list[tuple[float, str]] = []

    def execute(self, query, params=None, **kwargs):
        started = time.perf_counter()
        try:
            return super().execute(query, params, **kwargs)
        finally:
            TimedCursor.timings.append((time.perf_counter() - started, _sql_text(query)))

    def executemany(self, query, params_seq, **kwargs):
        started = time.perf_counter()
        try:
            return super().executemany(query, params_seq, **kwargs)
        finally:
            TimedCursor.timings.append((time.perf_counter() - started, _sql_text(query)))


def _sql_text(query) -> str:
    text = query if isinstance(query, str | bytes) else repr(query)
    text = text.decode() if isinstance(text, bytes) else text
    return " ".join(text.split())[:160]


def _job_call(job: str, conn: psycopg.Connection, dsn: str, params: dict):
    """Call one include/social function the way its DAG does (interval end NOW)."""
    from include.common.time_budget import TimeBudget

    budget = TimeBudget(params.get("budget_s", 1e9))
    until_budget = {"budget": budget}
    if job == "user_statistics":
        from include.social.user_statistics import update_user_statistics
        return update_user_statistics(conn, **until_budget)
    if job == "engagement_scores":
        from include.social.engagement import update_engagement_scores
        return update_engagement_scores(conn, NOW, **until_budget)
    if job == "trending_hashtags":
        from include.social.trending import update_trending
        return update_trending(conn, NOW)
    if job == "content_analytics":
        from include.social.content_analytics import generate_content_analytics
        return generate_content_analytics(conn, NOW - timedelta(days=1), NOW)
    if job == "expired_tokens":
        from include.social.tokens import cleanup_expired_tokens
        return cleanup_expired_tokens(conn, NOW, **until_budget)
    if job == "content_digest":
        from include.common.unsubscribe import UnsubscribeLinks
        from include.social.digest import queue_digests
        # as the DAG runs it: every digest with its signed one-click unsubscribe link
        links = UnsubscribeLinks.for_domain("social", "bench-unsubscribe-signing-key-0000",
                                            {"social": "https://social.example.test/email/unsubscribe"})
        return queue_digests(conn, NOW - timedelta(days=7), NOW, unsubscribe=links, **until_budget)
    if job == "welcome_email":
        from include.social.welcome import queue_welcome
        result = queue_welcome(conn, params["user_id"])
        conn.commit()
        return result
    if job == "old_posts":
        from include.social.old_posts import cleanup_old_posts
        return cleanup_old_posts(conn, NOW, media_root=Path(params["media_root"]), **until_budget)
    if job == "media_upload":
        from include.social.media.process import process_upload
        return process_upload(dsn, params["media_id"], Path(params["media_root"]))
    raise ValueError(f"unknown job {job!r}")


def process_peak_rss_mb() -> float:
    """This process's own peak RSS: VmHWM, the high-water mark of its memory map. (A spawned
    child's ru_maxrss starts at its parent's RSS at fork time: Linux carries it over exec.)"""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return peak_rss_mb()


def _child(job: str, dsn: str, params: dict, pipe) -> None:
    """Run one job (in a spawned process) and send back its time, RSS and statements."""
    import resource

    from include.common.time_budget import SoftTimeLimitExceeded

    try:
        rss_before = process_peak_rss_mb()  # the interpreter with psycopg, before the job's imports
        stopped = None
        with psycopg.connect(dsn, cursor_factory=TimedCursor) as conn:
            started = time.perf_counter()
            try:
                result = _job_call(job, conn, dsn, params)
            except SoftTimeLimitExceeded as exc:  # the budget the benchmark gave: what was done counts
                result, stopped = exc.result, str(exc)
            seconds = time.perf_counter() - started
        timings = TimedCursor.timings
        longest = max(timings, default=(0.0, ""))
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # ffmpeg
        pipe.send({"ok": True, "seconds": seconds, "rss_before_mb": rss_before, "peak_rss_mb": process_peak_rss_mb(),
                   "subprocess_peak_rss_mb": round(children, 1), "statements": len(timings),
                   "longest_statement_s": longest[0], "longest_statement": longest[1], "stopped": stopped,
                   "result": json.loads(json.dumps(result, default=str))})
    except Exception as exc:  # sent to the parent, which records the failure
        import traceback

        traceback.print_exc()
        pipe.send({"ok": False, "error": f"{type(exc).__name__}: {exc}"})


def run_job(job: str, dsn: str, **params) -> dict:
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(job, dsn, params, send), name=f"social-{job}")
    started = time.perf_counter()
    proc.start()
    send.close()
    try:
        outcome = receive.recv()
    except EOFError:
        outcome = {"ok": False, "error": "the job's process died without an answer"}
    proc.join()
    if proc.exitcode not in (0, None) and outcome.get("ok"):
        outcome = {"ok": False, "error": f"the job's process exited with {proc.exitcode}"}
    outcome["process_s"] = round(time.perf_counter() - started, 2)
    if outcome["ok"]:
        say(f"{job}: {outcome['seconds']:.2f} s, peak RSS {outcome['peak_rss_mb']} MB, "
            f"{outcome['statements']} statements, longest {outcome['longest_statement_s']:.3f} s"
            + (f" (stopped: {outcome['stopped']})" if outcome["stopped"] else ""))
    else:
        say(f"{job} FAILED: {outcome['error']}")
    return outcome


# -- the seed-style loops ----------------------------------------------------------------------

def sample_ids(conn: psycopg.Connection, query: str, params: dict, size: int) -> tuple[list[int], int]:
    """`size` ids spread evenly over the ids `query` returns, and how many it returns."""
    ids = [row[0] for row in conn.execute(query, params)]
    step = max(1, len(ids) // size)
    return ids[::step][:size], len(ids)


def user_statistics_loop(dsn: str) -> dict:
    """Per user: three counts and an UPDATE, each its own autocommitted statement."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        users, population = sample_ids(conn, "SELECT id FROM social.users ORDER BY id", {}, SAMPLE)
        started = time.perf_counter()
        for user_id in users:
            args = (user_id,)
            followers = conn.execute("SELECT count(*) FROM social.follows WHERE followee_id = %s", args).fetchone()[0]
            following = conn.execute("SELECT count(*) FROM social.follows WHERE follower_id = %s", args).fetchone()[0]
            posts = conn.execute("SELECT count(*) FROM social.posts WHERE author_id = %s", args).fetchone()[0]
            conn.execute("UPDATE social.users SET followers_count = %s, following_count = %s, posts_count = %s "
                         "WHERE id = %s", (followers, following, posts, user_id))
        seconds = time.perf_counter() - started
        conn.execute("UPDATE social.users SET followers_count = 0, following_count = 0, posts_count = 0 "
                     "WHERE id = ANY(%s)", (users,))
    return _extrapolated(len(users), population, seconds, "users")


def engagement_loop(dsn: str) -> dict:
    """Per post of the job's window: count likes, count comments, score in Python, upsert."""
    from include.social.engagement import engagement_score

    start = NOW - timedelta(days=30)
    with psycopg.connect(dsn, autocommit=True) as conn:
        posts, population = sample_ids(
            conn, "SELECT id FROM social.posts WHERE created_at >= %(start)s AND created_at < %(end)s ORDER BY id",
            {"start": start, "end": NOW}, SAMPLE)
        started = time.perf_counter()
        for post_id in posts:
            created = conn.execute("SELECT created_at FROM social.posts WHERE id = %s", (post_id,)).fetchone()[0]
            likes = conn.execute("SELECT count(*) FROM social.likes WHERE post_id = %s AND created_at < %s",
                                 (post_id, NOW)).fetchone()[0]
            comments = conn.execute("SELECT count(*) FROM social.comments WHERE post_id = %s AND created_at < %s",
                                    (post_id, NOW)).fetchone()[0]
            score = engagement_score(likes, comments, (NOW - created).total_seconds() / 3600)
            conn.execute(
                """INSERT INTO social.post_engagement_scores (post_id, score, likes, comments, computed_for)
                   VALUES (%s, %s, %s, %s, %s)
                   ON CONFLICT (post_id) DO UPDATE SET score = excluded.score, likes = excluded.likes,
                       comments = excluded.comments, computed_for = excluded.computed_for, updated_at = now()""",
                (post_id, score, likes, comments, NOW))
        seconds = time.perf_counter() - started
        conn.execute("DELETE FROM social.post_engagement_scores WHERE post_id = ANY(%s)", (posts,))
    return _extrapolated(len(posts), population, seconds, "posts")


def _extrapolated(done: int, population: int, seconds: float, what: str) -> dict:
    per_s = done / seconds if seconds > 0 else float("inf")
    return {"sample": done, "population": population, "sample_s": round(seconds, 2), f"{what}_per_s": round(per_s),
            "extrapolated_s": round(population / per_s, 1) if done else 0.0,
            "note": f"run on {done} of {population} {what} spread over the ids, rate extrapolated"}


# -- the 1% change, the media files ------------------------------------------------------------

def change_one_percent(dsn: str) -> dict:
    """One new like on every 100th post, one new post by every 100th user (an hour before NOW)."""
    at = NOW - timedelta(hours=1)
    with psycopg.connect(dsn) as conn:
        users = conn.execute("SELECT count(*) FROM social.users").fetchone()[0]
        likes = conn.execute(
            """INSERT INTO social.likes (user_id, post_id, created_at)
               SELECT 1 + (p.id * 7919) %% %(users)s, p.id, %(at)s FROM social.posts p WHERE p.id %% 100 = 0
               ON CONFLICT DO NOTHING""", {"users": users, "at": at}).rowcount
        posts = conn.execute(
            """INSERT INTO social.posts (author_id, body, created_at, updated_at)
               SELECT id, 'benchmark change', %(at)s, %(at)s FROM social.users WHERE id %% 100 = 0""",
            {"at": at}).rowcount
    return {"new_likes": likes, "new_posts": posts}


def make_media(dsn: str, root: Path) -> dict[str, int]:
    """A 12-megapixel JPEG (noisy, so it does not compress to nothing) and a 3 s 1080p H.264
    video, registered as pending uploads of user 1."""
    import subprocess

    import imageio_ffmpeg
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    noise = Image.effect_noise((4000, 3000), 64).convert("RGB")
    noise.save(root / "photo.jpg", quality=90)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=1920x1080:rate=30:duration=3", "-pix_fmt", "yuv420p", "-c:v", "libx264",
                    "-preset", "ultrafast", str(root / "clip.mp4")], check=True, timeout=120)
    ids = {}
    with psycopg.connect(dsn) as conn:
        for kind, name, ctype in (("image", "photo.jpg", "image/jpeg"), ("video", "clip.mp4", "video/mp4")):
            ids[kind] = conn.execute(
                "INSERT INTO social.media_uploads (user_id, original_path, content_type, size_bytes) "
                "VALUES (1, %s, %s, %s) RETURNING id", (name, ctype, (root / name).stat().st_size)).fetchone()[0]
    return ids


# -- the run -----------------------------------------------------------------------------------

READ_ONLY_JOBS = ("trending_hashtags", "content_analytics", "expired_tokens", "content_digest", "welcome_email")


def all_jobs(dsn: str, media_root: Path) -> dict[str, dict]:
    """Every job once, old posts last (it deletes)."""
    media = make_media(dsn, media_root)
    runs = {"user_statistics": run_job("user_statistics", dsn), "engagement_scores": run_job("engagement_scores", dsn)}
    for job in READ_ONLY_JOBS:
        runs[job] = run_job(job, dsn, user_id=1, budget_s=DIGEST_BUDGET_S)
    for kind, media_id in media.items():
        runs[f"media_upload_{kind}"] = run_job("media_upload", dsn, media_id=media_id, media_root=str(media_root))
    return runs


def run(scale: float = 1.0) -> dict:
    sizes = {k: max(1, round(v * scale)) for k, v in FULL.items()}
    small = {k: max(1, round(v * scale / 10)) for k, v in FULL.items()}
    failures: list[str] = []
    details: dict = {"scale": scale, "sizes": sizes, "small_sizes": small, "now": NOW.isoformat(),
                     "goals": GOALS, "cpus": os.cpu_count()}
    media_root = Path(tempfile.mkdtemp(prefix="jobyard-bench-social-"))
    try:
        with social_database() as dsn:
            details["load"] = load(dsn, sizes)
            details["loops"] = {"user_statistics": user_statistics_loop(dsn), "engagement_scores": engagement_loop(dsn)}
            runs = all_jobs(dsn, media_root / "full")
            details["change"] = change_one_percent(dsn)
            runs["user_statistics_rerun"] = run_job("user_statistics", dsn)
            runs["engagement_scores_rerun"] = run_job("engagement_scores", dsn)
            runs["old_posts"] = run_job("old_posts", dsn, media_root=str(media_root / "full"),
                                        budget_s=CLEANUP_BUDGET_S)
        with social_database() as dsn:
            details["small_load"] = load(dsn, small)
            small_runs = all_jobs(dsn, media_root / "small")
            small_runs["old_posts"] = run_job("old_posts", dsn, media_root=str(media_root / "small"),
                                              budget_s=CLEANUP_BUDGET_S)
    finally:
        shutil.rmtree(media_root, ignore_errors=True)
    details["runs"], details["small_runs"] = runs, small_runs
    for label, outcome in [*runs.items(), *(("small " + k, v) for k, v in small_runs.items())]:
        if not outcome["ok"]:
            failures.append(f"{label}: {outcome['error']}")
    return {"summary": summarize(details, failures), "details": details, "failures": failures}


def summarize(details: dict, failures: list[str]) -> list[list]:
    runs, small_runs, loops = details["runs"], details["small_runs"], details["loops"]
    load_info = details["load"]
    rows = load_info["rows"]
    summary = [
        [f"generate {rows['users']:,} users / {rows['follows']:,} follows / {rows['posts']:,} posts / "
         f"{rows['post_hashtags']:,} hashtag links (+{rows['comments']:,} comments, {rows['likes']:,} likes)",
         load_info["generate_s"], "s"],
    ]
    if load_info["generate_backend_cpu_s"] is not None:
        summary.append(["generate: CPU time of the PostgreSQL backend (wall time minus waiting for a core)",
                        load_info["generate_backend_cpu_s"], "s"])

    def goal(metric: str, value: float, unit: str, ok: bool, target: str) -> None:
        summary.append([f"{metric} (goal {target}){'' if ok else ' MISSED'}", round(value, 2), unit])
        if not ok:
            failures.append(f"{metric}: {value:.2f} {unit}, goal {target}")

    for job in ("user_statistics", "engagement_scores"):
        first, loop = runs[job], loops[job]
        if not first["ok"]:
            continue
        summary.append([f"{job}: seed-style loop ({loop['note']})", loop["extrapolated_s"], "s"])
        summary.append([f"{job}: job", round(first["seconds"], 2), "s"])
        goal(f"{job}: speed-up vs loop", loop["extrapolated_s"] / first["seconds"], "x",
             loop["extrapolated_s"] / first["seconds"] >= GOALS["speedup"], f">= {GOALS['speedup']:g}x")
        rerun = runs[f"{job}_rerun"]
        if rerun["ok"]:
            summary.append([f"{job}: rerun after 1% change ({details['change']['new_likes']:,} likes, "
                            f"{details['change']['new_posts']:,} posts)", round(rerun["seconds"], 2), "s"])
            goal(f"{job}: first run / rerun", first["seconds"] / rerun["seconds"], "x",
                 first["seconds"] / rerun["seconds"] >= GOALS["rerun_speedup"], f">= {GOALS['rerun_speedup']:g}x")
    if runs["trending_hashtags"]["ok"]:
        seconds = runs["trending_hashtags"]["seconds"]
        goal("trending_hashtags: wall time", seconds, "s", seconds < GOALS["trending_s"],
             f"< {GOALS['trending_s']:g} s")
    cleanup = runs["old_posts"]
    if cleanup["ok"]:
        result = cleanup["result"]
        done = f"{result.get('deleted_posts', 0):,} posts deleted in {cleanup['seconds']:.1f} s"
        done += ", stopped by the benchmark's budget" if cleanup["stopped"] else ""
        summary.append([f"old_posts: {done}", cleanup["statements"], "statements"])
        goal("old_posts: longest statement", cleanup["longest_statement_s"], "s",
             cleanup["longest_statement_s"] < GOALS["longest_statement_s"], f"< {GOALS['longest_statement_s']:g} s")
    for job in ("content_analytics", "expired_tokens", "content_digest", "welcome_email"):
        if runs[job]["ok"]:
            summary.append([f"{job}: job" + (" (stopped by budget)" if runs[job]["stopped"] else ""),
                            round(runs[job]["seconds"], 2), "s"])
    for job, outcome in runs.items():
        if job.endswith("_rerun") or not outcome["ok"]:
            continue
        peak = outcome["peak_rss_mb"]
        goal(f"{job}: peak RSS", peak, "MB", peak < GOALS["rss_mb"], f"< {GOALS['rss_mb']:g} MB")
        small = small_runs.get(job)
        if small and small["ok"]:
            growth = peak / small["peak_rss_mb"]
            goal(f"{job}: peak RSS at 10x the data / at 1x ({small['peak_rss_mb']} MB)", growth, "x",
                 growth <= GOALS["rss_growth"], f"<= {GOALS['rss_growth']:g}x")
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.social_jobs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the issue's sizes (default 1)")
    args = parser.parse_args()
    if not 0 < args.scale <= 1:
        sys.exit(f"--scale must be in (0, 1], got {args.scale}")
    main(NAME, lambda: run(args.scale))
