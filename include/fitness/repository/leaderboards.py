"""SQL of the leaderboards: one statement per board scores its users, ranks them with a window
function and merges the ranking into `fitness.leaderboard_entries`, writing only the entries
whose rank or score changed and deleting those of users no longer on the board."""

from __future__ import annotations

from datetime import date, datetime

import psycopg

LOCK_KEY = "fitness_leaderboards"

# The merge shared by every board: `scores` (user_id, score) is the board's truth. Ranks are
# positions 1..n by score, ties by the lower user id (row_number: no two users share a rank, so
# a rerun ranks the same). `changed` compares the ranking with the stored entries by joining
# the table itself (its primary key answers the probe whatever the row estimates), and only
# its rows are inserted or updated: an `ON CONFLICT DO UPDATE ... WHERE` would lock, and so
# rewrite, every unchanged row. The DELETE asks `{on_board}` (index probes into the source
# tables for the entry's user) instead of anti-joining the `ranked` CTE, which has no
# statistics: with the entries' estimate stale the planner nested-looped over it (n x n: 49 s
# for a 20k-entry rerun). The statements of a board touch disjoint users, so they can share
# the statement's snapshot.
_MERGE = """
    ranked AS (
        SELECT user_id, score::numeric(12, 2) AS score,
               (row_number() OVER (ORDER BY score DESC, user_id))::integer AS rank
          FROM scores
    ),
    changed AS (
        SELECT r.user_id, r.rank, r.score, e.user_id IS NULL AS is_new
          FROM ranked r
          LEFT JOIN fitness.leaderboard_entries e
                 ON e.board = %(board)s AND e.period = %(period)s AND e.user_id = r.user_id
         WHERE e.user_id IS NULL OR (e.rank, e.score) IS DISTINCT FROM (r.rank, r.score)
    ),
    inserted AS (
        INSERT INTO fitness.leaderboard_entries (board, period, user_id, rank, score, updated_at)
        SELECT %(board)s, %(period)s, user_id, rank, score, %(at)s FROM changed WHERE is_new
        RETURNING 1
    ),
    updated AS (
        UPDATE fitness.leaderboard_entries e
           SET rank = c.rank, score = c.score, updated_at = %(at)s
          FROM changed c
         WHERE NOT c.is_new AND e.board = %(board)s AND e.period = %(period)s AND e.user_id = c.user_id
        RETURNING 1
    ),
    deleted AS (
        DELETE FROM fitness.leaderboard_entries e
         WHERE e.board = %(board)s AND e.period = %(period)s
           AND NOT ({on_board})
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM ranked), (SELECT count(*) FROM inserted),
           (SELECT count(*) FROM updated), (SELECT count(*) FROM deleted)
"""

# Memory for one board's aggregate and ranking sort (server side, this transaction only): a
# million users' groups and the 1M-row sort fit in memory instead of spilling to disk, which
# made the all-time board several times slower at 20M workouts with the default 4 MB.
WORK_MEM = "128MB"


def lock(conn: psycopg.Connection) -> None:
    """Serialise runs (a backfill beside the scheduled run) until the transaction ends."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (LOCK_KEY,))


def _merge(conn: psycopg.Connection, scores_sql: str, on_board_sql: str, params: dict) -> dict[str, int]:
    """Merge the board `scores_sql` computes; `on_board_sql` is true for an entry `e` whose
    user is still on the board (the same rule as `scores_sql`, as a per-user probe)."""
    sql = f"WITH scores AS ({scores_sql}), " + _MERGE.format(on_board=on_board_sql)  # noqa: S608 - fixed SQL
    conn.execute("SELECT set_config('work_mem', %s, true)", (WORK_MEM,))
    row = conn.execute(sql, params).fetchone()
    return {"entries": int(row[0]), "inserted": int(row[1]), "updated": int(row[2]), "deleted": int(row[3])}


def refresh_global_board(conn: psycopg.Connection, period: str, start: datetime | None, end: datetime,
                         at: datetime) -> dict[str, int]:
    """The global board of `period`: every active user's workout minutes started in
    [start, end) (`start` None: all time), users without any left off."""
    since = "" if start is None else "AND w.started_at >= %(start)s"  # an index range for a week
    scores = f"""
        SELECT w.user_id, sum(w.duration_minutes) AS score
          FROM fitness.workouts w
          JOIN fitness.users u ON u.id = w.user_id AND u.is_active
         WHERE w.started_at < %(end)s {since}
         GROUP BY w.user_id
    """  # noqa: S608 - the only interpolation is the constant predicate above
    on_board = f"""
        EXISTS (SELECT 1 FROM fitness.users u WHERE u.id = e.user_id AND u.is_active)
        AND EXISTS (SELECT 1 FROM fitness.workouts w WHERE w.user_id = e.user_id AND w.started_at < %(end)s {since})
    """  # noqa: S608 - as above; a workout has duration_minutes > 0, so having one is being on the board
    return _merge(conn, scores, on_board,
                  {"board": "global", "period": period, "start": start, "end": end, "at": at})


def active_challenges(conn: psycopg.Connection, day: date) -> list[tuple[int, date, date]]:
    """(id, start_date, end_date) of the challenges running on `day`, by id."""
    return conn.execute(
        "SELECT id, start_date, end_date FROM fitness.challenges WHERE start_date <= %s AND end_date >= %s "
        "ORDER BY id", (day, day)).fetchall()


def refresh_challenge_board(conn: psycopg.Connection, challenge_id: int, period: str, start: datetime,
                            end: datetime, at: datetime) -> dict[str, int]:
    """The board of one challenge: every participant (active users; 0 when they have not
    worked out yet) scored by the workout minutes started in [start, end); the same score
    is written to `challenge_participants.score` of every participant whose score differs."""
    scores = """
        SELECT p.user_id, coalesce(sum(w.duration_minutes), 0) AS score
          FROM fitness.challenge_participants p
          JOIN fitness.users u ON u.id = p.user_id AND u.is_active
          LEFT JOIN fitness.workouts w ON w.user_id = p.user_id
                                      AND w.started_at >= %(start)s AND w.started_at < %(end)s
         WHERE p.challenge_id = %(challenge)s
         GROUP BY p.user_id
    """
    params = {"board": f"challenge:{challenge_id}", "period": period, "challenge": challenge_id,
              "start": start, "end": end, "at": at}
    on_board = """
        EXISTS (SELECT 1 FROM fitness.users u WHERE u.id = e.user_id AND u.is_active)
        AND EXISTS (SELECT 1 FROM fitness.challenge_participants p
                     WHERE p.challenge_id = %(challenge)s AND p.user_id = e.user_id)
    """
    counts = _merge(conn, scores, on_board, params)
    counts["participant_scores_updated"] = conn.execute(
        """
        WITH totals AS (
            SELECT p.user_id, coalesce(sum(w.duration_minutes), 0)::numeric(12, 2) AS score
              FROM fitness.challenge_participants p
              LEFT JOIN fitness.workouts w ON w.user_id = p.user_id
                                          AND w.started_at >= %(start)s AND w.started_at < %(end)s
             WHERE p.challenge_id = %(challenge)s
             GROUP BY p.user_id
        )
        UPDATE fitness.challenge_participants p SET score = t.score
          FROM totals t
         WHERE p.challenge_id = %(challenge)s AND p.user_id = t.user_id AND p.score IS DISTINCT FROM t.score
        """, params).rowcount
    return counts
