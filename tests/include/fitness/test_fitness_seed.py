"""The fitness demo data: counts, the cases the jobs need (dead devices, inactive and opted-out
users, challenges starting and ending tomorrow, old uploads with files), determinism, and
seeding twice replacing rather than adding."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from include.demo import fitness_seed
from include.demo import seed as demo_seed
from include.fitness.cleanup import clean_temporary_data
from tests.include.fitness.test_rollups import assert_rollups_exact

TODAY = date(2026, 12, 2)


@pytest.fixture
def conn(fitness_db):
    with psycopg.connect(fitness_db) as conn:
        yield conn


def fingerprint(conn) -> dict[str, str]:
    return {t: conn.execute(f"SELECT md5(coalesce(string_agg(x::text, ';' ORDER BY x::text), '')) FROM fitness.{t} x")
            .fetchone()[0] for t in ("users", "devices", "workouts", "workout_exercises", "challenge_participants",
                                     "cached_stats")}


def test_demo_shape(conn, tmp_path):
    rows = fitness_seed.seed(conn, 1, today=TODAY, upload_root=tmp_path)
    conn.commit()
    assert rows["users"] == 3000 and rows["workouts"] == 36_000 and rows["challenges"] == 3
    assert 3000 <= rows["devices"] <= 9000 and rows["workout_exercises"] >= 36_000
    q = lambda sql, *a: conn.execute(sql, a).fetchone()[0]  # noqa: E731
    assert q("SELECT count(*) FROM fitness.devices WHERE fcm_token LIKE 'invalid-%%'") == 3000 // 250
    assert q("SELECT count(*) FROM fitness.users WHERE NOT is_active") == 60
    assert q("SELECT count(*) FROM fitness.users WHERE email_opt_out") == 150
    assert q("SELECT min(started_at) >= %s AND max(started_at) < %s FROM fitness.workouts",
             datetime(2026, 10, 3, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC))
    # every 10th user stopped more than a week ago; others worked out yesterday
    assert q("SELECT count(*) FROM fitness.workouts WHERE user_id %% 10 = 0 AND started_at >= %s",
             datetime(2026, 11, 25, tzinfo=UTC)) == 0
    assert q("SELECT count(DISTINCT user_id) FROM fitness.workouts WHERE started_at >= %s",
             datetime(2026, 12, 1, tzinfo=UTC)) > 100
    assert q("SELECT count(*) FROM fitness.users u WHERE NOT EXISTS "
             "(SELECT 1 FROM fitness.workouts w WHERE w.user_id = u.id)") > 0
    tomorrow = TODAY + timedelta(days=1)
    assert q("SELECT count(*) FROM fitness.challenges WHERE start_date = %s", tomorrow) == 1
    assert q("SELECT count(*) FROM fitness.challenges WHERE end_date = %s", tomorrow) == 1
    assert q("SELECT count(*) FROM fitness.challenges WHERE start_date <= %s AND end_date >= %s", TODAY, TODAY) == 2
    assert q("SELECT count(*) FROM fitness.cached_stats WHERE last_updated < %s",
             datetime(2026, 11, 25, tzinfo=UTC)) > 0
    assert len(list((tmp_path / "demo").glob("*.jpg"))) == rows["temporary_uploads"] == 8
    # the rollups were recounted after the bulk load, and the triggers are on again
    assert_rollups_exact(conn)
    assert q("SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%%_rollups' AND tgenabled = 'D'") == 0

    result = clean_temporary_data(conn, datetime.now(UTC), upload_root=tmp_path)
    assert result["deleted_uploads"] == result["deleted_files"] == 6 and result["stats_refreshed"] > 0


def test_seeding_is_deterministic_and_replaces(conn, tmp_path):
    fitness_seed.seed(conn, 1, today=TODAY, upload_root=tmp_path)
    conn.commit()
    first = fingerprint(conn)
    fitness_seed.seed(conn, 1, today=TODAY, upload_root=tmp_path)
    conn.commit()
    assert fingerprint(conn) == first
    assert conn.execute("SELECT count(*) FROM fitness.temporary_uploads").fetchone()[0] == 8
    assert demo_seed.SEEDERS["fitness"] is fitness_seed.seed
