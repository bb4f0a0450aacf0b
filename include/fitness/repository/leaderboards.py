"""SQL of the leaderboards: one statement per board scores its users, ranks them with a window
function and merges the ranking into the board's entries, writing only the entries whose rank
or score changed and deleting those of users no longer on the board.

Each board (fitness.leaderboards: board, period) has a partition of its own of
`fitness.leaderboard_entries` (migration 0017). A board's first run builds that partition:
a plain table filled by one INSERT ... SELECT, then its two indexes built by sort and the
table attached, all in the run's transaction, so readers see the whole board at the commit
or nothing. That is ~3x faster than inserting a million entries through the indexes one by
one. Building and attaching a partition is DDL: the job's database role owns the fitness
tables (it is the role the migrations run as).
"""

from __future__ import annotations

from datetime import date, datetime

import psycopg
from psycopg import sql

LOCK_KEY = "fitness_leaderboards"
PARENT = "leaderboard_entries"

_RANKED = """
    ranked AS (
        SELECT user_id, score::numeric(12, 2) AS score,
               (row_number() OVER (ORDER BY score DESC, user_id))::integer AS rank
          FROM scores
         WHERE {ranked_if}
    )"""

# The merge into an existing board: `scores` (user_id, score) is the board's truth. Ranks are
# positions 1..n by score, ties by the lower user id (row_number: no two users share a rank, so
# a rerun ranks the same). `diff` compares the ranking with the board's stored entries in ONE
# full outer join, which the planner can only run as a hash or merge join (never a nested
# loop over a CTE without statistics, which was n x n): entries only in the ranking are
# inserted, entries whose rank or score differ updated (an `ON CONFLICT DO UPDATE ... WHERE`
# would lock, and so rewrite, every unchanged row), entries of users no longer ranked
# deleted, each by primary key. The three touch disjoint users, so they share the
# statement's snapshot.
_MERGE = _RANKED + """,
    diff AS (
        SELECT coalesce(r.user_id, e.user_id) AS user_id, r.rank, r.score,
               e.user_id IS NULL AS is_new, r.user_id IS NULL AS is_gone
          FROM ranked r
          FULL JOIN (SELECT user_id, rank, score FROM fitness.leaderboard_entries
                      WHERE leaderboard_id = %(board_id)s) e ON e.user_id = r.user_id
         WHERE r.user_id IS NULL OR e.user_id IS NULL OR (e.rank, e.score) IS DISTINCT FROM (r.rank, r.score)
    ),
    inserted AS (
        INSERT INTO fitness.leaderboard_entries (leaderboard_id, user_id, rank, score, updated_at)
        SELECT %(board_id)s, user_id, rank, score, %(at)s FROM diff WHERE is_new
         ORDER BY user_id  -- the primary key's pages filled in order, not a million random ones
        RETURNING 1
    ),
    updated AS (
        UPDATE fitness.leaderboard_entries e
           SET rank = d.rank, score = d.score, updated_at = %(at)s
          FROM diff d
         WHERE NOT d.is_new AND NOT d.is_gone
           AND e.leaderboard_id = %(board_id)s AND e.user_id = d.user_id
        RETURNING 1
    ),
    deleted AS (
        DELETE FROM fitness.leaderboard_entries e
         USING diff d
         WHERE d.is_gone AND e.leaderboard_id = %(board_id)s AND e.user_id = d.user_id
        RETURNING 1
    ){extra_cte}
    SELECT (SELECT count(*) FROM ranked), (SELECT count(*) FROM inserted),
           (SELECT count(*) FROM updated), (SELECT count(*) FROM deleted){extra_count}
"""

# A new board's entries, into its partition-to-be (no indexes yet; heap in rank order).
_BUILD = _RANKED + """,
    inserted AS (
        INSERT INTO fitness.{partition} (leaderboard_id, user_id, rank, score, updated_at)
        SELECT %(board_id)s, user_id, rank, score, %(at)s FROM ranked
        RETURNING 1
    ){extra_cte}
    SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM inserted), 0, 0{extra_count}
"""

# Memory for one board's aggregate and ranking sort (server side, this transaction only): a
# million users' groups and the 1M-row sort fit in memory instead of spilling to disk, which
# made the all-time board several times slower at 20M workouts with the default 4 MB. The
# index builds of a new partition sort in maintenance_work_mem.
WORK_MEM = "128MB"


# "The user is active" as an anti-join with the few inactive users (the partial index
# users_inactive_idx of migration 0010) instead of joining every user's row: half the
# all-time board's time at 1M users.
_ACTIVE = "NOT EXISTS (SELECT 1 FROM fitness.users u WHERE u.id = {user} AND NOT u.is_active)"


def lock(conn: psycopg.Connection) -> None:
    """Serialise runs (a backfill beside the scheduled run) until the transaction ends. Every
    board statement runs under it: the entries have no per-row key check on the user
    (migration 0015), and a user's delete takes this lock before deleting their entries, so
    it waits for a board in flight and then removes what that board wrote."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (LOCK_KEY,))


def partition_name(board_id: int) -> str:
    return f"{PARENT}_{board_id}"


def register_board(conn: psycopg.Connection, board: str, period: str) -> tuple[int, bool]:
    """(id, has_partition) of the board, registering it when new (under `lock`)."""
    row = conn.execute("SELECT id FROM fitness.leaderboards WHERE board = %s AND period = %s",
                       (board, period)).fetchone()
    if row is None:
        row = conn.execute("INSERT INTO fitness.leaderboards (board, period) VALUES (%s, %s) RETURNING id",
                           (board, period)).fetchone()
    attached = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_inherits WHERE inhparent = 'fitness.leaderboard_entries'::regclass "
        "AND inhrelid = to_regclass(%s))", (f"fitness.{partition_name(row[0])}",)).fetchone()[0]
    return row[0], attached


def _merge(conn: psycopg.Connection, board: str, period: str, scores_sql: str, params: dict, *,
           ranked_if: str = "true", also: tuple[str, str] | None = None) -> tuple[dict[str, int], list[int]]:
    """Merge the board `scores_sql` computes (its rows where `ranked_if` holds) into its
    entries, building its partition when the board is new. `also` (name, statement ...
    RETURNING 1) is one more data-modifying CTE on `scores` in the same statement; its row
    count is returned in the list."""
    extra_cte = f",\n    {also[0]} AS ({also[1]})" if also else ""
    extra_count = f", (SELECT count(*) FROM {also[0]})" if also else ""
    conn.execute("SELECT set_config('work_mem', %s, true), set_config('maintenance_work_mem', %s, true)",
                 (WORK_MEM, WORK_MEM))
    board_id, attached = register_board(conn, board, period)
    params = {**params, "board_id": board_id}
    head = f"WITH scores AS ({scores_sql}), "
    if attached:
        statement = head + _MERGE.format(ranked_if=ranked_if, extra_cte=extra_cte, extra_count=extra_count)
        row = conn.execute(statement, params).fetchone()  # noqa: S608 - fixed SQL
    else:
        row = _build(conn, board_id, head + _BUILD, params, ranked_if=ranked_if, extra_cte=extra_cte,
                     extra_count=extra_count)
    return ({"entries": int(row[0]), "inserted": int(row[1]), "updated": int(row[2]), "deleted": int(row[3])},
            [int(v) for v in row[4:]])


def _build(conn: psycopg.Connection, board_id: int, statement: str, params: dict, **parts: str) -> tuple:
    """The first run of a board: its partition created as a plain table with the partition
    constraint as a CHECK (so attaching it needs no scan), filled, indexed and attached."""
    table = sql.Identifier("fitness", partition_name(board_id))
    conn.execute(sql.SQL("CREATE TABLE {} (LIKE fitness.leaderboard_entries INCLUDING DEFAULTS, "
                         "CHECK (leaderboard_id = {}))").format(table, sql.Literal(board_id)))
    partition = sql.Identifier(partition_name(board_id)).as_string(conn)
    row = conn.execute(statement.format(partition=partition, **parts), params).fetchone()
    conn.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (leaderboard_id, user_id)").format(table))
    conn.execute(sql.SQL("CREATE INDEX ON {} (leaderboard_id, rank)").format(table))
    conn.execute(sql.SQL("ALTER TABLE fitness.leaderboard_entries ATTACH PARTITION {} FOR VALUES IN ({})").format(
        table, sql.Literal(board_id)))
    return row


def refresh_global_board(conn: psycopg.Connection, period: str, start: datetime | None, end: datetime,
                         at: datetime) -> dict[str, int]:
    """The global board of `period`: every active user's workout minutes started in
    [start, end) (`start` None: all time), users without any left off."""
    if start is None:
        # All time: the per-user totals of every workout (fitness.user_workout_totals, kept by
        # the workouts' triggers) less the workouts started at or after `end` (an index range
        # on started_at: empty or small unless this is an old interval's backfill). One row
        # per user instead of re-aggregating every workout.
        scores = """
            SELECT t.user_id, t.minutes - coalesce(f.minutes, 0) AS score
              FROM fitness.user_workout_totals t
              LEFT JOIN (SELECT user_id, count(*) AS workouts, sum(duration_minutes) AS minutes
                           FROM fitness.workouts WHERE started_at >= %(end)s
                          GROUP BY user_id) f ON f.user_id = t.user_id
             WHERE t.workouts > coalesce(f.workouts, 0) AND {active}
        """
    else:
        scores = """
            SELECT w.user_id, sum(w.duration_minutes) AS score
              FROM fitness.workouts w
             WHERE w.started_at >= %(start)s AND w.started_at < %(end)s AND {active}
             GROUP BY w.user_id
        """
    scores = scores.format(active=_ACTIVE.format(user="t.user_id" if start is None else "w.user_id"))
    return _merge(conn, "global", period, scores, {"start": start, "end": end, "at": at})[0]


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
    # Every participant's score once: the board ranks the active ones, and the same scores
    # go to challenge_participants.score where they differ (inactive participants too).
    scores = """
        SELECT p.user_id, coalesce(sum(w.duration_minutes), 0)::numeric(12, 2) AS score,
               {active} AS active
          FROM fitness.challenge_participants p
          LEFT JOIN fitness.workouts w ON w.user_id = p.user_id
                                      AND w.started_at >= %(start)s AND w.started_at < %(end)s
         WHERE p.challenge_id = %(challenge)s
         GROUP BY p.user_id
    """.format(active=_ACTIVE.format(user="p.user_id"))
    participants = """
        UPDATE fitness.challenge_participants p SET score = s.score
          FROM scores s
         WHERE p.challenge_id = %(challenge)s AND p.user_id = s.user_id AND p.score IS DISTINCT FROM s.score
        RETURNING 1
    """
    params = {"challenge": challenge_id, "start": start, "end": end, "at": at}
    counts, (updated,) = _merge(conn, f"challenge:{challenge_id}", period, scores, params, ranked_if="active",
                                also=("participant_scores", participants))
    counts["participant_scores_updated"] = updated
    return counts
