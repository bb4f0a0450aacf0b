"""SQL of the ads stats fetch: the accounts to fetch, their campaigns, and the staged,
set-based upsert of their daily campaign stats.

A batch of one account's rows is COPied (text: Decimal's own exact str, cheaper to encode than
binary numeric) into the session's temporary staging table keyed by the platform's campaign
id; one statement upserts the campaigns (new ids inserted, a renamed campaign updated; the
names the client picked), then ONE merge writes the stats: new (account, campaign, day) keys
inserted, existing ones updated only when a figure differs (`IS DISTINCT FROM`, revenue NULL
included), so a rerun of an unchanged range writes nothing. The merge also keeps every row's
running totals of its campaign's earlier rows (`prior_*`, what the anomaly detector reads,
migration 0011): a restated day rewrites the totals of its campaign's later rows too. The
stats have no per-row key check on the account (migration 0016): each call takes the account
row FOR KEY SHARE once instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import psycopg

STAGE = "ads_stats_stage"
# A 64-bit advisory lock key per account from a hash of a name (a bare id would collide with
# other jobs' locks on their own ids): merges of one account's stats take turns, so each
# computes the running totals from what the other committed.
LOCK_KEY = "hashtextextended('ads.campaign_daily_stats:' || %s::bigint, 0)"
STAT_COLUMNS = ("spend", "impressions", "clicks", "conversions", "revenue")
# (external campaign id, campaign name, day, spend, impressions, clicks, conversions, revenue)
StageRow = tuple[str, str, date, Decimal, int, int, Decimal, Decimal | None]


@dataclass(frozen=True)
class Account:
    id: int
    platform: str
    external_account_id: str
    currency: str
    access_token_enc: bytes
    refresh_token_enc: bytes | None

    @property
    def label(self) -> str:
        return f"{self.platform}:{self.external_account_id}"


def active_accounts(conn: psycopg.Connection, platform: str) -> list[Account]:
    """The platform's active accounts with their stored (encrypted) tokens, by id."""
    rows = conn.execute(
        """SELECT a.id, a.platform, a.external_account_id, a.currency, t.access_token_enc, t.refresh_token_enc
             FROM ads.ad_accounts a JOIN ads.ad_account_tokens t ON t.account_id = a.id
            WHERE a.platform = %s AND a.status = 'active'
            ORDER BY a.id""", (platform,)).fetchall()
    return [Account(r[0], r[1], r[2], r[3].strip(), bytes(r[4]), None if r[5] is None else bytes(r[5]))
            for r in rows]


def create_stage(conn: psycopg.Connection) -> None:
    """The session's staging table, empty, and this transaction's commit not waiting for the
    WAL flush (a server crash can lose only the last fraction of a second of batches, and the
    failed run refetches them). One round trip; the table lives as long as the connection
    (emptied at each commit), so the merge's statements stay prepared across accounts (a
    table created per transaction would replan them every time)."""
    conn.execute(f"""
        SET LOCAL synchronous_commit = off;
        CREATE TEMP TABLE IF NOT EXISTS {STAGE} (
            external_campaign_id text NOT NULL, name text NOT NULL, day date NOT NULL,
            spend numeric(18, 6) NOT NULL, impressions bigint NOT NULL, clicks bigint NOT NULL,
            conversions numeric(18, 6) NOT NULL, revenue numeric(18, 6)
        ) ON COMMIT DELETE ROWS;
        DELETE FROM {STAGE}""")


def stage_rows(conn: psycopg.Connection, rows: Iterable[StageRow]) -> int:
    """COPY the rows into the staging table (text format: money as Decimal's exact text, never
    float; 40 % less client CPU than binary numeric for the same rows)."""
    count = 0
    with conn.cursor() as cur, cur.copy(
            f"COPY {STAGE} (external_campaign_id, name, day, {', '.join(STAT_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def lock_account(conn: psycopg.Connection, account_id: int) -> None:
    """This transaction's turn at the account's stats (the advisory lock: merges of one account
    take turns, so each computes the running totals from what the other committed) and the
    account row's key lock, once per call (the stats have no per-row key check, migration
    0016): a concurrent delete of the account waits for this commit, and a deleted account's
    rows are refused (LookupError)."""
    found = conn.execute(f"""SELECT pg_advisory_xact_lock({LOCK_KEY}),
                                    (SELECT id FROM ads.ad_accounts WHERE id = %s FOR KEY SHARE)""",
                         (account_id, account_id)).fetchone()[1]
    if found is None:
        raise LookupError(f"ads account {account_id} does not exist")


# A row's contribution to the running totals (`prior_*`, migration 0011): one row, its spend,
# and per metric the value rounded to 6 places (exact, so totals recomputed from any point
# are the same) and its square. CPA where there were conversions, ROAS where revenue was
# reported and something was spent, as the detector scores them.
def _values(alias: str) -> str:
    return (f"SELECT CASE WHEN {alias}.conversions > 0 THEN round({alias}.spend / {alias}.conversions, 6) END AS cpa, "
            f"CASE WHEN {alias}.revenue IS NOT NULL AND {alias}.spend > 0 "
            f"THEN round({alias}.revenue / {alias}.spend, 6) END AS roas")


PRIORS = ("prior_days", "prior_spend", "prior_cpa_days", "prior_cpa_sum", "prior_cpa_sq", "prior_roas_days",
          "prior_roas_sum", "prior_roas_sq")

_CONTRIBUTIONS = ("1", "r.spend", "(v.cpa IS NOT NULL)::int", "coalesce(v.cpa, 0)", "coalesce(v.cpa * v.cpa, 0)",
                  "(v.roas IS NOT NULL)::int", "coalesce(v.roas, 0)", "coalesce(v.roas * v.roas, 0)")


def _totals(from_stored: bool) -> str:
    """Each `timeline` row (account_id, campaign_id, day, the figures, old_<prior>...) with its
    running totals (n_days, n_spend, ...): the contributions of the campaign's timeline rows
    before it. When `from_stored`, a campaign's first timeline row can be a stored row
    (`is_base`: the last one before the merged days) whose totals are right and stay; the rows
    after it add them. Else every campaign's timeline starts at its first row (totals 0)."""
    def total(prior: str, contribution: str, name: str) -> str:
        if not from_stored:
            return f"coalesce(sum({contribution}) OVER w, 0) AS {name}"
        return (f"coalesce(sum({contribution} + CASE WHEN r.is_base THEN r.old_{prior} ELSE 0 END) OVER w, "
                f"r.old_{prior}, 0) AS {name}")
    totals = ",\n           ".join(total(p, c, n) for p, c, n in zip(PRIORS, _CONTRIBUTIONS, _NEW_PRIORS, strict=True))
    return f"""
    SELECT r.*,
           {totals}
      FROM timeline r
     CROSS JOIN LATERAL ({_values("r")}) v
    WINDOW w AS (PARTITION BY r.account_id, r.campaign_id ORDER BY r.day
                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"""


_NEW_PRIORS = ("n_days", "n_spend", "n_cpa_days", "n_cpa_sum", "n_cpa_sq", "n_roas_days", "n_roas_sum", "n_roas_sq")


def merge_stage(conn: psycopg.Connection, account_id: int, names: dict[str, str]) -> dict[str, int]:
    """Upsert the campaigns (`names`: external campaign id -> its name, every staged campaign)
    and the staged stats of one account; {campaigns_created, campaigns_renamed, inserted,
    updated} (`updated`: stored rows whose figures changed). Staged (campaign, day) keys must
    be unique; the caller holds `lock_account`.

    Each campaign's rows from its first staged day on are recomputed: the staged figures over
    the stored ones, and every row's running totals (`prior_*`) from the last stored row
    before that day; only rows that are new or differ in a figure or a total are written (a
    rerun of an unchanged range writes nothing, a restated day rewrites it and the totals of
    the campaign's later rows)."""
    created, renamed = conn.execute("""
        WITH merged AS (
            INSERT INTO ads.campaigns AS c (account_id, external_campaign_id, name)
            SELECT %(account)s, n.external_campaign_id, n.name
              FROM unnest(%(ids)s::text[], %(names)s::text[]) n (external_campaign_id, name)
            ON CONFLICT (account_id, external_campaign_id) DO UPDATE SET name = EXCLUDED.name
             WHERE c.name IS DISTINCT FROM EXCLUDED.name
            RETURNING (xmax = 0) AS inserted)
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged
        """, {"account": account_id, "ids": list(names), "names": list(names.values())}).fetchone()
    cols = ", ".join(STAT_COLUMNS)
    figures_old = ", ".join(f"t.{c}" for c in STAT_COLUMNS)
    figures_new = ", ".join(f"n.{c}" for c in STAT_COLUMNS)
    inserted, updated = conn.execute(f"""
        WITH staged AS MATERIALIZED (
            SELECT %(account)s::bigint AS account_id, c.id AS campaign_id, s.day,
                   {", ".join(f"s.{c}" for c in STAT_COLUMNS)}
              FROM {STAGE} s
              JOIN ads.campaigns c ON c.account_id = %(account)s AND c.external_campaign_id = s.external_campaign_id),
        firsts AS MATERIALIZED (  -- per campaign the first staged day, and the last stored day before it
            SELECT f.campaign_id, coalesce(
                       (SELECT max(p.day) FROM ads.campaign_daily_stats p
                         WHERE p.account_id = %(account)s AND p.campaign_id = f.campaign_id AND p.day < f.from_day),
                       f.from_day) AS from_day
              FROM (SELECT campaign_id, min(day) AS from_day FROM staged GROUP BY campaign_id) f),
        stored AS (
            SELECT t.*, t.day = f.from_day AS is_base FROM firsts f
              JOIN ads.campaign_daily_stats t ON t.account_id = %(account)s AND t.campaign_id = f.campaign_id
                                             AND t.day >= f.from_day),
        timeline AS (  -- each campaign's rows from the last stored one before its staged days, staged figures first
            SELECT coalesce(n.account_id, t.account_id) AS account_id, coalesce(n.campaign_id, t.campaign_id)
                       AS campaign_id, coalesce(n.day, t.day) AS day,
                   {", ".join(f"CASE WHEN n.day IS NULL THEN t.{c} ELSE n.{c} END AS {c}" for c in STAT_COLUMNS)},
                   t.day IS NULL AS is_new, coalesce(t.is_base AND n.day IS NULL, false) AS is_base,
                   n.day IS NOT NULL AND t.day IS NOT NULL AND ({figures_old}) IS DISTINCT FROM ({figures_new})
                       AS is_changed,
                   {", ".join(f"t.{p} AS old_{p}" for p in PRIORS)}
              FROM staged n
              FULL JOIN stored t ON t.campaign_id = n.campaign_id AND t.day = n.day),
        totals AS MATERIALIZED ({_totals(from_stored=True)}),
        inserted AS (  -- new keys: a plain insert (one writer per account: no conflict to arbitrate)
            INSERT INTO ads.campaign_daily_stats (account_id, campaign_id, day, {cols}, {", ".join(PRIORS)})
            SELECT account_id, campaign_id, day, {cols}, {", ".join(_NEW_PRIORS)} FROM totals WHERE is_new),
        updated AS (  -- stored rows whose figures or running totals differ
            UPDATE ads.campaign_daily_stats t
               SET {", ".join(f"{c} = n.{c}" for c in STAT_COLUMNS)},
                   {", ".join(f"{p} = n.{q}" for p, q in zip(PRIORS, _NEW_PRIORS, strict=True))},
                   fetched_at = CASE WHEN n.is_changed THEN now() ELSE t.fetched_at END
              FROM totals n
             WHERE NOT n.is_new
               AND (n.is_changed OR ({", ".join(f"n.old_{p}" for p in PRIORS)})
                                    IS DISTINCT FROM ({", ".join(f"n.{q}" for q in _NEW_PRIORS)}))
               AND t.account_id = %(account)s AND t.campaign_id = n.campaign_id AND t.day = n.day)
        SELECT count(*) FILTER (WHERE is_new), count(*) FILTER (WHERE is_changed) FROM totals
        """, {"account": account_id}).fetchone()
    return {"campaigns_created": created, "campaigns_renamed": renamed, "inserted": inserted, "updated": updated}


def refresh_priors(conn: psycopg.Connection, account_ids: Sequence[int]) -> int:
    """Recompute the running totals (`prior_*`) of every stats row of these accounts, for a
    writer that changed rows other than through `merge_stage` (a manual correction, a
    delete); writes only the rows whose totals differ, returns how many (no commit)."""
    conn.execute(f"SELECT pg_advisory_xact_lock({LOCK_KEY.replace('%s', 'a')}) FROM unnest(%s::bigint[]) a ORDER BY a",
                 (sorted(set(account_ids)),))
    written = conn.execute(f"""
        WITH timeline AS (
            SELECT s.*, {", ".join(f"s.{p} AS old_{p}" for p in PRIORS)}
              FROM ads.campaign_daily_stats s WHERE s.account_id = ANY(%(accounts)s)),
        totals AS ({_totals(from_stored=False)}),
        written AS (
            UPDATE ads.campaign_daily_stats t
               SET {", ".join(f"{p} = n.{q}" for p, q in zip(PRIORS, _NEW_PRIORS, strict=True))}
              FROM totals n
             WHERE t.account_id = n.account_id AND t.campaign_id = n.campaign_id AND t.day = n.day
               AND ({", ".join(f"n.old_{p}" for p in PRIORS)})
                   IS DISTINCT FROM ({", ".join(f"n.{q}" for q in _NEW_PRIORS)})
            RETURNING 1)
        SELECT count(*) FROM written""", {"accounts": list(account_ids)}).fetchone()[0]
    return written


def store_stats(conn: psycopg.Connection, account_id: int, rows: Sequence[StageRow]) -> dict[str, int]:
    """Stage and merge one account's rows in the caller's transaction (no commit). A campaign
    is named after its latest staged day."""
    keys: set[tuple[str, date]] = set()
    repeated: set[tuple[str, date]] = set()
    latest: dict[str, tuple[date, str]] = {}
    for campaign, name, day, *_ in rows:
        if (campaign, day) in keys:
            repeated.add((campaign, day))
        keys.add((campaign, day))
        if campaign not in latest or day > latest[campaign][0]:
            latest[campaign] = (day, name)
    if repeated:
        raise ValueError(f"account {account_id}: the platform answered a campaign-day twice: {sorted(repeated)[:5]}")
    if not rows:
        return {"campaigns_created": 0, "campaigns_renamed": 0, "inserted": 0, "updated": 0}
    create_stage(conn)
    lock_account(conn, account_id)
    stage_rows(conn, rows)
    return merge_stage(conn, account_id, {campaign: name for campaign, (_, name) in latest.items()})


def mark_token_rejected(conn: psycopg.Connection, account_id: int, error: str) -> None:
    """A fetch whose token the platform refused: the account needs the user to reconnect."""
    conn.execute("""UPDATE ads.ad_accounts SET status = 'needs_reauth', last_error = %s
                     WHERE id = %s AND status = 'active'""", (error, account_id))
