"""Social demo data (seed 002's network), and the set-based generator behind it that the
benchmarks use at 100k users / 2M follows / 1M posts / 5M hashtag links.

Everything is generated in PostgreSQL (generate_series), deterministically: each statement
starts from `setseed()` of (seed, table, round), and its random() calls are made in a
subquery over the series fenced with OFFSET 0, so they are drawn once per row, in row order,
whatever plan the rest gets. The same seed, sizes and `now` give the same rows.

Shape of the data (all times relative to `now`, within the last 2 years):
- ids are in time order, as an identity column gives them: users, posts and comments get
  times that grow with the id, denser towards `now` (the network grows);
- skew: followee = floor(users * r^3) (the top 1% of accounts have ~20% of the followers),
  author = floor(users * r^2), liked/commented post = the newest posts as r^3 (recent and
  viral posts draw most of it), hashtag = floor(hashtags * r^3) (a few very popular tags);
- last activity: 70% of users active in the last week, 15% in the last month, 15% inactive
  for 30 days to 2 years; 10% opted out of the digest, 2% deactivated;
- tokens (an access token living 1 h and a refresh token living 60 days per issue) and
  sessions (14 days) issued around each user's last activity, so many are expired and some
  unexpired ones belong to users inactive for 30+ days.
Unique keys (follows, likes, post-hashtag links) are drawn in rounds (DISTINCT ON, NOT EXISTS)
until the asked count is reached exactly.

To load millions of rows quickly, the tables' foreign keys, indexes and the keys no other
table references are dropped for the load and re-created from their own definitions
afterwards (one validating query and one sort per index instead of a lock-taking check and
an index insert per row), all in the caller's transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

import psycopg

# The demo at scale 1; every count is multiplied by the scale.
DEMO_SIZES = {
    "users": 1_000, "follows": 10_000, "posts": 5_000, "comments": 15_000, "likes": 30_000,
    "hashtags": 300, "hashtag_links": 12_000,
}

# Every table of the social schema, referencing tables first (the TRUNCATE names them all).
SOCIAL_TABLES = (
    "post_engagement_scores", "daily_content_analytics", "trending_hashtags", "media_variants",
    "media_uploads", "post_hashtags", "hashtags", "likes", "comments", "posts", "follows",
    "sessions", "auth_tokens", "users",
)
# The tables generate() fills, in load order.
GENERATED_TABLES = ("users", "auth_tokens", "sessions", "follows", "posts", "comments", "likes", "hashtags",
                    "post_hashtags")

HISTORY_DAYS = 730
MAX_ROUNDS = 40  # rounds of unique-key draws before giving up (only a near-full graph needs many)

WORDS = (
    "travel", "food", "photography", "music", "fitness", "art", "nature", "coffee", "books", "tech",
    "design", "fashion", "football", "running", "cooking", "gardening", "movies", "gaming", "science",
    "history", "startup", "python", "yoga", "hiking", "cats", "dogs", "sunset", "beach", "mountains",
    "city", "architecture", "vintage", "diy", "recipes", "vegan", "wine", "jazz", "cycling", "climbing",
    "chess", "podcast", "writing", "poetry", "education", "health", "mindfulness", "family", "weekend",
    "tbt", "motivation",
)
FIRST_NAMES = ("Ada", "Bruno", "Chloe", "Dmitri", "Elena", "Farah", "Gustav", "Hana", "Ines", "Jonas",
               "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tomoko",
               "Umar", "Vera", "Wen", "Ximena", "Yusuf", "Zoe")
LAST_NAMES = ("Almeida", "Berg", "Chen", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ivanova",
              "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Petrov", "Quinn", "Rossi",
              "Schmidt", "Tanaka", "Usman", "Visser", "Weber", "Xu", "Yilmaz", "Zimmermann")
POST_LINES = ("Just finished a long day, feeling good.", "Anyone else tried this yet?",
              "Throwback to last summer.", "New project, first steps.", "This view though.",
              "Small wins count too.", "Reading something great right now.", "Weekend plans sorted.",
              "Can't believe how fast this year went.", "Sharing a few photos from the trip.")
COMMENT_LINES = ("Love this!", "So true.", "Where is this?", "Congrats!", "Looks amazing.",
                 "Thanks for sharing.", "Haha, same here.", "Need to try this.", "Great shot!", "Agreed.")


def demo_now() -> datetime:
    """The demo's `now`: today's midnight UTC, so the hourly and daily jobs have fresh data
    to work on; seeding twice on one day gives the same database."""
    return datetime.combine(datetime.now(UTC).date(), time(), tzinfo=UTC)


def seed(conn: psycopg.Connection, scale: int, *, now: datetime | None = None) -> dict[str, int]:
    """Replace the social schema's data with the demo network at `scale`."""
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    truncate(conn)
    return generate(conn, **{k: v * scale for k, v in DEMO_SIZES.items()}, now=now or demo_now())


def truncate(conn: psycopg.Connection) -> None:
    """Empty every social table (the demo replaces them all) and restart their ids."""
    conn.execute("TRUNCATE " + ", ".join(f"social.{t}" for t in SOCIAL_TABLES) + " RESTART IDENTITY")


def generate(conn: psycopg.Connection, *, users: int, follows: int, posts: int, comments: int, likes: int,
             hashtags: int, hashtag_links: int, seed: int = 42, now: datetime,
             tokens: int | None = None, sessions: int | None = None) -> dict[str, int]:
    """Fill the (empty) social tables with a network of exactly these sizes; returns
    {table: rows}. `tokens` defaults to 2 per user (access + refresh), `sessions` to 1 per
    user. Runs in the caller's transaction (commit is the caller's)."""
    sizes = {"users": users, "follows": follows, "posts": posts, "comments": comments, "likes": likes,
             "hashtags": hashtags, "hashtag_links": hashtag_links,
             "tokens": 2 * users if tokens is None else tokens, "sessions": users if sessions is None else sessions}
    _check_sizes(sizes)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    not_empty = [t for t in GENERATED_TABLES if conn.execute(f"SELECT EXISTS (SELECT FROM social.{t})").fetchone()[0]]
    if not_empty:
        raise ValueError(f"generate() fills empty tables; not empty: {', '.join(not_empty)} (truncate first)")
    gen = _Generator(conn, seed, now, sizes)
    # random() draws sit behind OFFSET 0 fences (drawn once per row, in series order); big
    # sorts in memory; no JIT (its compile time is longer than most of these statements)
    conn.execute("SET LOCAL work_mem = '256MB'")
    conn.execute("SET LOCAL jit = off")
    conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
    with _constraints_deferred_to_end(conn, GENERATED_TABLES):
        counts = {
            "users": gen.users(), "auth_tokens": gen.tokens(), "sessions": gen.sessions(),
            "follows": gen.follows(), "posts": gen.posts(), "comments": gen.comments(), "likes": gen.likes(),
            "hashtags": gen.hashtags(), "post_hashtags": gen.hashtag_links(),
        }
    for table in ("users", "auth_tokens", "sessions", "posts", "comments", "hashtags"):
        # explicit ids were inserted: the identity must continue after them
        conn.execute(f"""SELECT setval(pg_get_serial_sequence('social.{table}', 'id'), coalesce(max(id), 1),
                                       max(id) IS NOT NULL) FROM social.{table}""")
    for table in GENERATED_TABLES:
        conn.execute(f"ANALYZE social.{table}")
    return counts


def _check_sizes(sizes: dict[str, int]) -> None:
    negative = [k for k, v in sizes.items() if v < 0]
    if negative:
        raise ValueError(f"sizes must be >= 0: {', '.join(negative)}")
    u, p, h = sizes["users"], sizes["posts"], sizes["hashtags"]
    for name, needs in {"posts": ("users",), "comments": ("users", "posts"), "tokens": ("users",),
                        "sessions": ("users",), "follows": ("users",), "likes": ("users", "posts"),
                        "hashtag_links": ("posts", "hashtags")}.items():
        missing = [n for n in needs if sizes[name] and not sizes[n]]
        if missing:
            raise ValueError(f"{name}={sizes[name]} needs {' and '.join(missing)} > 0")
    # unique pairs: at most half of the possible ones, so the skewed draws converge in a few rounds
    for name, room, what in (("follows", u * (u - 1), "users * (users - 1)"), ("likes", u * p, "users * posts"),
                             ("hashtag_links", p * h, "posts * hashtags")):
        if sizes[name] > room // 2:
            raise ValueError(f"{name}={sizes[name]} does not fit: at most half of {what} ({room // 2})")


class _constraints_deferred_to_end:
    """Drop the tables' constraints (foreign keys, then primary keys and unique ones, except
    those other tables' foreign keys need) and indexes, and re-create them from their own
    definitions on the way out, keys first (on success; an error rolls the whole load back).
    Check constraints stay: they cost little."""

    def __init__(self, conn: psycopg.Connection, tables: tuple[str, ...]):
        self.conn, self.names = conn, [f"social.{t}" for t in tables]

    def __enter__(self) -> None:
        # keys that a table outside the load references (users, posts, hashtags) stay
        self.constraints = self.conn.execute(
            """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
                 FROM pg_constraint k
                WHERE contype IN ('f', 'p', 'u') AND conrelid = ANY(%(tables)s::regclass[])
                  AND NOT EXISTS (SELECT FROM pg_constraint f
                                   WHERE f.contype = 'f' AND f.conindid = k.conindid AND k.contype <> 'f'
                                     AND NOT f.conrelid = ANY(%(tables)s::regclass[]))
                ORDER BY contype = 'f' DESC, conrelid::regclass::text, conname""", {"tables": self.names}).fetchall()
        self.indexes = self.conn.execute(
            """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
                 FROM pg_index i WHERE i.indrelid = ANY(%s::regclass[])
                  AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)
                ORDER BY 1""", (self.names,)).fetchall()
        for table, name, _ in self.constraints:  # foreign keys first: they depend on the keys
            self.conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for index, _ in self.indexes:
            self.conn.execute(f"DROP INDEX {index}")

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            return
        keys = [c for c in self.constraints if not c[2].startswith("FOREIGN KEY")]
        foreign = [c for c in self.constraints if c[2].startswith("FOREIGN KEY")]
        for table, name, definition in keys:
            self.conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for _, definition in self.indexes:
            self.conn.execute(definition)
        for table, name, definition in foreign:
            self.conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


class _Generator:
    """One method per table; each returns the rows it inserted."""

    def __init__(self, conn: psycopg.Connection, seed: int, now: datetime, sizes: dict[str, int]):
        self.conn, self.seed, self.sizes = conn, seed, sizes
        self.params = {"now": now, "days": HISTORY_DAYS, "users": sizes["users"], "posts": sizes["posts"],
                       "hashtags": sizes["hashtags"], "seed": seed, "first_names": list(FIRST_NAMES),
                       "last_names": list(LAST_NAMES), "post_lines": list(POST_LINES),
                       "comment_lines": list(COMMENT_LINES), "words": list(WORDS)}

    def _run(self, table_no: int, sql: str, count: int, *, unique: bool = False) -> int:
        """Run the statement for n in 1..%(count)s; for a unique-key table, in rounds until
        `count` rows are in: each round's statement draws n in 1..%(draw)s, drops duplicates
        and rows already in the table, and inserts at most %(count)s (the rows missing)."""
        inserted = 0
        for round_no in range(MAX_ROUNDS if unique else 1):
            if inserted >= count:
                break
            self.conn.execute("SELECT setseed(%s)", (self._seed_fraction(table_no, round_no),))
            missing = count - inserted
            # the first round draws the count; later ones draw more than is missing (some
            # draws collide again) and keep what is missing, not to come back for crumbs
            draw = missing if round_no == 0 else 2 * missing + 100
            inserted += self.conn.execute(sql, {**self.params, "count": missing, "draw": draw}).rowcount
        if inserted < count:
            raise RuntimeError(f"placed {inserted} of {count} unique rows after {MAX_ROUNDS} rounds")
        return inserted

    def _seed_fraction(self, table_no: int, round_no: int) -> float:
        """A setseed() argument in [-1, 1] for each (seed, table, round)."""
        mixed = (self.seed * 1_000_003 + table_no * 7_919 + round_no * 104_729) % 2_000_003
        return mixed / 2_000_003 * 2 - 1

    # Creation times are functions of the id (no join needed to place what comes after):
    # user i joined at now - (2 years + 30 days) * (1 - (i - 0.5) / users)^1.5, post i was
    # written at now - 2 years * (1 - (i - 0.5) / posts)^2 (~10% of posts in the last week).
    USER_CREATED = "(%(now)s - interval '1 day' * (%(days)s + 30) * power(1 - ({id} - 0.5::float8) / %(users)s, 1.5))"
    POST_CREATED = "(%(now)s - interval '1 day' * %(days)s * power(1 - ({id} - 0.5::float8) / %(posts)s, 2))"

    def users(self) -> int:
        # last activity as a mixture: 70% in the last week, 15% in the month, 15% inactive
        return self._run(1, f"""
            INSERT INTO social.users (id, email, username, full_name, created_at, last_activity_at,
                                      is_active, digest_opt_out)
            SELECT n, handle || '@example.com', handle, f || ' ' || l, created,
                   greatest(created, %(now)s - interval '1 day' * CASE WHEN r1 < 0.70 THEN 7 * r2
                                                                        WHEN r1 < 0.85 THEN 7 + 23 * r2
                                                                        ELSE 30 + (%(days)s - 30) * r2 END),
                   r3 >= 0.02, r4 < 0.10
              FROM (SELECT n, random() AS r1, random() AS r2, random() AS r3, random() AS r4
                      FROM generate_series(1, %(count)s) AS n OFFSET 0) g,
                   LATERAL (SELECT %(first_names)s::text[] AS fa, %(last_names)s::text[] AS la) a,
                   LATERAL (SELECT fa[1 + n * 7 %% cardinality(fa)] AS f,
                                   la[1 + n * 13 / 7 %% cardinality(la)] AS l) nm,
                   LATERAL (SELECT lower(f || '.' || l || n) AS handle, {self.USER_CREATED.format(id="n")} AS created) c
            """, self.sizes["users"])

    def tokens(self) -> int:
        # issued within the hour before the user's last activity: access 1 h, refresh 60 days
        return self._run(2, """
            INSERT INTO social.auth_tokens (id, user_id, token_hash, kind, created_at, expires_at)
            SELECT n, u.id, md5(%(seed)s || ':token:' || n), kind, issued,
                   issued + CASE kind WHEN 'access' THEN interval '1 hour' ELSE interval '60 days' END
              FROM (SELECT n, 1 + floor(%(users)s * (n - 1 + random()) / %(count)s)::bigint AS user_id,
                           random() AS r FROM generate_series(1, %(count)s) AS n OFFSET 0) g
              JOIN social.users u ON u.id = g.user_id
             CROSS JOIN LATERAL (SELECT CASE WHEN n %% 2 = 0 THEN 'access' ELSE 'refresh' END AS kind,
                                        u.last_activity_at - interval '1 hour' * r AS issued) t
            """, self.sizes["tokens"])

    def sessions(self) -> int:
        return self._run(3, """
            INSERT INTO social.sessions (id, user_id, session_key, created_at, last_seen_at, expires_at)
            SELECT n, u.id, md5(%(seed)s || ':session:' || n),
                   greatest(u.created_at, u.last_activity_at - interval '3 days' * r), u.last_activity_at,
                   u.last_activity_at + interval '14 days'
              FROM (SELECT n, 1 + floor(%(users)s * (n - 1 + random()) / %(count)s)::bigint AS user_id,
                           random() AS r FROM generate_series(1, %(count)s) AS n OFFSET 0) g
              JOIN social.users u ON u.id = g.user_id
            """, self.sizes["sessions"])

    def follows(self) -> int:
        # followers spread in key order, followees skewed as r^3; followed after both joined
        since = f"greatest({self.USER_CREATED.format(id='follower')}, {self.USER_CREATED.format(id='followee')})"
        return self._run(4, f"""
            INSERT INTO social.follows (follower_id, followee_id, created_at)
            SELECT DISTINCT ON (follower, followee) follower, followee, since + (%(now)s - since) * r
              FROM (SELECT n, 1 + floor(%(users)s * (n - 1 + random()) / %(draw)s)::bigint AS follower,
                           1 + floor(%(users)s * power(random(), 3))::bigint AS followee, random() AS r
                      FROM generate_series(1, %(draw)s) AS n OFFSET 0) g,
                   LATERAL (SELECT {since} AS since) s
             WHERE follower <> followee
               AND NOT EXISTS (SELECT FROM social.follows f
                                WHERE f.follower_id = g.follower AND f.followee_id = g.followee)
             ORDER BY follower, followee, n
             LIMIT %(count)s
            """, self.sizes["follows"], unique=True)

    def posts(self) -> int:
        # authors skewed as r^2 (the early, popular accounts post most)
        return self._run(5, f"""
            INSERT INTO social.posts (id, author_id, body, created_at, updated_at)
            SELECT n, 1 + floor(%(users)s * power(r, 2))::bigint, lines[1 + n * 7 %% cardinality(lines)],
                   created, created
              FROM (SELECT n, random() AS r FROM generate_series(1, %(count)s) AS n OFFSET 0) g,
                   LATERAL (SELECT %(post_lines)s::text[] AS lines) a,
                   LATERAL (SELECT {self.POST_CREATED.format(id="n")} AS created) c
            """, self.sizes["posts"])

    def comments(self) -> int:
        # on the newest posts as r^3, after the post, mostly soon after; ids in time order
        return self._run(6, f"""
            INSERT INTO social.comments (post_id, author_id, body, created_at)
            SELECT post_id, author, lines[1 + k * 7 %% cardinality(lines)], posted + (%(now)s - posted) * r
              FROM (SELECT n AS k, %(posts)s - floor(%(posts)s * power(random(), 3))::bigint AS post_id,
                           1 + floor(%(users)s * random())::bigint AS author, power(random(), 3) AS r
                      FROM generate_series(1, %(count)s) AS n OFFSET 0) g,
                   LATERAL (SELECT %(comment_lines)s::text[] AS lines) a,
                   LATERAL (SELECT {self.POST_CREATED.format(id="post_id")} AS posted) c
             ORDER BY 4, k
            """, self.sizes["comments"])

    def likes(self) -> int:
        # users spread in key order, posts: the newest as r^3; liked after the post, mostly soon
        return self._run(7, f"""
            INSERT INTO social.likes (user_id, post_id, created_at)
            SELECT DISTINCT ON (user_id, post_id) user_id, post_id, posted + (%(now)s - posted) * r
              FROM (SELECT n, 1 + floor(%(users)s * (n - 1 + random()) / %(draw)s)::bigint AS user_id,
                           %(posts)s - floor(%(posts)s * power(random(), 3))::bigint AS post_id,
                           power(random(), 3) AS r
                      FROM generate_series(1, %(draw)s) AS n OFFSET 0) g,
                   LATERAL (SELECT {self.POST_CREATED.format(id="post_id")} AS posted) c
             WHERE NOT EXISTS (SELECT FROM social.likes l WHERE l.user_id = g.user_id AND l.post_id = g.post_id)
             ORDER BY user_id, post_id, n
             LIMIT %(count)s
            """, self.sizes["likes"], unique=True)

    def hashtags(self) -> int:
        # the first ids are the plain words (and the most used tags), then word + number
        return self._run(8, """
            INSERT INTO social.hashtags (id, tag)
            SELECT n, words[1 + (n - 1) %% cardinality(words)]
                      || CASE WHEN n > cardinality(words) THEN ((n - 1) / cardinality(words))::text ELSE '' END
              FROM generate_series(1, %(count)s) AS n, LATERAL (SELECT %(words)s::text[] AS words) a
            """, self.sizes["hashtags"])

    def hashtag_links(self) -> int:
        # posts spread in key order (some get none, some several), tags skewed as r^3
        return self._run(9, f"""
            INSERT INTO social.post_hashtags (post_id, hashtag_id, created_at)
            SELECT DISTINCT ON (post_id, hashtag_id) post_id, hashtag_id, {self.POST_CREATED.format(id="post_id")}
              FROM (SELECT 1 + floor(%(posts)s * (n - 1 + random()) / %(draw)s)::bigint AS post_id,
                           1 + floor(%(hashtags)s * power(random(), 3))::bigint AS hashtag_id
                      FROM generate_series(1, %(draw)s) AS n OFFSET 0) g
             WHERE NOT EXISTS (SELECT FROM social.post_hashtags x
                                WHERE x.post_id = g.post_id AND x.hashtag_id = g.hashtag_id)
             ORDER BY post_id, hashtag_id
             LIMIT %(count)s
            """, self.sizes["hashtag_links"], unique=True)
