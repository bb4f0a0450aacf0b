"""Fitness rollups that the leaderboards and trending jobs read instead of re-aggregating
every workout each run, kept exact by statement-level triggers in the transaction of every
write to the workouts and their exercises:

- `fitness.user_workout_totals` (user_id, workouts, minutes, calories): each user's totals
  over ALL their workouts. The all-time board at an interval end T is these totals less the
  user's workouts started at or after T (an index range on `started_at`: empty or small for
  a scheduled run), so a rerun or backfill of any interval stays exact.
- `fitness.workout_type_hourly` (hour, workout_type, workouts) and
  `fitness.exercise_hourly` (hour, exercise_id, workouts): the workouts started in each UTC
  hour by type, and the number of DISTINCT workouts of that hour each exercise is in. A
  trending window [a, b) sums the whole hours inside it and counts the (less than an hour
  long) rest at each edge from the workouts themselves: exact in any time zone.

The boards' "active user" test reads a new partial index of the (few) inactive users.

A row whose counts drop to 0 stays (readers skip it). The triggers are set-based
(transition tables: one UPDATE of the existing rollup rows and one INSERT of the missing
ones per rollup per statement, in key order). Deleting a workout subtracts its exercises in
a BEFORE DELETE row trigger (the ON DELETE CASCADE removes the exercise rows before any
statement trigger could still see the workout's start); the exercise rows' own trigger
skips rows whose workout is gone. TRUNCATE of the workouts (or of their exercises) empties
the rollups they feed. `fitness.rebuild_workout_rollups()` recounts them from scratch: the
upgrade fills them with it, and a bulk load may run with the triggers disabled and call it.

Revision ID: 0010
"""

from alembic import op

revision = "0010"
down_revision = "0011"  # the single head when this was written (0012-0013 chain on 0009, 0011 on 0013)
branch_labels = None
depends_on = None

HOUR = "date_trunc('hour', {col}, 'UTC')"  # the UTC hour a workout started in (whatever the session TimeZone)


def hour(col: str) -> str:
    return HOUR.format(col=col)


def _apply(table: str, keys: list[str], values: list[str], delta: str) -> str:
    """Add `delta` (net rows of keys + values, at most one per key) into `table`: existing rows
    updated, missing keys with a positive `workouts` inserted (a negative delta for a missing
    row is a user deleted with their workouts: nothing to keep)."""
    match = " AND ".join(f"t.{k} = d.{k}" for k in keys)
    cols = ", ".join(keys + values)
    return f"""
        WITH d AS MATERIALIZED ({delta}),
        up AS (
            UPDATE {table} t SET {", ".join(f"{v} = t.{v} + d.{v}" for v in values)}
              FROM d WHERE {match}
            RETURNING {", ".join(f"t.{k}" for k in keys)}
        )
        INSERT INTO {table} AS t ({cols})
        SELECT {cols} FROM d
         WHERE d.workouts > 0 AND NOT EXISTS (SELECT 1 FROM up WHERE {match.replace("t.", "up.")})
         ORDER BY {", ".join(keys)}
        ON CONFLICT ({", ".join(keys)}) DO UPDATE SET {", ".join(f"{v} = t.{v} + excluded.{v}" for v in values)};"""


def _trigger_function(name: str, parts: dict[str, str]) -> str:
    """A statement-level trigger function running `parts[TG_OP]` (INSERT, DELETE, UPDATE)."""
    return f"""
        CREATE FUNCTION fitness.{name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN {parts["INSERT"]}
            ELSIF TG_OP = 'DELETE' THEN {parts["DELETE"]}
            ELSE {parts["UPDATE"]}
            END IF;
            RETURN NULL;
        END $$"""


def _workouts_function() -> str:
    signed = {"INSERT": "SELECT *, 1 AS sign FROM new_rows",
              "DELETE": "SELECT *, -1 AS sign FROM old_rows",
              "UPDATE": "SELECT *, 1 AS sign FROM new_rows UNION ALL SELECT *, -1 FROM old_rows"}
    parts = {}
    for op_name, rows in signed.items():
        parts[op_name] = _apply("fitness.user_workout_totals", ["user_id"], ["workouts", "minutes", "calories"], f"""
            SELECT user_id, sum(sign) AS workouts, sum(sign * duration_minutes) AS minutes,
                   sum(sign * calories::bigint) AS calories
              FROM ({rows}) x GROUP BY user_id
            HAVING (sum(sign), sum(sign * duration_minutes), sum(sign * calories::bigint)) <> (0, 0, 0)""")
        parts[op_name] += _apply("fitness.workout_type_hourly", ["hour", "workout_type"], ["workouts"], f"""
            SELECT {hour("started_at")} AS hour, workout_type, sum(sign) AS workouts
              FROM ({rows}) x GROUP BY 1, 2 HAVING sum(sign) <> 0""")
    # A workout moved to another hour moves its exercises with it (a new workout has no
    # exercises yet; a deleted one's are subtracted before the delete, per row).
    parts["UPDATE"] += _apply("fitness.exercise_hourly", ["hour", "exercise_id"], ["workouts"], f"""
        SELECT m.hour, p.exercise_id, sum(m.sign) AS workouts
          FROM (SELECT n.id, {hour("o.started_at")} AS hour, -1 AS sign
                  FROM old_rows o JOIN new_rows n ON n.id = o.id
                 WHERE {hour("o.started_at")} <> {hour("n.started_at")}
                UNION ALL
                SELECT n.id, {hour("n.started_at")}, 1
                  FROM old_rows o JOIN new_rows n ON n.id = o.id
                 WHERE {hour("o.started_at")} <> {hour("n.started_at")}) m
          JOIN LATERAL (SELECT DISTINCT exercise_id FROM fitness.workout_exercises we
                         WHERE we.workout_id = m.id) p ON true
         GROUP BY 1, 2 HAVING sum(m.sign) <> 0""")
    return _trigger_function("workouts_rollups", parts)


def _exercises_function() -> str:
    # Per (workout, exercise) pair the statement touched: in the workout now (count > 0) vs
    # before it (now - added + removed > 0). Pairs of a workout already gone (the cascade of
    # its delete, which subtracted them first) join no workout and are skipped.
    changes = {"INSERT": "SELECT workout_id, exercise_id, 1 AS added, 0 AS removed FROM new_rows",
               "DELETE": "SELECT workout_id, exercise_id, 0 AS added, 1 AS removed FROM old_rows",
               "UPDATE": "SELECT workout_id, exercise_id, 1 AS added, 0 AS removed FROM new_rows UNION ALL "
                         "SELECT workout_id, exercise_id, 0, 1 FROM old_rows"}
    change = "(n.present > 0)::int - (n.present - c.added + c.removed > 0)::int"
    parts = {op_name: _apply("fitness.exercise_hourly", ["hour", "exercise_id"], ["workouts"], f"""
            SELECT {hour("w.started_at")} AS hour, c.exercise_id, sum({change}) AS workouts
              FROM (SELECT workout_id, exercise_id, sum(added) AS added, sum(removed) AS removed
                      FROM ({rows}) x GROUP BY 1, 2) c
              JOIN fitness.workouts w ON w.id = c.workout_id
             CROSS JOIN LATERAL (SELECT count(*) AS present FROM fitness.workout_exercises we
                                  WHERE we.workout_id = c.workout_id AND we.exercise_id = c.exercise_id) n
             GROUP BY 1, 2 HAVING sum({change}) <> 0""") for op_name, rows in changes.items()}
    return _trigger_function("workout_exercises_rollups", parts)


def upgrade() -> None:
    op.execute("""
        CREATE TABLE fitness.user_workout_totals (
            user_id   bigint PRIMARY KEY REFERENCES fitness.users ON DELETE CASCADE,
            workouts  bigint NOT NULL,
            minutes   bigint NOT NULL,
            calories  bigint NOT NULL
        )""")
    op.execute("""
        CREATE TABLE fitness.workout_type_hourly (
            hour          timestamptz NOT NULL,
            workout_type  text        NOT NULL,
            workouts      bigint      NOT NULL,
            PRIMARY KEY (hour, workout_type)
        )""")
    op.execute("""
        CREATE TABLE fitness.exercise_hourly (
            hour         timestamptz NOT NULL,
            exercise_id  bigint      NOT NULL REFERENCES fitness.exercises ON DELETE CASCADE,
            workouts     bigint      NOT NULL,
            PRIMARY KEY (hour, exercise_id)
        )""")
    # The boards rank active users: an anti-join with the few inactive ones reads this.
    op.execute("CREATE INDEX users_inactive_idx ON fitness.users (id) WHERE NOT is_active")
    op.execute(_workouts_function())
    op.execute(_exercises_function())
    op.execute(f"""
        CREATE FUNCTION fitness.workouts_rollups_before_delete() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE fitness.exercise_hourly h SET workouts = h.workouts - 1
             WHERE h.hour = {hour("OLD.started_at")}
               AND h.exercise_id IN (SELECT exercise_id FROM fitness.workout_exercises WHERE workout_id = OLD.id);
            RETURN OLD;
        END $$""")
    op.execute("""
        CREATE FUNCTION fitness.workouts_rollups_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_TABLE_NAME = 'workouts' THEN
                DELETE FROM fitness.user_workout_totals;
                DELETE FROM fitness.workout_type_hourly;
            END IF;
            DELETE FROM fitness.exercise_hourly;
            RETURN NULL;
        END $$""")
    for table, function in (("workouts", "workouts_rollups"), ("workout_exercises", "workout_exercises_rollups")):
        op.execute(f"""CREATE TRIGGER {table}_insert_rollups AFTER INSERT ON fitness.{table}
                       REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fitness.{function}()""")
        op.execute(f"""CREATE TRIGGER {table}_delete_rollups AFTER DELETE ON fitness.{table}
                       REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION fitness.{function}()""")
        op.execute(f"""CREATE TRIGGER {table}_update_rollups AFTER UPDATE ON fitness.{table}
                       REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
                       FOR EACH STATEMENT EXECUTE FUNCTION fitness.{function}()""")
        op.execute(f"""CREATE TRIGGER {table}_truncate_rollups AFTER TRUNCATE ON fitness.{table}
                       FOR EACH STATEMENT EXECUTE FUNCTION fitness.workouts_rollups_truncate()""")
    op.execute("""CREATE TRIGGER workouts_before_delete_rollups BEFORE DELETE ON fitness.workouts
                  FOR EACH ROW EXECUTE FUNCTION fitness.workouts_rollups_before_delete()""")
    op.execute(_rebuild_function())
    op.execute("SELECT fitness.rebuild_workout_rollups()")


def _rebuild_function() -> str:
    """`fitness.rebuild_workout_rollups()`: the rollups recounted from scratch (the upgrade,
    and a bulk load that ran with the triggers disabled)."""
    return f"""
        CREATE FUNCTION fitness.rebuild_workout_rollups() RETURNS void LANGUAGE sql
        SET work_mem = '256MB'  -- a million users' groups aggregate in memory, not in spilled batches
        AS $$
            TRUNCATE fitness.user_workout_totals, fitness.workout_type_hourly, fitness.exercise_hourly;
            INSERT INTO fitness.user_workout_totals (user_id, workouts, minutes, calories)
            SELECT user_id, count(*), sum(duration_minutes), sum(calories::bigint)
              FROM fitness.workouts GROUP BY user_id;
            INSERT INTO fitness.workout_type_hourly (hour, workout_type, workouts)
            SELECT {hour("started_at")}, workout_type, count(*) FROM fitness.workouts GROUP BY 1, 2;
            INSERT INTO fitness.exercise_hourly (hour, exercise_id, workouts)
            SELECT {hour("w.started_at")}, p.exercise_id, count(*)
              FROM (SELECT DISTINCT workout_id, exercise_id FROM fitness.workout_exercises) p
              JOIN fitness.workouts w ON w.id = p.workout_id
             GROUP BY 1, 2;
        $$"""


def downgrade() -> None:
    op.execute("DROP TRIGGER workouts_before_delete_rollups ON fitness.workouts")
    for table in ("workouts", "workout_exercises"):
        for event in ("insert", "delete", "update", "truncate"):
            op.execute(f"DROP TRIGGER {table}_{event}_rollups ON fitness.{table}")
    for function in ("rebuild_workout_rollups", "workouts_rollups", "workout_exercises_rollups",
                     "workouts_rollups_before_delete", "workouts_rollups_truncate"):
        op.execute(f"DROP FUNCTION fitness.{function}()")
    for table in ("exercise_hourly", "workout_type_hourly", "user_workout_totals"):
        op.execute(f"DROP TABLE fitness.{table}")
    op.execute("DROP INDEX fitness.users_inactive_idx")
