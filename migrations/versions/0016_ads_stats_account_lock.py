"""ads.campaign_daily_stats without a per-row foreign key check on account_id.

The account key check ran once per upserted row, always for the same account (1,800 calls a
90-day backfill of 20 campaigns, ~10 of its ~33 ms: the biggest single cost after writing
the rows). store_stats now takes the account row FOR KEY SHARE once per call instead (the
lock the check took), so an account deleted concurrently waits for the fetch's commit and a
deleted account's rows are refused; the cascade the key gave is kept by statement-level
triggers: deleting accounts deletes their stats, truncating accounts empties the stats (the
same shape as music's 0014).

Revision ID: 0016
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE ads.campaign_daily_stats DROP CONSTRAINT campaign_daily_stats_account_id_fkey")
    op.execute("""
        CREATE FUNCTION ads.accounts_delete_stats() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM ads.campaign_daily_stats s USING old_accounts o WHERE s.account_id = o.id;
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE TRIGGER accounts_delete_stats AFTER DELETE ON ads.ad_accounts
            REFERENCING OLD TABLE AS old_accounts FOR EACH STATEMENT
            EXECUTE FUNCTION ads.accounts_delete_stats()""")
    op.execute("""
        CREATE FUNCTION ads.accounts_truncate_stats() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- DELETE, not TRUNCATE: a TRUNCATE naming both tables has the stats in use here.
            DELETE FROM ads.campaign_daily_stats;
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE TRIGGER accounts_truncate_stats AFTER TRUNCATE ON ads.ad_accounts
            FOR EACH STATEMENT EXECUTE FUNCTION ads.accounts_truncate_stats()""")


def downgrade() -> None:
    op.execute("DROP TRIGGER accounts_truncate_stats ON ads.ad_accounts")
    op.execute("DROP FUNCTION ads.accounts_truncate_stats()")
    op.execute("DROP TRIGGER accounts_delete_stats ON ads.ad_accounts")
    op.execute("DROP FUNCTION ads.accounts_delete_stats()")
    op.execute("""DELETE FROM ads.campaign_daily_stats s
                   WHERE NOT EXISTS (SELECT 1 FROM ads.ad_accounts a WHERE a.id = s.account_id)""")
    op.execute("""ALTER TABLE ads.campaign_daily_stats ADD CONSTRAINT campaign_daily_stats_account_id_fkey
                  FOREIGN KEY (account_id) REFERENCES ads.ad_accounts ON DELETE CASCADE""")
