"""clean_temporary_data against PostgreSQL and a temporary upload root: expired uploads and
their files go in batches after the commit, a path outside the root is refused, a missing
file counted; stale cached stats are recomputed in one pass; a rerun does nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from include.fitness.cleanup import clean_temporary_data
from tests.include.fitness import job_data as data

END = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)


@pytest.fixture
def conn(fitness_db):
    data.clean(fitness_db)
    with psycopg.connect(fitness_db) as conn:
        conn.execute("TRUNCATE fitness.cached_stats")
        conn.commit()
        yield conn


def upload(conn, user_id, path: str, age: timedelta) -> int:
    return conn.execute("INSERT INTO fitness.temporary_uploads (user_id, file_path, created_at) VALUES (%s, %s, %s) "
                        "RETURNING id", (user_id, path, END - age)).fetchone()[0]


def test_expired_uploads_and_files_go_in_batches(conn, tmp_path):
    root = tmp_path / "uploads"
    (root / "u1").mkdir(parents=True)
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    uid = data.user(conn, "Up")
    for i in range(5):
        (root / "u1" / f"{i}.jpg").write_bytes(b"x")
        upload(conn, uid, f"u1/{i}.jpg", timedelta(hours=25 + i))
    upload(conn, uid, "u1/gone.jpg", timedelta(days=3))  # file already missing
    upload(conn, uid, "../precious.txt", timedelta(days=3))  # outside the root: refused
    upload(conn, uid, str(outside), timedelta(days=3))  # absolute: refused
    (root / "u1" / "fresh.jpg").write_bytes(b"x")
    fresh = upload(conn, uid, "u1/fresh.jpg", timedelta(hours=23))
    edge = upload(conn, uid, "u1/edge.jpg", timedelta(hours=24))  # exactly 24 h: not older, stays
    conn.commit()

    result = clean_temporary_data(conn, END, upload_root=root, batch_size=3)
    assert {k: result[k] for k in ("deleted_uploads", "deleted_files", "missing_files", "refused_files",
                                   "batches")} == {"deleted_uploads": 8, "deleted_files": 5, "missing_files": 1,
                                                   "refused_files": 2, "batches": 3}
    left = [r[0] for r in conn.execute("SELECT id FROM fitness.temporary_uploads ORDER BY id")]
    assert left == [fresh, edge]
    assert sorted(p.name for p in (root / "u1").iterdir()) == ["fresh.jpg"]
    assert outside.read_text() == "keep me"
    again = clean_temporary_data(conn, END, upload_root=root, batch_size=3)
    assert again["deleted_uploads"] == 0 and again["batches"] == 0 and again["stats_refreshed"] == 0


def test_missing_upload_root_fails_before_deleting(conn, tmp_path):
    upload(conn, data.user(conn, "Root"), "a.jpg", timedelta(days=2))
    conn.commit()
    with pytest.raises(FileNotFoundError, match="fitness_upload_root"):
        clean_temporary_data(conn, END, upload_root=tmp_path / "nope")
    assert conn.execute("SELECT count(*) FROM fitness.temporary_uploads").fetchone()[0] == 1
    # nothing expired: no root needed
    assert clean_temporary_data(conn, END - timedelta(days=1), upload_root=tmp_path / "nope")["deleted_uploads"] == 0


def test_stale_cached_stats_recomputed_in_one_pass(conn, tmp_path):
    ann, bob, cy = (data.user(conn, n) for n in ("Ann", "Bob", "Cy"))
    data.workout(conn, ann, END - timedelta(days=20), 30, 300)
    data.workout(conn, ann, END - timedelta(days=1), 45, 400)
    data.workout(conn, ann, END + timedelta(hours=1), 99, 999)  # after the interval end: not counted
    data.workout(conn, cy, END - timedelta(days=2), 10, 50)
    for uid, age in ((ann, timedelta(days=8)), (bob, timedelta(days=30)), (cy, timedelta(days=6))):
        conn.execute("INSERT INTO fitness.cached_stats (user_id, stats, last_updated) VALUES (%s, '{}', %s)",
                     (uid, END - age))
    conn.commit()
    result = clean_temporary_data(conn, END, upload_root=tmp_path)
    assert result["stats_refreshed"] == 2
    stats = {u: (s, t) for u, s, t in conn.execute("SELECT user_id, stats, last_updated FROM fitness.cached_stats")}
    assert {k: stats[ann][0][k] for k in ("workouts", "total_minutes", "total_calories")} == {
        "workouts": 2, "total_minutes": 75, "total_calories": 700}
    assert datetime.fromisoformat(stats[ann][0]["last_workout_at"]) == END - timedelta(days=1)
    assert stats[bob][0]["workouts"] == 0 and stats[bob][0]["last_workout_at"] is None
    assert stats[ann][1] == END and stats[bob][1] == END
    assert stats[cy] == ({}, END - timedelta(days=6))  # fresh enough: untouched
    assert json.dumps(stats[ann][0])  # plain JSON
    assert clean_temporary_data(conn, END, upload_root=tmp_path)["stats_refreshed"] == 0
