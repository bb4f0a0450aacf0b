"""social_send_content_digest end to end with dag.test(): a weekly run emails the week's top
posts of followed accounts to active, opted-in followers only, once per user per week."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.e2e.conftest import run_dag, task_result, task_states
from tests.e2e.unsubscribe_support import assert_one_click_unsubscribe

# dag.test at a Monday 09:00 logical date runs the week that ends then.
WEEK_END = datetime(2026, 8, 17, 9, 0, tzinfo=UTC)
WEEK_START = WEEK_END - timedelta(days=7)  # Monday 2026-08-10: ISO week 2026-W33



@pytest.fixture
def graph(app_db) -> dict:
    """reader follows author; optout and inactive follow author too; quiet follows silent,
    who posted nothing that week. The author's week: p1 3 likes (3), p2 1 comment (3, ties
    with p1, higher id), p3 nothing (0); p0 the week before (many likes)."""
    tag = uuid.uuid4().hex[:10]
    seen = WEEK_END - timedelta(days=2)
    people = {"author": (None, False), "silent": (None, False), "reader": (seen, False),
              "optout": (seen, True), "inactive": (WEEK_END - timedelta(days=40), False), "quiet": (seen, False)}
    with psycopg.connect(app_db) as conn:
        ids = {name: conn.execute(
            """INSERT INTO social.users (email, username, full_name, last_activity_at, digest_opt_out)
               VALUES (%s, %s, %s, %s, %s) RETURNING id""",
            (f"{name}_{tag}@e2e.test", f"{name}_{tag}", name.title(), last_seen, opt_out)).fetchone()[0]
            for name, (last_seen, opt_out) in people.items()}
        for follower, followee in [("reader", "author"), ("optout", "author"), ("inactive", "author"),
                                   ("quiet", "silent")]:
            conn.execute("INSERT INTO social.follows (follower_id, followee_id, created_at) VALUES (%s, %s, %s)",
                         (ids[follower], ids[followee], WEEK_START - timedelta(days=60)))

        def post(body, at):
            return conn.execute("INSERT INTO social.posts (author_id, body, created_at) VALUES (%s, %s, %s) "
                                "RETURNING id", (ids["author"], f"{body} {tag}", at)).fetchone()[0]

        p0 = post("older news", WEEK_START - timedelta(hours=1))
        p1 = post("three likes", WEEK_START + timedelta(days=1))
        p2 = post("one comment", WEEK_START + timedelta(days=2))
        post("no engagement", WEEK_START + timedelta(days=3))
        for liker in ("optout", "inactive", "quiet"):
            for liked in (p0, p1):
                conn.execute("INSERT INTO social.likes (user_id, post_id, created_at) VALUES (%s, %s, %s)",
                             (ids[liker], liked, WEEK_START + timedelta(days=3)))
        conn.execute("INSERT INTO social.comments (post_id, author_id, body, created_at) VALUES (%s, %s, 'yes', %s)",
                     (p2, ids["reader"], WEEK_START + timedelta(days=4)))
    return {"tag": tag, "ids": ids, "email": {name: f"{name}_{tag}@e2e.test" for name in people}}


def test_digest_goes_once_to_active_opted_in_followers(repo_dags, sandbox, graph, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_SOCIAL_DIGEST_TOP_N", "2")
    monkeypatch.setenv("AIRFLOW_VAR_SOCIAL_DIGEST_BATCH_SIZE", "1000")
    dag = repo_dags["social_send_content_digest"]
    run = run_dag(dag, WEEK_END)
    assert run.state == "success", task_states(run)
    receipt = task_result(run, "queue_digests")
    assert receipt["week"] == "2026-W33" and receipt["queued"] >= 1 and receipt["batches"] >= 1

    [mail] = sandbox.emails(to=graph["email"]["reader"])
    assert mail["dedupe_key"] == f"digest:{graph['ids']['reader']}:2026-W33"
    assert mail["subject"] == "Your week on Social, Aug 10–17: 2 top posts from people you follow"
    text, tag = mail["text"], graph["tag"]
    assert "2026-08-10 to 2026-08-17" in text
    assert text.index(f"three likes {tag}") < text.index(f"one comment {tag}")
    assert "3 likes · 0 comments" in text and "0 likes · 1 comment" in text
    assert f"no engagement {tag}" not in text and f"older news {tag}" not in text
    assert_one_click_unsubscribe(mail, "social", "digest", graph["ids"]["reader"])
    for nobody in ("optout", "inactive", "quiet", "author", "silent"):
        assert sandbox.emails(to=graph["email"][nobody]) == [], nobody

    rerun = run_dag(dag, WEEK_END)  # a clear or a backfill of the same week
    assert rerun.state == "success", task_states(rerun)
    again = task_result(rerun, "queue_digests")
    assert again["skipped_already_sent"] >= 1 and again["recipients"] == receipt["recipients"]
    assert again["queued"] == 0
    next_week = run_dag(dag, WEEK_END + timedelta(days=7))  # the author posted nothing then
    assert next_week.state == "success", task_states(next_week)
    assert len(sandbox.emails(to=graph["email"]["reader"])) == 1
