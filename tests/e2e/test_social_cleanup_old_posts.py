"""social_cleanup_old_posts end to end with dag.test(): a dry run changes nothing, the real
run removes this test's old quiet post with its likes, comments, hashtag links and media
files and keeps the rest, a rerun removes nothing more, a bad --conf is rejected naming the
field. The app database is shared with other tests: the age limit is set to 5000 days so
only posts from before mid-2012 (this test's) are old enough, and only its rows are asserted."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.e2e.conftest import run_dag, task_result, task_states

T = datetime(2026, 3, 8, 1, 0, tzinfo=UTC)  # a Sunday 01:00: the data interval's end
OLD_DAYS = 5000  # cutoff 2012-07-xx
ANCIENT = datetime(2011, 1, 1, tzinfo=UTC)
YOUNG = datetime(2013, 1, 1, tzinfo=UTC)  # old, but after the cutoff



@pytest.fixture
def world(app_db, tmp_path, monkeypatch):
    """Posts of this test: `quiet` (2011, 1 like, 1 comment, a hashtag, media with files),
    `popular` (2011, 5 likes) and `young` (2013, no engagement)."""
    monkeypatch.setenv("AIRFLOW_VAR_SOCIAL_OLD_POST_DAYS", str(OLD_DAYS))
    monkeypatch.setenv("AIRFLOW_VAR_SOCIAL_MEDIA_ROOT", str(tmp_path / "media"))
    suffix = uuid.uuid4().hex[:8]
    with psycopg.connect(app_db) as conn:
        users = [conn.execute("INSERT INTO social.users (email, username) VALUES (%s, %s) RETURNING id",
                              (f"oldp{i}_{suffix}@e2e.test", f"oldp{i}_{suffix}")).fetchone()[0] for i in range(6)]
        posts = {name: conn.execute("INSERT INTO social.posts (author_id, body, created_at) VALUES (%s, %s, %s) "
                                    "RETURNING id", (users[0], name, at)).fetchone()[0]
                 for name, at in (("quiet", ANCIENT), ("popular", ANCIENT), ("young", YOUNG))}
        conn.execute("INSERT INTO social.likes (user_id, post_id) VALUES (%s, %s)", (users[1], posts["quiet"]))
        conn.execute("INSERT INTO social.comments (author_id, post_id) VALUES (%s, %s)", (users[2], posts["quiet"]))
        conn.cursor().executemany("INSERT INTO social.likes (user_id, post_id) VALUES (%s, %s)",
                                  [(u, posts["popular"]) for u in users[1:6]])
        tag = conn.execute("INSERT INTO social.hashtags (tag) VALUES (%s) RETURNING id",
                           (f"old{suffix}",)).fetchone()[0]
        conn.execute("INSERT INTO social.post_hashtags VALUES (%s, %s, %s)", (posts["quiet"], tag, ANCIENT))
        media = conn.execute("INSERT INTO social.media_uploads (user_id, post_id, original_path) VALUES (%s, %s, %s) "
                             "RETURNING id", (users[0], posts["quiet"], f"originals/{suffix}.jpg")).fetchone()[0]
        conn.execute("INSERT INTO social.media_variants VALUES (%s, 'thumb', %s, 'webp', 1, 1, 4)",
                     (media, f"variants/{media}/thumb.webp"))
    root = tmp_path / "media"
    files = [root / "originals" / f"{suffix}.jpg", root / "variants" / str(media) / "thumb.webp"]
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    return {"posts": posts, "users": users, "files": files}


def state(app_db, world) -> dict:
    ids = list(world["posts"].values())
    with psycopg.connect(app_db) as conn:
        return {
            "posts": sorted(r[0] for r in conn.execute("SELECT body FROM social.posts WHERE id = ANY(%s)", (ids,))),
            "likes": conn.execute("SELECT count(*) FROM social.likes WHERE post_id = ANY(%s)", (ids,)).fetchone()[0],
            "comments": conn.execute("SELECT count(*) FROM social.comments WHERE post_id = ANY(%s)",
                                     (ids,)).fetchone()[0],
            "links": conn.execute("SELECT count(*) FROM social.post_hashtags WHERE post_id = ANY(%s)",
                                  (ids,)).fetchone()[0],
            "media": conn.execute("SELECT count(*) FROM social.media_uploads WHERE post_id = ANY(%s)",
                                  (ids,)).fetchone()[0],
            "files": [p.exists() for p in world["files"]],
        }


def test_dry_run_then_cleanup_then_rerun(repo_dags, app_db, world):
    dag = repo_dags["social_cleanup_old_posts"]
    before = state(app_db, world)
    assert before == {"posts": ["popular", "quiet", "young"], "likes": 6, "comments": 1, "links": 1, "media": 1,
                      "files": [True, True]}

    dry = run_dag(dag, T, {"dry_run": True})
    assert dry.state == "success", task_states(dry)
    report = task_result(dry, "remove_old_posts")
    assert report["dry_run"] is True and report["deleted_posts"] == 0
    assert world["posts"]["quiet"] in report["sample_ids"] and world["posts"]["popular"] not in report["sample_ids"]
    assert state(app_db, world) == before, "a dry run changes nothing"

    # dry_run given explicitly: in-process dag.test() keeps the previous run's Param value
    # (process_params resolves conf into the shared Param object; a worker parses afresh).
    run = run_dag(dag, T + timedelta(days=7), {"dry_run": False})
    assert run.state == "success", task_states(run)
    receipt = task_result(run, "remove_old_posts")
    assert receipt["dry_run"] is False and receipt["deleted_posts"] >= 1 and receipt["deleted_media_files"] >= 2
    assert state(app_db, world) == {"posts": ["popular", "young"], "likes": 5, "comments": 0, "links": 0,
                                    "media": 0, "files": [False, False]}
    assert not world["files"][1].parent.exists(), "the variant folder is gone"

    rerun = run_dag(dag, T + timedelta(days=7), {"dry_run": False})
    assert rerun.state == "success", task_states(rerun)
    assert task_result(rerun, "remove_old_posts")["deleted_posts"] == 0
    assert state(app_db, world)["posts"] == ["popular", "young"]


def test_bad_conf_is_rejected_naming_the_field(repo_dags):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="dry_run"):
        repo_dags["social_cleanup_old_posts"].test(logical_date=T + timedelta(days=14), run_conf={"dry_run": "yes"})
