"""update_leaderboards against PostgreSQL with hand-built workouts: the week, all-time and
challenge boards, ties by user id, only changed entries written, users leaving a board."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from include.fitness.leaderboards import update_leaderboards, week_label
from tests.include.fitness import job_data as data

END = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # a Wednesday; ISO week 2026-W49 starts Monday Nov 30
DAY = END.date()
WEEK = "2026-W49"


def midnight_utc(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


@pytest.fixture
def conn(fitness_db):
    data.clean(fitness_db)
    with psycopg.connect(fitness_db) as conn:
        yield conn


@pytest.fixture
def people(conn) -> dict[str, int]:
    """ann 30+20 min this week, bob 50 (a tie with ann: ann has the lower id), cy 10 this week
    and 200 last week, dee only last week, eve inactive (60 this week), fay a workout after
    the interval end only."""
    ids = {n: data.user(conn, n.title(), active=n != "eve") for n in ("ann", "bob", "cy", "dee", "eve", "fay")}
    monday = midnight_utc(date(2026, 11, 30))
    data.workout(conn, ids["ann"], monday + timedelta(hours=7), 30)
    data.workout(conn, ids["ann"], monday + timedelta(days=1, hours=7), 20)
    data.workout(conn, ids["bob"], monday, 50)  # the week's first instant counts
    data.workout(conn, ids["cy"], monday + timedelta(days=2), 10)
    data.workout(conn, ids["cy"], monday - timedelta(seconds=1), 200)  # last week
    data.workout(conn, ids["dee"], monday - timedelta(days=3), 40)
    data.workout(conn, ids["eve"], monday + timedelta(hours=1), 60)
    data.workout(conn, ids["fay"], END, 90)  # at the interval end: not yet
    conn.commit()
    return ids


def run(conn, end=END, day=DAY, midnight=midnight_utc):
    return update_leaderboards(conn, end, day, midnight)


def test_global_boards_rank_by_minutes_ties_by_user_id(conn, people):
    result = run(conn)
    p = people
    assert data.board(conn, "global", WEEK) == [(1, p["ann"], 50.0), (2, p["bob"], 50.0), (3, p["cy"], 10.0)]
    assert data.board(conn, "global", "all-time") == [
        (1, p["cy"], 210.0), (2, p["ann"], 50.0), (3, p["bob"], 50.0), (4, p["dee"], 40.0)]
    assert result["week"] == WEEK and result["boards"] == 2 and result["challenges"] == 0
    assert result["board_entries"] == {f"global/{WEEK}": 3, "global/all-time": 4}
    assert (result["inserted"], result["updated"], result["deleted"]) == (7, 0, 0)


def test_rerun_writes_nothing_and_a_change_writes_only_what_moved(conn, people):
    run(conn)
    before = data.entry_versions(conn)
    again = run(conn)
    assert (again["inserted"], again["updated"], again["deleted"]) == (0, 0, 0)
    assert data.entry_versions(conn) == before

    data.workout(conn, people["bob"], END - timedelta(hours=1), 5)  # bob 55: passes ann this week
    conn.commit()
    moved = run(conn)
    after = data.entry_versions(conn)
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {("global", WEEK, people["ann"]), ("global", WEEK, people["bob"]),
                       ("global", "all-time", people["ann"]), ("global", "all-time", people["bob"])}
    assert (moved["inserted"], moved["updated"], moved["deleted"]) == (0, 4, 0)
    assert data.board(conn, "global", WEEK)[:2] == [(1, people["bob"], 55.0), (2, people["ann"], 50.0)]


def test_users_leaving_a_board_are_deleted(conn, people):
    run(conn)
    conn.execute("UPDATE fitness.users SET is_active = false WHERE id = %s", (people["cy"],))
    conn.execute("DELETE FROM fitness.workouts WHERE user_id = %s", (people["dee"],))
    conn.commit()
    result = run(conn)
    assert result["deleted"] == 3  # cy from both boards, dee from all-time
    assert [u for _, u, _ in data.board(conn, "global", "all-time")] == [people["ann"], people["bob"]]
    assert [r for r, _, _ in data.board(conn, "global", WEEK)] == [1, 2]


def test_challenge_board_scores_participants_in_its_dates(conn, people):
    p = people
    running = data.challenge(conn, "December", date(2026, 12, 1), date(2026, 12, 31), [p["ann"], p["cy"], p["dee"]])
    data.challenge(conn, "Starts tomorrow", date(2026, 12, 3), date(2026, 12, 10), [p["ann"]])
    data.workout(conn, p["cy"], midnight_utc(date(2026, 12, 1)), 15)  # the challenge's first instant
    conn.commit()
    result = run(conn)
    period = "2026-12-01/2026-12-31"
    # ann's Tuesday 20 min, cy's Wednesday 10 + Tuesday 15; dee has none yet (0, still on it)
    assert data.board(conn, f"challenge:{running}", period) == [
        (1, p["cy"], 25.0), (2, p["ann"], 20.0), (3, p["dee"], 0.0)]
    scores = dict(conn.execute("SELECT user_id, score FROM fitness.challenge_participants WHERE challenge_id = %s",
                               (running,)).fetchall())
    assert {k: float(v) for k, v in scores.items()} == {p["cy"]: 25.0, p["ann"]: 20.0, p["dee"]: 0.0}
    assert result["challenges"] == 1 and result["boards"] == 3 and result["participant_scores_updated"] == 2
    again = run(conn)
    assert again["participant_scores_updated"] == 0 and again["inserted"] + again["updated"] == 0


def test_week_follows_the_local_calendar():
    """The ISO week of the interval end's local date, bounded by local midnights."""
    zone = ZoneInfo("Pacific/Auckland")  # Monday Nov 30 local is still Sunday Nov 29 in UTC
    assert week_label(date(2026, 11, 30)) == WEEK and week_label(date(2026, 11, 29)) == "2026-W48"
    assert datetime.combine(date(2026, 11, 30), time(), tzinfo=zone).astimezone(UTC).date() == date(2026, 11, 29)


def test_local_week_start(conn, people):
    zone = ZoneInfo("Pacific/Auckland")
    end = datetime(2026, 11, 30, 12, 0, tzinfo=zone)  # Monday noon in Auckland: W49 just started

    def midnight(day):
        return datetime.combine(day, time(), tzinfo=zone)

    # bob's workout at Monday 00:00 UTC is Monday 13:00 in Auckland, after `end`; nobody's counts yet except
    # what started from Monday 00:00 Auckland (Sunday 11:00 UTC) to Monday 12:00 Auckland (Sunday 23:00 UTC).
    data.workout(conn, people["dee"], datetime(2026, 11, 29, 12, 0, tzinfo=UTC), 7)
    conn.commit()
    result = run(conn, end=end, day=end.date(), midnight=midnight)
    assert result["week"] == WEEK
    assert data.board(conn, "global", WEEK) == [(1, people["dee"], 7.0)]


def test_entries_follow_their_user_without_a_per_row_key(conn, people, fitness_db):
    """Migration 0015: the entries have no per-row key check on the user. Deleting a user
    deletes their entries, even ones a board in flight writes (the delete waits for the
    board's advisory lock), and truncating users empties the boards."""
    import threading

    from include.fitness.repository import leaderboards as repository

    run(conn)
    repository.lock(conn)  # a board in flight
    conn.execute("UPDATE fitness.leaderboard_entries SET score = score + 1 WHERE user_id = %s", (people["dee"],))
    deleted = threading.Event()

    def delete_dee() -> None:
        with psycopg.connect(fitness_db) as other:
            other.execute("DELETE FROM fitness.users WHERE id = %s", (people["dee"],))
            other.commit()
        deleted.set()

    worker = threading.Thread(target=delete_dee)
    worker.start()
    assert not deleted.wait(1.0)  # the delete waits for the board's commit...
    conn.execute("""INSERT INTO fitness.leaderboard_entries (leaderboard_id, user_id, rank, score)
                    SELECT id, %s, 9, 5 FROM fitness.leaderboards WHERE board = 'global' AND period = %s""",
                 (people["dee"], WEEK))  # ...which adds an entry of dee's (on this week's board, where dee was not)
    conn.commit()
    worker.join(30)
    assert deleted.is_set()
    assert conn.execute("SELECT count(*) FROM fitness.leaderboard_entries WHERE user_id = %s",
                        (people["dee"],)).fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM fitness.leaderboard_entries").fetchone()[0] > 0
    conn.execute("TRUNCATE fitness.users CASCADE")
    assert conn.execute("SELECT count(*) FROM fitness.leaderboard_entries").fetchone()[0] == 0
    conn.commit()
    trigger = conn.execute("SELECT prosrc FROM pg_proc WHERE proname = 'users_delete_wait_for_boards'").fetchone()[0]
    assert f"hashtext('{repository.LOCK_KEY}')" in trigger  # the trigger waits on the boards' own key


def test_a_user_delete_does_not_deadlock_with_a_challenge_board(conn, people, fitness_db):
    """The delete takes the boards' lock before deleting any row: a challenge board in flight
    that updates the deleted participant's score finishes first (no deadlock), and deletes
    take the lock shared, so two of them do not wait for each other."""
    import threading

    from include.fitness.repository import leaderboards as repository

    challenge = conn.execute("""INSERT INTO fitness.challenges (title, start_date, end_date)
                                VALUES ('c', %s, %s) RETURNING id""", (DAY, DAY)).fetchone()[0]
    conn.execute("""INSERT INTO fitness.challenge_participants (challenge_id, user_id)
                    SELECT %s, id FROM fitness.users""", (challenge,))
    conn.commit()
    repository.lock(conn)  # a challenge board in flight...
    results: dict[str, str] = {}

    def delete(name: str) -> None:
        try:
            with psycopg.connect(fitness_db) as other:
                other.execute("DELETE FROM fitness.users WHERE id = %s", (people[name],))
                other.commit()
            results[name] = "deleted"
        except psycopg.Error as exc:
            results[name] = f"{type(exc).__name__}: {exc}"

    workers = [threading.Thread(target=delete, args=(n,)) for n in ("dee", "cy")]
    for w in workers:
        w.start()
    threading.Event().wait(1.0)
    assert results == {}  # both wait for the board...
    conn.execute("UPDATE fitness.challenge_participants SET score = 1 WHERE challenge_id = %s", (challenge,))
    conn.commit()  # ...which updates the participants they delete without waiting for them
    for w in workers:
        w.join(30)
    assert results == {"dee": "deleted", "cy": "deleted"}


def _partitions(conn) -> set[str]:
    return {r[0] for r in conn.execute("SELECT inhrelid::regclass::text FROM pg_inherits "
                                       "WHERE inhparent = 'fitness.leaderboard_entries'::regclass")}


def test_a_new_board_gets_its_own_partition_and_a_merge_fills_it_the_same(conn, people):
    """Migration 0017: a board's first run builds its partition (filled, then indexed); a
    later run into the emptied partition takes the merge path and writes the same entries;
    deleting a board drops its partition, truncating the boards drops them all."""
    built = run(conn)
    ids = dict(((b, p), i) for i, b, p in conn.execute("SELECT id, board, period FROM fitness.leaderboards"))
    assert _partitions(conn) == {f"fitness.leaderboard_entries_{i}" for i in ids.values()}
    assert len(ids) == 2
    indexes = {r[0] for r in conn.execute(
        "SELECT indexdef FROM pg_indexes WHERE tablename = %s", (f"leaderboard_entries_{ids['global', WEEK]}",))}
    assert any("(leaderboard_id, user_id)" in d and "UNIQUE" in d for d in indexes)
    assert any("(leaderboard_id, rank)" in d for d in indexes)
    boards = {k: data.board(conn, *k) for k in ids}

    conn.execute("DELETE FROM fitness.leaderboard_entries")
    conn.commit()
    merged = run(conn)
    assert {k: data.board(conn, *k) for k in ids} == boards
    assert merged["inserted"] == built["inserted"] == 7 and _partitions(conn) == {
        f"fitness.leaderboard_entries_{i}" for i in ids.values()}

    conn.execute("DELETE FROM fitness.leaderboards WHERE id = %s", (ids["global", WEEK],))
    conn.commit()
    assert _partitions(conn) == {f"fitness.leaderboard_entries_{ids['global', 'all-time']}"}
    assert data.board(conn, "global", "all-time") == boards["global", "all-time"]
    conn.execute("TRUNCATE fitness.leaderboards")
    conn.commit()
    assert _partitions(conn) == set()
    assert conn.execute("SELECT count(*) FROM fitness.leaderboard_entries").fetchone()[0] == 0
