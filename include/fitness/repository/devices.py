"""SQL of include/fitness/devices.py: deactivating devices by FCM token, set-based."""

from __future__ import annotations

import psycopg

# The devices of the tokens that are still active lose it; then, of their users, those with
# no active device left are counted.
_DEACTIVATE = """
    WITH refused AS (
        SELECT DISTINCT ON (token) token, reason
          FROM unnest(%(tokens)s::text[], %(reasons)s::text[]) AS r(token, reason)
    ),
    gone AS (
        UPDATE fitness.devices d
           SET is_active = false, deactivated_reason = r.reason
          FROM refused r
         WHERE d.fcm_token = r.token AND d.is_active
        RETURNING d.id, d.user_id
    )
    SELECT count(*),
           count(DISTINCT g.user_id) FILTER (WHERE NOT EXISTS (
               SELECT 1 FROM fitness.devices o WHERE o.user_id = g.user_id AND o.is_active
                                                 AND o.id NOT IN (SELECT id FROM gone)))
      FROM gone g
"""


def deactivate_tokens(conn: psycopg.Connection, tokens: list[str], reasons: list[str]) -> tuple[int, int]:
    """(devices deactivated, users of them with no active device left)."""
    deactivated, orphaned = conn.execute(_DEACTIVATE, {"tokens": tokens, "reasons": reasons}).fetchone()
    return int(deactivated), int(orphaned)


# A user's active devices as a JSON array [{"id", "token"}], oldest first: the fan-out of a push.
ACTIVE_DEVICES = """
    (SELECT json_agg(json_build_object('id', dv.id, 'token', dv.fcm_token) ORDER BY dv.id)
       FROM fitness.devices dv WHERE dv.user_id = u.id AND dv.is_active)
"""
