"""Room for the social jobs' bulk rewrites.

- social.users gets fillfactor 50 (was 90): the user-statistics job rewrites the counters of
  every user of a key range in one statement, and the old row versions stay on the page until
  that statement commits, so a page needs room for a second copy of all its rows for every
  update to be HOT (no new entries in the four indexes of users). At 90 most were not, and the
  index writes were more than half of a full recount. Existing pages keep their layout until
  rewritten (`VACUUM FULL social.users` in a quiet hour); new and updated pages use the new fill.
- social.post_engagement_scores loses its foreign key to social.posts. The table is a derived
  cache that the engagement job rewrites wholesale every day, and the foreign key's check locks
  the referenced post row for each inserted score (about 40 % of a full rescore). Instead, a
  statement-level trigger deletes the scores of deleted posts (what ON DELETE CASCADE did), and
  the job's removal of out-of-window rows also removes any row whose post is gone (a score
  written while its post was being deleted). The feed reads scores joined to posts, so such a
  row is never shown in between.
- social.engagement_dirty_posts gets the marked post's `post_created_at`, written by the
  triggers: a rerun of the engagement job drops the marks of posts outside its window without
  looking each post up (a like on a years-old post is the common case). NULL (marks from
  before this migration) means "look the post up".
- social.stats_dirty_users gets the `counter` a change can have moved ('followers',
  'following', 'posts', or 'all' for a new or deleted user and the marks from before): a new
  post of an account with a million followers recounts its posts, not its followers.

Revision ID: 0006
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE social.users SET (fillfactor = 50)")
    op.execute("ALTER TABLE social.post_engagement_scores DROP CONSTRAINT post_engagement_scores_post_id_fkey")
    op.execute("""
        CREATE FUNCTION social.delete_scores_of_deleted_posts() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM social.post_engagement_scores WHERE post_id IN (SELECT id FROM changed);
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE TRIGGER posts_delete_scores AFTER DELETE ON social.posts
        REFERENCING OLD TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION social.delete_scores_of_deleted_posts()""")
    op.execute("ALTER TABLE social.engagement_dirty_posts ADD COLUMN post_created_at timestamptz")
    # The posts of a statement's interactions, once each (a deleted post is not marked: it has no score to fix).
    op.execute("""
        CREATE OR REPLACE FUNCTION social.mark_posts_from_interactions() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO social.engagement_dirty_posts (post_id, post_created_at)
            SELECT p.id, p.created_at FROM (SELECT DISTINCT post_id FROM changed) c
              JOIN social.posts p ON p.id = c.post_id;
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE OR REPLACE FUNCTION social.mark_posts_from_posts() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO social.engagement_dirty_posts (post_id, post_created_at) SELECT id, created_at FROM changed;
            RETURN NULL;
        END $$""")

    op.execute("ALTER TABLE social.stats_dirty_users ADD COLUMN counter text NOT NULL DEFAULT 'all' "
               "CHECK (counter IN ('all', 'followers', 'following', 'posts'))")
    op.execute("""
        CREATE OR REPLACE FUNCTION social.mark_users_from_follows() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO social.stats_dirty_users (user_id, counter)
            SELECT follower_id, 'following' FROM changed UNION SELECT followee_id, 'followers' FROM changed;
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE OR REPLACE FUNCTION social.mark_users_from_posts() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO social.stats_dirty_users (user_id, counter) SELECT DISTINCT author_id, 'posts' FROM changed;
            RETURN NULL;
        END $$""")


def downgrade() -> None:
    op.execute("""
        CREATE OR REPLACE FUNCTION social.mark_users_from_follows() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO social.stats_dirty_users (user_id)
            SELECT follower_id FROM changed UNION SELECT followee_id FROM changed;
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE OR REPLACE FUNCTION social.mark_users_from_posts() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO social.stats_dirty_users (user_id) SELECT DISTINCT author_id FROM changed;
            RETURN NULL;
        END $$""")
    op.execute("ALTER TABLE social.stats_dirty_users DROP COLUMN counter")
    op.execute("""
        CREATE OR REPLACE FUNCTION social.mark_posts_from_interactions() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO social.engagement_dirty_posts (post_id) SELECT DISTINCT post_id FROM changed;
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE OR REPLACE FUNCTION social.mark_posts_from_posts() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO social.engagement_dirty_posts (post_id) SELECT DISTINCT id FROM changed;
            RETURN NULL;
        END $$""")
    op.execute("ALTER TABLE social.engagement_dirty_posts DROP COLUMN post_created_at")
    op.execute("DROP TRIGGER posts_delete_scores ON social.posts")
    op.execute("DROP FUNCTION social.delete_scores_of_deleted_posts()")
    op.execute("DELETE FROM social.post_engagement_scores s "
               "WHERE NOT EXISTS (SELECT FROM social.posts p WHERE p.id = s.post_id)")
    op.execute("ALTER TABLE social.post_engagement_scores ADD CONSTRAINT post_engagement_scores_post_id_fkey "
               "FOREIGN KEY (post_id) REFERENCES social.posts ON DELETE CASCADE")
    op.execute("ALTER TABLE social.users SET (fillfactor = 90)")
