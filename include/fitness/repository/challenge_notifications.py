"""SQL of the challenge start/end notifications: the participants of the challenges that
start or end on a day, with their active devices, for a key range of users."""

from __future__ import annotations

from datetime import date

import psycopg
from psycopg.rows import dict_row

from include.fitness.repository.daily_summaries import ELIGIBLE
from include.fitness.repository.devices import ACTIVE_DEVICES


def participant_id_bounds(conn: psycopg.Connection, day: date) -> tuple[int, int] | None:
    """(lowest, highest) user id of the participants of challenges starting or ending on
    `day`, or None when there are none."""
    row = conn.execute("""
        SELECT min(p.user_id), max(p.user_id)
          FROM fitness.challenges c JOIN fitness.challenge_participants p ON p.challenge_id = c.id
         WHERE c.start_date = %(day)s OR c.end_date = %(day)s
    """, {"day": day}).fetchone()
    return None if row[0] is None else (row[0], row[1])


# One row per (challenge, kind, participant): a challenge starting and ending on `day` gives
# both kinds.
_NOTICES = f"""
    WITH due AS (
        SELECT c.id, c.title, c.start_date, c.end_date, k.kind
          FROM fitness.challenges c
         CROSS JOIN LATERAL (VALUES ('starting', c.start_date), ('ending', c.end_date)) AS k(kind, on_day)
         WHERE k.on_day = %(day)s
    )
    SELECT due.id AS challenge_id, due.title, due.start_date, due.end_date, due.kind,
           u.id AS user_id, u.name, {ACTIVE_DEVICES} AS devices
      FROM due
      JOIN fitness.challenge_participants p ON p.challenge_id = due.id
      JOIN fitness.users u ON u.id = p.user_id
     WHERE p.user_id >= %(lo)s AND p.user_id < %(hi)s AND {ELIGIBLE}
       AND EXISTS (SELECT 1 FROM fitness.devices d WHERE d.user_id = u.id AND d.is_active)
     ORDER BY u.id, due.id, due.kind
"""


def notices(conn: psycopg.Connection, lo: int, hi: int, day: date) -> list[dict]:
    """[{"challenge_id", "title", "start_date", "end_date", "kind", "user_id", "name",
    "devices"}] of the eligible participants in [lo, hi) of challenges starting or ending on `day`."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_NOTICES, {"lo": lo, "hi": hi, "day": day}).fetchall()
