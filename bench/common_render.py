"""Rendering + queueing of notification emails: include/common/outbox.py `enqueue` (the one
helper every notification job of every domain queues through) at 10k, 100k and 1M messages.

On a fresh app database, each size of RENDER_BENCH_SIZES (default "10000,100000,1000000")
runs in a spawned process of its own (so its peak RSS, VmHWM, is its own):

- a generator of weekly social digests (template `social/digest`, 5 posts each with
  200-character excerpts, as include/social/digest.py builds them, each with its signed
  one-click unsubscribe link: include/common/unsubscribe.py) is passed to ONE `enqueue` call,
  in one transaction, committed: rendered in chunks, COPY'd, one INSERT ... SELECT;
- timed: wall seconds, renders/s, this process's CPU and the PostgreSQL backend's CPU (from
  /proc: what a loaded machine's wall time hides), peak RSS; the rows are counted afterwards
  and the outbox emptied for the next size.

Then the same 10k through the enqueue of before (kept here as the reference: Jinja's default
Environment with a template lookup per render, each value escaped into a Markup, every dict
attribute an AttributeError first, rows passed as parameter arrays to INSERT ... SELECT FROM
unnest, 1,000 per statement), to show the speed-up.

Goals (issue 14): 100k rendered and queued in < 15 s, peak RSS < 250 MB.
`python -m bench render` runs it; RENDER_BENCH_SIZES=10000,100000 skips the million.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bench._harness import bench_database, main, rate, say

NAME = "common_render"
TIMEOUT_SECONDS = 1500  # the million: ~2-4 minutes of rendering on a loaded 2-core machine, plus inserting 5 GB
SIZES = [int(s) for s in os.environ.get("RENDER_BENCH_SIZES", "10000,100000,1000000").split(",") if s.strip()]
LEGACY_N = 10_000
GOALS = {"seconds_100k": 15.0, "rss_mb": 250.0}
WEEK_START = datetime(2025, 12, 29, tzinfo=UTC)
SIGNING_KEY = "bench-unsubscribe-signing-key-not-secret"
BODY = ("Shipped the new onboarding flow today & the numbers <already> look better: "
        "signups up, drop-off down, and the feedback thread is full of ideas for next week. ") * 3


def digest_row(i: int) -> dict:
    """A recipient's digest data, as the repository's statement returns it."""
    return {"user_id": i, "email": f"user{i}@digest.bench", "username": f"user{i}", "full_name": f"User {i}",
            "posts": [{"post_id": i * 5 + j, "author_username": f"author{(i + j) % 5000}",
                       "author_name": f"Author {(i + j) % 5000}", "excerpt": BODY[:199] + "…",
                       "likes": (i * 7 + j) % 90, "comments": (i + j) % 13, "score": 0} for j in range(5)]}


def messages(n: int, week_start: datetime = WEEK_START):
    """The digests of n recipients for the week of `week_start`, as include/social/digest.py
    builds them (dedupe key, context, signed unsubscribe link)."""
    from include.common.unsubscribe import UnsubscribeLinks
    from include.social.digest import _message

    links = UnsubscribeLinks.for_domain("social", SIGNING_KEY, {"social": "https://social.example.test/unsubscribe"})
    week_end = week_start + timedelta(days=7)
    for i in range(n):
        yield _message(digest_row(i), week_start, week_end, links)


def process_peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status")


def backend_cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the enqueue of before (reference) ----------------------------------------------------------

_LEGACY_INSERT = """
    INSERT INTO platform.outbox (dedupe_key, channel, domain, recipient, subject, body_text, body_html, payload)
    SELECT k, c, d, r, s, t, h, p::jsonb
      FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[])
           AS m(k, c, d, r, s, t, h, p)
    ON CONFLICT (dedupe_key) DO NOTHING
"""


def legacy_enqueue(conn: psycopg.Connection, msgs) -> int:
    import jinja2

    from include.common.products import product_name
    from include.common.templates import TEMPLATE_DIR

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2", "html"), default_for_string=False),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    conn.execute("SELECT to_regclass('platform.outbox')")
    rows, seen = [], set()
    for msg in msgs:
        if msg.dedupe_key in seen:
            continue
        seen.add(msg.dedupe_key)
        ctx = {**msg.context, "unsubscribe_url": msg.unsubscribe_url, "product": product_name(msg.domain),
               "domain": msg.domain}
        subject = " ".join(env.get_template(f"{msg.template}.subject.j2").render(ctx).split())
        text = env.get_template(f"{msg.template}.txt.j2").render(ctx)
        html = env.get_template(f"{msg.template}.html.j2").render(ctx)
        rows.append((msg.dedupe_key, msg.channel, msg.domain, msg.recipient, subject, text, html,
                     json.dumps({"list_unsubscribe": msg.unsubscribe_url})))
    new = 0
    with conn.cursor() as cur:
        for start in range(0, len(rows), 1000):
            cur.execute(_LEGACY_INSERT, [list(col) for col in zip(*rows[start:start + 1000], strict=True)])
            new += cur.rowcount
    return new


# -- one size in a process of its own ----------------------------------------------------------

def _child(dsn: str, n: int, legacy: bool, pipe) -> None:
    try:
        from include.common.outbox import enqueue

        rss_before = process_peak_rss_mb()
        with psycopg.connect(dsn) as conn:
            pid = conn.info.backend_pid
            backend_before = backend_cpu_s(pid)
            cpu_before, started = time.process_time(), time.perf_counter()
            gen = messages(n, WEEK_START - timedelta(days=7) if legacy else WEEK_START)
            queued = legacy_enqueue(conn, gen) if legacy else enqueue(conn, gen)
            conn.commit()
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu_before
            backend = backend_cpu_s(pid)
            backend = round(backend - backend_before, 2) if backend is not None and backend_before is not None else None
        pipe.send({"ok": True, "n": n, "queued": queued, "seconds": round(seconds, 2), "cpu_s": round(cpu, 2),
                   "backend_cpu_s": backend, "renders_per_s": round(rate(n, seconds)),
                   "peak_rss_mb": process_peak_rss_mb(), "rss_at_start_mb": rss_before})
    except Exception as exc:  # reported to the parent
        pipe.send({"ok": False, "n": n, "error": f"{type(exc).__name__}: {exc}"})


def run_size(dsn: str, n: int, legacy: bool = False) -> dict:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(dsn, n, legacy, child), name=f"bench-render-{n}")
    proc.start()
    child.close()
    try:
        outcome = parent.recv() if parent.poll(TIMEOUT_SECONDS) else {"ok": False, "n": n, "error": "timed out"}
    except EOFError:
        outcome = {"ok": False, "n": n, "error": f"the process died (exit {proc.exitcode})"}
    proc.join(30)
    if proc.is_alive():
        proc.kill()
    with psycopg.connect(dsn, autocommit=True) as conn:
        outcome["rows"] = conn.execute("SELECT count(*) FROM platform.outbox").fetchone()[0]
        outcome["with_list_unsubscribe"] = conn.execute(
            "SELECT count(*) FROM platform.outbox WHERE payload ? 'list_unsubscribe'").fetchone()[0]
        conn.execute("TRUNCATE platform.outbox")
    label = "legacy" if legacy else "enqueue"
    say(f"{label} {n:,}: {outcome}")
    return outcome


def run() -> dict:
    failures: list[str] = []
    load = os.getloadavg()
    details: dict = {"sizes": SIZES, "goals": GOALS, "cpus": os.cpu_count(),
                     "load_average_at_start": [round(x, 2) for x in load], "runs": {}}
    summary: list[list] = [["load average (1, 5, 15 min) at the start", " / ".join(f"{x:.1f}" for x in load), ""]]
    with bench_database() as dsn:
        for n in SIZES:
            details["runs"][str(n)] = run_size(dsn, n)
        details["legacy"] = run_size(dsn, LEGACY_N, legacy=True)
    details["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    for n in SIZES:
        out = details["runs"][str(n)]
        if not out["ok"]:
            failures.append(f"{n:,}: {out['error']}")
            continue
        if out["queued"] != n or out["rows"] != n or out["with_list_unsubscribe"] != n:
            failures.append(f"{n:,}: queued {out['queued']}, {out['rows']} rows, "
                            f"{out['with_list_unsubscribe']} with List-Unsubscribe")
        summary.append([f"{n:,} digests rendered + queued (one enqueue call, committed)", out["seconds"], "s"])
        summary.append([f"{n:,}: renders/s", out["renders_per_s"], "msg/s"])
        summary.append([f"{n:,}: CPU of the rendering process / of the PostgreSQL backend",
                        f"{out['cpu_s']} / {out['backend_cpu_s']}", "s"])
        summary.append([f"{n:,}: peak RSS", out["peak_rss_mb"], "MB"])
        if n == 100_000:
            ok = out["seconds"] < GOALS["seconds_100k"]
            summary.append([f"100k in < {GOALS['seconds_100k']:g} s" + ("" if ok else " MISSED"), out["seconds"], "s"])
            if not ok:
                failures.append(f"100k took {out['seconds']} s, goal < {GOALS['seconds_100k']:g} s")
        if out["peak_rss_mb"] >= GOALS["rss_mb"] and n <= 100_000:
            failures.append(f"{n:,}: peak RSS {out['peak_rss_mb']} MB, goal < {GOALS['rss_mb']:g} MB")
    legacy = details["legacy"]
    if legacy["ok"]:
        summary.append([f"reference: the enqueue of before, {LEGACY_N:,} digests", legacy["seconds"], "s"])
        summary.append(["reference: renders/s", legacy["renders_per_s"], "msg/s"])
        summary.append(["reference: CPU of the rendering process / of the PostgreSQL backend",
                        f"{legacy['cpu_s']} / {legacy['backend_cpu_s']}", "s"])
        now = details["runs"].get(str(LEGACY_N))
        if now and now["ok"]:
            summary.append([f"speed-up at {LEGACY_N:,} (wall)", round(legacy["seconds"] / now["seconds"], 1), "x"])
    else:
        failures.append(f"reference: {legacy['error']}")
    return {"summary": summary, "details": details, "failures": failures}


if __name__ == "__main__":
    main(NAME, run)
