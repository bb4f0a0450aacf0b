"""Platform demo data: a history of health readings (7 days x scale, every 15 minutes) with
a few incidents, so the readings table and the health state have something to show."""

from __future__ import annotations

import psycopg

DEMO_END = "2026-01-01 00:00+00"  # before any real reading: demo rows never collide with live ones


def seed(conn: psycopg.Connection, scale: int) -> dict[str, int]:
    conn.execute("DELETE FROM platform.health_readings WHERE checked_at <= %s AND detail LIKE 'demo%%'", (DEMO_END,))
    cur = conn.execute(
        """
        INSERT INTO platform.health_readings (checked_at, check_name, target, ok, value, unit, detail)
        SELECT t, c.check_name, c.target,
               NOT incident, CASE WHEN incident THEN c.bad_value ELSE c.base + (n %% 7) * c.step END,
               c.unit, CASE WHEN incident THEN 'demo incident' ELSE 'demo' END
          FROM generate_series(1, %(points)s) AS n
         CROSS JOIN LATERAL (SELECT %(end)s::timestamptz - n * interval '15 minutes' AS t) ts
         CROSS JOIN (VALUES ('database', 'jobyard', 3.0, 0.4, 900.0, 'ms'),
                            ('redis', '127.0.0.1:6379', 0.3, 0.05, 350.0, 'ms'),
                            ('disk', '/backups', 62.0, 0.1, 4.0, '%% free'),
                            ('memory', 'host', 71.0, 0.3, 6.0, '%% available'),
                            ('backlog', 'airflow', 2.0, 1.0, 240.0, 'task instances'))
               AS c(check_name, target, base, step, bad_value, unit)
         CROSS JOIN LATERAL (SELECT (n %% 211 = 17 AND c.check_name IN ('database', 'backlog')) AS incident) i
        ON CONFLICT (checked_at, check_name, target) DO NOTHING
        """,
        {"points": 7 * 96 * scale, "end": DEMO_END},
    )
    return {"health_readings": cur.rowcount}
