"""fitness.leaderboard_entries without a per-row foreign key check on user_id.

A board's first run inserts an entry per ranked user (1M for the all-time board at the
benchmark's scale, ~700k for each new week's board), and the user key check ran once per
entry: a trigger call and a users index probe each, the biggest cost of that insert after
the rows and their two indexes. The entries come only from the leaderboard job, whose every
board statement runs under the advisory lock `fitness_leaderboards`
(include/fitness/repository/leaderboards.py) and reads only existing users. The cascade the
key gave is kept by statement-level triggers on fitness.users. A DELETE of users first takes
that advisory lock SHARED, before any row is deleted (a BEFORE statement trigger: taken
after the rows and their cascades were locked, it would deadlock with a challenge board
updating a deleted participant's score), so it waits for a board in flight and a board
waits for it, while deletes do not wait for each other; its AFTER trigger then deletes the
users' entries, the ones the board just committed included (its DELETE takes its snapshot
after the lock). A board written after the delete no longer sees the user. Truncating users
empties the entries. (A key share lock per ranked user, as music's
0014 takes on its one chart, would write a lock into a million user rows.)

Revision ID: 0015
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE fitness.leaderboard_entries DROP CONSTRAINT leaderboard_entries_user_id_fkey")
    op.execute("""
        CREATE FUNCTION fitness.users_delete_wait_for_boards() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- The key of include/fitness/repository/leaderboards.py LOCK_KEY (a test checks both).
            PERFORM pg_advisory_xact_lock_shared(hashtext('fitness_leaderboards'));
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE TRIGGER users_delete_wait_for_boards BEFORE DELETE ON fitness.users
            FOR EACH STATEMENT EXECUTE FUNCTION fitness.users_delete_wait_for_boards()""")
    op.execute("""
        CREATE FUNCTION fitness.users_delete_leaderboard_entries() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM fitness.leaderboard_entries e USING old_users o WHERE e.user_id = o.id;
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE TRIGGER users_delete_leaderboard_entries AFTER DELETE ON fitness.users
            REFERENCING OLD TABLE AS old_users FOR EACH STATEMENT
            EXECUTE FUNCTION fitness.users_delete_leaderboard_entries()""")
    op.execute("""
        CREATE FUNCTION fitness.users_truncate_leaderboard_entries() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- DELETE, not TRUNCATE: a TRUNCATE naming both tables has the entries in use here.
            DELETE FROM fitness.leaderboard_entries;
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE TRIGGER users_truncate_leaderboard_entries AFTER TRUNCATE ON fitness.users
            FOR EACH STATEMENT EXECUTE FUNCTION fitness.users_truncate_leaderboard_entries()""")


def downgrade() -> None:
    op.execute("DROP TRIGGER users_truncate_leaderboard_entries ON fitness.users")
    op.execute("DROP FUNCTION fitness.users_truncate_leaderboard_entries()")
    op.execute("DROP TRIGGER users_delete_leaderboard_entries ON fitness.users")
    op.execute("DROP FUNCTION fitness.users_delete_leaderboard_entries()")
    op.execute("DROP TRIGGER users_delete_wait_for_boards ON fitness.users")
    op.execute("DROP FUNCTION fitness.users_delete_wait_for_boards()")
    op.execute("""DELETE FROM fitness.leaderboard_entries e
                   WHERE NOT EXISTS (SELECT 1 FROM fitness.users u WHERE u.id = e.user_id)""")
    op.execute("""ALTER TABLE fitness.leaderboard_entries ADD CONSTRAINT leaderboard_entries_user_id_fkey
                  FOREIGN KEY (user_id) REFERENCES fitness.users ON DELETE CASCADE""")
