"""Change tracking for the incremental social jobs (user statistics, engagement scores).

- `social.stats_dirty_users`: users whose counters may be stale, filled by statement-level
  AFTER INSERT/DELETE triggers (transition tables, one set-based INSERT per statement) on
  social.users, social.follows (both sides) and social.posts; drained by the user-statistics job.
- `social.engagement_dirty_posts`: posts whose like or comment counts changed, filled the same
  way from social.likes and social.comments, new or updated posts, and deleted score rows
  (a TRUNCATE of the scores forgets the complete interval end instead); drained by the
  engagement job.
- `social.job_state`: one row per job (`user_statistics`: a full run has completed since the
  triggers exist; `engagement_scores`: the interval end whose scores are complete and which the
  dirty posts are relative to).

social.users gets fillfactor 90: its counters are rewritten by the job, and room on the page
makes those updates HOT (no index entries to add).

No primary key on the dirty tables: duplicates are harmless and cheaper than unique checks.

Revision ID: 0005
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE social.users SET (fillfactor = 90)")
    op.execute("CREATE TABLE social.stats_dirty_users (user_id bigint NOT NULL)")
    op.execute("CREATE INDEX stats_dirty_users_idx ON social.stats_dirty_users (user_id)")
    op.execute("CREATE TABLE social.engagement_dirty_posts (post_id bigint NOT NULL)")
    op.execute("CREATE INDEX engagement_dirty_posts_idx ON social.engagement_dirty_posts (post_id)")
    op.execute("""
        CREATE TABLE social.job_state (
            job         text        PRIMARY KEY,
            last_end    timestamptz,
            updated_at  timestamptz NOT NULL DEFAULT now()
        )""")
    op.execute("""
        CREATE FUNCTION social.mark_users_from_users() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO social.stats_dirty_users (user_id) SELECT DISTINCT id FROM changed;
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE FUNCTION social.mark_users_from_follows() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO social.stats_dirty_users (user_id)
            SELECT follower_id FROM changed UNION SELECT followee_id FROM changed;
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE FUNCTION social.mark_users_from_posts() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO social.stats_dirty_users (user_id) SELECT DISTINCT author_id FROM changed;
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE FUNCTION social.mark_posts_from_interactions() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO social.engagement_dirty_posts (post_id) SELECT DISTINCT post_id FROM changed;
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE FUNCTION social.mark_posts_from_posts() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO social.engagement_dirty_posts (post_id) SELECT DISTINCT id FROM changed;
            RETURN NULL;
        END $$""")
    for table, function in (("users", "mark_users_from_users"), ("follows", "mark_users_from_follows"),
                            ("posts", "mark_users_from_posts"), ("likes", "mark_posts_from_interactions"),
                            ("comments", "mark_posts_from_interactions")):
        for event, transition in (("INSERT", "NEW"), ("DELETE", "OLD")):
            op.execute(f"""
                CREATE TRIGGER {table}_{event.lower()}_dirty AFTER {event} ON social.{table}
                REFERENCING {transition} TABLE AS changed
                FOR EACH STATEMENT EXECUTE FUNCTION social.{function}()""")
    # An UPDATE that moves a follow, a post's author or an interaction marks both sides.
    for table, function in (("follows", "mark_users_from_follows"), ("posts", "mark_users_from_posts"),
                            ("likes", "mark_posts_from_interactions"), ("comments", "mark_posts_from_interactions")):
        for side, transition in (("old", "OLD"), ("new", "NEW")):
            op.execute(f"""
                CREATE TRIGGER {table}_update_{side}_dirty AFTER UPDATE ON social.{table}
                REFERENCING {transition} TABLE AS changed
                FOR EACH STATEMENT EXECUTE FUNCTION social.{function}()""")
    op.execute("""
        CREATE TRIGGER posts_update_created_dirty AFTER UPDATE ON social.posts
        REFERENCING NEW TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION social.mark_posts_from_posts()""")
    # A new post needs a score; a score row deleted (not by a post's deletion) needs one again.
    op.execute("""
        CREATE TRIGGER posts_insert_engagement_dirty AFTER INSERT ON social.posts
        REFERENCING NEW TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION social.mark_posts_from_posts()""")
    op.execute("""
        CREATE TRIGGER post_engagement_scores_delete_dirty AFTER DELETE ON social.post_engagement_scores
        REFERENCING OLD TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION social.mark_posts_from_interactions()""")
    # Emptying the scores wholesale leaves no marks: the next run then rescores the whole window.
    op.execute("""
        CREATE FUNCTION social.forget_complete_scores() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE social.job_state SET last_end = NULL, updated_at = now() WHERE job = 'engagement_scores';
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE TRIGGER post_engagement_scores_truncate AFTER TRUNCATE ON social.post_engagement_scores
        FOR EACH STATEMENT EXECUTE FUNCTION social.forget_complete_scores()""")


def downgrade() -> None:
    for table in ("users", "follows", "posts", "likes", "comments"):
        for suffix in ("insert", "delete", "update_old", "update_new"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_{suffix}_dirty ON social.{table}")
    op.execute("DROP TRIGGER IF EXISTS posts_update_created_dirty ON social.posts")
    op.execute("DROP TRIGGER IF EXISTS posts_insert_engagement_dirty ON social.posts")
    op.execute("DROP TRIGGER IF EXISTS post_engagement_scores_delete_dirty ON social.post_engagement_scores")
    op.execute("DROP TRIGGER IF EXISTS post_engagement_scores_truncate ON social.post_engagement_scores")
    for function in ("forget_complete_scores", "mark_users_from_users", "mark_users_from_follows",
                     "mark_users_from_posts", "mark_posts_from_interactions", "mark_posts_from_posts"):
        op.execute(f"DROP FUNCTION IF EXISTS social.{function}()")
    op.execute("DROP TABLE social.job_state, social.engagement_dirty_posts, social.stats_dirty_users")
    op.execute("ALTER TABLE social.users RESET (fillfactor)")
