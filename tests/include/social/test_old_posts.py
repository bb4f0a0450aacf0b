"""cleanup_old_posts against PostgreSQL with hand-built posts: exactly which go, the child
rows and media files that go with them, dry run, rerun and the soft time limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from include.common.time_budget import SoftTimeLimitExceeded
from include.social import old_posts
from include.social.old_posts import cleanup_old_posts
from tests.budgets import ScriptedBudget

END = datetime(2026, 3, 8, 1, 0, tzinfo=UTC)  # a Sunday 01:00 interval end
CUTOFF = END - timedelta(days=365)
DAY = timedelta(days=1)

# name: (created_at, likes, comments); threshold 5: engagement 0..4 goes when old.
POSTS = {
    "old_quiet": (CUTOFF - DAY, 2, 2),          # 4 < 5: goes, with its links and media
    "old_zero": (CUTOFF - 300 * DAY, 0, 0),     # goes
    "old_missing_media": (CUTOFF - 2 * DAY, 1, 0),  # goes; its media file is already gone
    "old_popular": (CUTOFF - 10 * DAY, 3, 2),   # 5: stays
    "old_liked": (CUTOFF - 20 * DAY, 9, 0),     # 9 likes: stays (counting stops at 5)
    "at_cutoff": (CUTOFF, 0, 0),                # exactly 365 days old: stays (strictly older only)
    "recent_quiet": (END - 30 * DAY, 0, 0),     # stays
}
GOING = {"old_quiet", "old_zero", "old_missing_media"}


@pytest.fixture
def world(social_db, tmp_path):
    """The posts above, each with hashtag links; media with real files under a media root."""
    media_root = tmp_path / "media"
    with psycopg.connect(social_db) as conn:
        conn.execute("TRUNCATE social.users, social.hashtags CASCADE")
        users = [conn.execute("INSERT INTO social.users (email, username) VALUES (%s, %s) RETURNING id",
                              (f"old{i}@example.com", f"old{i}")).fetchone()[0] for i in range(10)]
        tag = conn.execute("INSERT INTO social.hashtags (tag) VALUES ('vintage') RETURNING id").fetchone()[0]
        ids = {}
        for name, (created, likes, comments) in POSTS.items():
            post = conn.execute("INSERT INTO social.posts (author_id, body, created_at) VALUES (%s, %s, %s) "
                                "RETURNING id", (users[0], name, created)).fetchone()[0]
            ids[name] = post
            conn.execute("INSERT INTO social.post_hashtags VALUES (%s, %s, %s)", (post, tag, created))
            for liker in users[1:1 + likes]:
                conn.execute("INSERT INTO social.likes (user_id, post_id, created_at) VALUES (%s, %s, %s)",
                             (liker, post, created))
            for i in range(comments):
                conn.execute("INSERT INTO social.comments (post_id, author_id, body, created_at) "
                             "VALUES (%s, %s, %s, %s)", (post, users[1 + i], "hi", created))
        files = {}
        for name in ("old_quiet", "old_missing_media", "old_popular"):
            files[name] = _add_media(conn, media_root, users[0], ids[name],
                                     write_original=name != "old_missing_media")
        conn.commit()
        yield {"dsn": social_db, "conn": conn, "ids": ids, "media_root": media_root, "files": files}


def _add_media(conn, root: Path, user: int, post: int, *, write_original: bool) -> list[Path]:
    """A media row with its original (relative path) and two variants in a folder of their
    own (one recorded relative, one absolute)."""
    media = conn.execute("INSERT INTO social.media_uploads (user_id, post_id, original_path, status) "
                         "VALUES (%s, %s, %s, 'ready') RETURNING id",
                         (user, post, f"originals/{post}.jpg")).fetchone()[0]
    original = root / "originals" / f"{post}.jpg"
    variants = root / "variants" / str(media)
    variants.mkdir(parents=True)
    original.parent.mkdir(parents=True, exist_ok=True)
    if write_original:
        original.write_bytes(b"jpeg")
    for variant, recorded in (("w320", f"variants/{media}/w320.webp"), ("thumb", str(variants / "thumb.webp"))):
        (root / recorded).write_bytes(b"webp")
        conn.execute("INSERT INTO social.media_variants VALUES (%s, %s, %s, 'webp', 1, 1, 4)",
                     (media, variant, recorded))
    return [original, variants / "w320.webp", variants / "thumb.webp"]


def snapshot(conn) -> dict[str, int]:
    return {table: conn.execute(f"SELECT count(*) FROM social.{table}").fetchone()[0]  # noqa: S608
            for table in ("posts", "likes", "comments", "post_hashtags", "media_uploads", "media_variants")}


def remaining(conn) -> set[str]:
    return {r[0] for r in conn.execute("SELECT body FROM social.posts").fetchall()}


def run(world, **kwargs):
    kwargs = {"media_root": world["media_root"], "older_than_days": 365, "min_engagement": 5, **kwargs}
    return cleanup_old_posts(world["conn"], END, **kwargs)


def test_dry_run_reports_and_changes_nothing(world):
    conn, ids = world["conn"], world["ids"]
    before = snapshot(conn)
    result = run(world, dry_run=True)
    assert result["candidates"] == 3
    assert result["sample_ids"] == sorted(ids[n] for n in GOING)
    assert result["dry_run"] is True and result["batches"] == 0
    assert result["deleted_posts"] == result["deleted_media_files"] == 0
    assert snapshot(conn) == before
    assert all(p.exists() for paths in world["files"].values() for p in paths[1:])


def test_removes_exactly_the_old_quiet_posts_with_children_and_files(world):
    conn, root, files = world["conn"], world["media_root"], world["files"]
    before = snapshot(conn)
    result = run(world, batch_size=2)
    assert remaining(conn) == set(POSTS) - GOING
    assert {k: result[k] for k in ("candidates", "deleted_posts", "deleted_likes", "deleted_comments",
                                   "deleted_hashtag_links", "deleted_media_uploads", "deleted_media_files",
                                   "missing_media_files", "skipped_media_files", "batches", "dry_run")} == {
        "candidates": 3, "deleted_posts": 3, "deleted_likes": 3, "deleted_comments": 2,
        "deleted_hashtag_links": 3, "deleted_media_uploads": 2, "deleted_media_files": 5,
        "missing_media_files": 1, "skipped_media_files": 0, "batches": 2, "dry_run": False}
    assert result["cutoff"] == CUTOFF.isoformat()
    after = snapshot(conn)
    assert {t: before[t] - after[t] for t in before} == {
        "posts": 3, "likes": 3, "comments": 2, "post_hashtags": 3, "media_uploads": 2, "media_variants": 4}
    for name in ("old_quiet", "old_missing_media"):
        assert not any(p.exists() for p in files[name])
        assert not files[name][1].parent.exists(), "the emptied variant folder is removed"
    assert all(p.exists() for p in files["old_popular"]), "a kept post keeps its files"
    assert (root / "originals").is_dir() and (root / "variants").is_dir(), "shared folders stay"

    rerun = run(world)
    assert rerun["candidates"] == rerun["deleted_posts"] == rerun["batches"] == 0
    assert snapshot(conn) == after


def test_walks_post_ids_in_ranges(world):
    result = run(world, scan_size=2, batch_size=1)
    assert remaining(world["conn"]) == set(POSTS) - GOING
    assert result["deleted_posts"] == result["batches"] == 3


def test_threshold_and_age_come_from_the_arguments(world):
    # Threshold 10 takes old_popular (5) and old_liked (9) too; the age stays strict.
    result = run(world, min_engagement=10)
    assert remaining(world["conn"]) == {"at_cutoff", "recent_quiet"}
    assert result["deleted_posts"] == 5


def test_a_post_engaged_after_it_was_found_is_kept(world, monkeypatch):
    conn, ids = world["conn"], world["ids"]
    find = old_posts.repo.find_candidates

    def find_then_like(conn_, *args):
        found = find(conn_, *args)
        with psycopg.connect(world["dsn"]) as other:
            users = [r[0] for r in other.execute("SELECT id FROM social.users ORDER BY id LIMIT 5")]
            other.cursor().executemany("INSERT INTO social.likes (user_id, post_id) VALUES (%s, %s)",
                              [(u, ids["old_zero"]) for u in users])
        return found

    monkeypatch.setattr(old_posts.repo, "find_candidates", find_then_like)
    result = run(world)
    assert result["candidates"] == 3 and result["deleted_posts"] == 2
    assert remaining(conn) == set(POSTS) - GOING | {"old_zero"}


def test_soft_time_limit_keeps_committed_batches_and_rerun_finishes(world):
    conn = world["conn"]
    budget = ScriptedBudget([True, True, True, False])  # the range read, two batches, then out of time
    with pytest.raises(SoftTimeLimitExceeded, match="2 batches done") as err:
        run(world, batch_size=1, budget=budget)
    partial = err.value.result
    assert partial["deleted_posts"] == 2
    assert len(remaining(conn) & GOING) == 1, "the two committed batches stay deleted"
    rest = run(world, batch_size=1)
    assert rest["deleted_posts"] == 1
    assert remaining(conn) == set(POSTS) - GOING


def test_a_path_outside_the_media_root_is_not_deleted(world, tmp_path):
    conn, ids = world["conn"], world["ids"]
    outside = tmp_path / "elsewhere.jpg"
    outside.write_bytes(b"keep me")
    conn.execute("INSERT INTO social.media_uploads (user_id, post_id, original_path) "
                 "SELECT author_id, id, %s FROM social.posts WHERE id = %s", (str(outside), ids["old_zero"]))
    conn.commit()
    result = run(world)
    assert result["skipped_media_files"] == 1
    assert outside.read_bytes() == b"keep me"
    assert "old_zero" not in remaining(conn)


def test_empty_table_and_bad_arguments(social_db, tmp_path):
    with psycopg.connect(social_db) as conn:
        conn.execute("TRUNCATE social.users, social.hashtags CASCADE")
        conn.commit()
        result = cleanup_old_posts(conn, END, media_root=tmp_path)
        assert result["candidates"] == result["batches"] == 0
        for bad in ({"min_engagement": 0}, {"older_than_days": 0}, {"batch_size": 0}):
            with pytest.raises(ValueError, match=next(iter(bad))):
                cleanup_old_posts(conn, END, media_root=tmp_path, **bad)
        with pytest.raises(ValueError, match="time-zone aware"):
            cleanup_old_posts(conn, END.replace(tzinfo=None), media_root=tmp_path)
