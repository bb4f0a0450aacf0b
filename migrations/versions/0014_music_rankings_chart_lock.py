"""music.chart_rankings without a per-row foreign key check on chart_id.

The chart key check ran once per ingested row (10,000 calls a flush, 28 of its 65 ms: the
biggest single cost of ingest), always for the same chart. store_periods now takes the one
chart row FOR KEY SHARE per call instead (the lock the check took, once), so a chart deleted
concurrently still waits for the sync's commit; the cascade the key gave is kept by
statement-level triggers: deleting charts deletes their rankings, truncating charts
empties the rankings.

Revision ID: 0014
"""

from alembic import op

revision = "0014"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE music.chart_rankings DROP CONSTRAINT chart_rankings_chart_id_fkey")
    op.execute("""
        CREATE FUNCTION music.charts_delete_rankings() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM music.chart_rankings r USING old_charts o WHERE r.chart_id = o.id;
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE TRIGGER charts_delete_rankings AFTER DELETE ON music.charts
            REFERENCING OLD TABLE AS old_charts FOR EACH STATEMENT
            EXECUTE FUNCTION music.charts_delete_rankings()""")
    op.execute("""
        CREATE FUNCTION music.charts_truncate_rankings() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- DELETE, not TRUNCATE: a TRUNCATE naming both tables has the rankings in use here.
            DELETE FROM music.chart_rankings;
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE TRIGGER charts_truncate_rankings AFTER TRUNCATE ON music.charts
            FOR EACH STATEMENT EXECUTE FUNCTION music.charts_truncate_rankings()""")


def downgrade() -> None:
    op.execute("DROP TRIGGER charts_truncate_rankings ON music.charts")
    op.execute("DROP FUNCTION music.charts_truncate_rankings()")
    op.execute("DROP TRIGGER charts_delete_rankings ON music.charts")
    op.execute("DROP FUNCTION music.charts_delete_rankings()")
    op.execute("""DELETE FROM music.chart_rankings r
                   WHERE NOT EXISTS (SELECT 1 FROM music.charts c WHERE c.id = r.chart_id)""")
    op.execute("""ALTER TABLE music.chart_rankings ADD CONSTRAINT chart_rankings_chart_id_fkey
                  FOREIGN KEY (chart_id) REFERENCES music.charts ON DELETE CASCADE""")
