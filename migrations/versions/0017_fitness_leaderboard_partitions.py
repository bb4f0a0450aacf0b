"""fitness.leaderboard_entries partitioned by board: one table per (board, period).

A board's first run inserts an entry per ranked user (1M for the all-time board at the
benchmark's scale, ~400k for a week's board), and 70 % of that insert was maintaining the
two indexes row by row, their keys led by two text columns (every comparison a collation
call and an uncached attribute walk). Now:
- `fitness.leaderboards` names each board once (id, board, period; unique per board and
  period) and the entries carry its integer id: keys (leaderboard_id, user_id) and
  (leaderboard_id, rank);
- the entries are partitioned by that id (LIST, one partition per board), so the job builds
  a new board's partition as a plain table, bulk-filled, indexed by sort afterwards and
  attached, all in its transaction (include/fitness/repository/leaderboards.py); later runs
  merge into the partition as before;
- deleting a board drops its partition (statement triggers on fitness.leaderboards, DELETE
  and TRUNCATE): what a cascade from the board to its entries would do.
The user cascade of 0015 (triggers on fitness.users) deletes through the partitioned table
unchanged. Existing entries are copied into their boards' partitions.

Revision ID: 0017
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE fitness.leaderboards (
            id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            board       text        NOT NULL,  -- 'global' or 'challenge:<id>'
            period      text        NOT NULL,  -- e.g. '2026-W49' (this week) or 'all-time', or the challenge's
            created_at  timestamptz NOT NULL DEFAULT now(),
            UNIQUE (board, period)
        )""")
    op.execute("ALTER TABLE fitness.leaderboard_entries RENAME TO leaderboard_entries_0016")
    op.execute("ALTER INDEX fitness.leaderboard_entries_pkey RENAME TO leaderboard_entries_0016_pkey")
    op.execute("ALTER INDEX fitness.leaderboard_rank_idx RENAME TO leaderboard_entries_0016_rank_idx")
    op.execute("""
        CREATE TABLE fitness.leaderboard_entries (
            leaderboard_id integer     NOT NULL,  -- fitness.leaderboards.id; the partition key
            user_id        bigint      NOT NULL,
            rank           integer     NOT NULL,
            score          numeric(12, 2) NOT NULL,
            updated_at     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (leaderboard_id, user_id)
        ) PARTITION BY LIST (leaderboard_id)""")
    op.execute("CREATE INDEX leaderboard_rank_idx ON fitness.leaderboard_entries (leaderboard_id, rank)")
    op.execute("""
        CREATE FUNCTION fitness.leaderboards_drop_partitions() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            board_id integer;
        BEGIN
            FOR board_id IN SELECT id FROM old_boards LOOP
                EXECUTE format('DROP TABLE IF EXISTS fitness.%I', 'leaderboard_entries_' || board_id);
            END LOOP;
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE TRIGGER leaderboards_drop_partitions AFTER DELETE ON fitness.leaderboards
            REFERENCING OLD TABLE AS old_boards FOR EACH STATEMENT
            EXECUTE FUNCTION fitness.leaderboards_drop_partitions()""")
    op.execute("""
        CREATE FUNCTION fitness.leaderboards_truncate_partitions() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            part regclass;
        BEGIN
            FOR part IN SELECT inhrelid::regclass FROM pg_inherits
                         WHERE inhparent = 'fitness.leaderboard_entries'::regclass LOOP
                EXECUTE format('DROP TABLE %s', part);
            END LOOP;
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE TRIGGER leaderboards_truncate_partitions AFTER TRUNCATE ON fitness.leaderboards
            FOR EACH STATEMENT EXECUTE FUNCTION fitness.leaderboards_truncate_partitions()""")
    op.execute("""
        INSERT INTO fitness.leaderboards (board, period)
        SELECT DISTINCT board, period FROM fitness.leaderboard_entries_0016 ORDER BY board, period""")
    op.execute("""
        DO $$
        DECLARE
            b record;
        BEGIN
            FOR b IN SELECT id, board, period FROM fitness.leaderboards ORDER BY id LOOP
                EXECUTE format('CREATE TABLE fitness.%I PARTITION OF fitness.leaderboard_entries FOR VALUES IN (%s)',
                               'leaderboard_entries_' || b.id, b.id);
                INSERT INTO fitness.leaderboard_entries (leaderboard_id, user_id, rank, score, updated_at)
                SELECT b.id, e.user_id, e.rank, e.score, e.updated_at FROM fitness.leaderboard_entries_0016 e
                 WHERE e.board = b.board AND e.period = b.period;
            END LOOP;
        END $$""")
    op.execute("DROP TABLE fitness.leaderboard_entries_0016")


def downgrade() -> None:
    op.execute("""
        CREATE TABLE fitness.leaderboard_entries_0016 (
            board       text        NOT NULL,
            period      text        NOT NULL,
            user_id     bigint      NOT NULL,
            rank        integer     NOT NULL,
            score       numeric(12, 2) NOT NULL,
            updated_at  timestamptz NOT NULL DEFAULT now()
        )""")
    op.execute("""
        INSERT INTO fitness.leaderboard_entries_0016 (board, period, user_id, rank, score, updated_at)
        SELECT b.board, b.period, e.user_id, e.rank, e.score, e.updated_at
          FROM fitness.leaderboard_entries e JOIN fitness.leaderboards b ON b.id = e.leaderboard_id""")
    op.execute("DROP TABLE fitness.leaderboard_entries")  # and its partitions
    op.execute("DROP TABLE fitness.leaderboards")
    op.execute("DROP FUNCTION fitness.leaderboards_truncate_partitions()")
    op.execute("DROP FUNCTION fitness.leaderboards_drop_partitions()")
    op.execute("ALTER TABLE fitness.leaderboard_entries_0016 RENAME TO leaderboard_entries")
    op.execute("ALTER TABLE fitness.leaderboard_entries ADD PRIMARY KEY (board, period, user_id)")
    op.execute("CREATE INDEX leaderboard_rank_idx ON fitness.leaderboard_entries (board, period, rank)")
