"""SQL of the ads stats fetch: the accounts to fetch, their campaigns, and the staged,
set-based upsert of their daily campaign stats.

A batch of one account's rows is COPied into a temporary staging table keyed by the
platform's campaign id; one statement upserts the campaigns (new ids inserted, a renamed
campaign updated), then ONE merge writes the stats: new (account, campaign, day) keys
inserted, existing ones updated only when a figure differs (`IS DISTINCT FROM`, revenue NULL
included), so a rerun of an unchanged range writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import psycopg

STAGE = "ads_stats_stage"
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
    conn.execute(f"""
        CREATE TEMP TABLE IF NOT EXISTS {STAGE} (
            external_campaign_id text NOT NULL, name text NOT NULL, day date NOT NULL,
            spend numeric(18, 6) NOT NULL, impressions bigint NOT NULL, clicks bigint NOT NULL,
            conversions numeric(18, 6) NOT NULL, revenue numeric(18, 6)
        ) ON COMMIT DROP""")
    conn.execute(f"TRUNCATE {STAGE}")


def stage_rows(conn: psycopg.Connection, rows: Iterable[StageRow]) -> int:
    """COPY the rows into the staging table (binary; money as numeric, never float)."""
    count = 0
    with conn.cursor() as cur, cur.copy(
            f"COPY {STAGE} (external_campaign_id, name, day, {', '.join(STAT_COLUMNS)}) "
            "FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["text", "text", "date", "numeric", "int8", "int8", "numeric", "numeric"])
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def merge_stage(conn: psycopg.Connection, account_id: int) -> dict[str, int]:
    """Upsert the staged campaigns and stats of one account; {campaigns_created,
    campaigns_renamed, inserted, updated}. Staged (campaign, day) keys must be unique."""
    created, renamed = conn.execute(f"""
        WITH names AS (
            SELECT DISTINCT ON (external_campaign_id) external_campaign_id, name
              FROM {STAGE} ORDER BY external_campaign_id, day DESC),
        merged AS (
            INSERT INTO ads.campaigns AS c (account_id, external_campaign_id, name)
            SELECT %(account)s, external_campaign_id, name FROM names
            ON CONFLICT (account_id, external_campaign_id) DO UPDATE SET name = EXCLUDED.name
             WHERE c.name IS DISTINCT FROM EXCLUDED.name
            RETURNING (xmax = 0) AS inserted)
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged
        """, {"account": account_id}).fetchone()
    cols = ", ".join(STAT_COLUMNS)
    changed = ", ".join(f"{c} = EXCLUDED.{c}" for c in STAT_COLUMNS)
    current = ", ".join(f"t.{c}" for c in STAT_COLUMNS)
    new = ", ".join(f"EXCLUDED.{c}" for c in STAT_COLUMNS)
    inserted, updated = conn.execute(f"""
        WITH merged AS (
            INSERT INTO ads.campaign_daily_stats AS t (account_id, campaign_id, day, {cols})
            SELECT %(account)s, c.id, s.day, {", ".join(f"s.{c}" for c in STAT_COLUMNS)}
              FROM {STAGE} s
              JOIN ads.campaigns c ON c.account_id = %(account)s AND c.external_campaign_id = s.external_campaign_id
            ON CONFLICT (account_id, campaign_id, day) DO UPDATE SET {changed}, fetched_at = now()
             WHERE ({current}) IS DISTINCT FROM ({new})
            RETURNING (xmax = 0) AS inserted)
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged
        """, {"account": account_id}).fetchone()
    return {"campaigns_created": created, "campaigns_renamed": renamed, "inserted": inserted, "updated": updated}


def store_stats(conn: psycopg.Connection, account_id: int, rows: Sequence[StageRow]) -> dict[str, int]:
    """Stage and merge one account's rows in the caller's transaction (no commit)."""
    keys = [(r[0], r[2]) for r in rows]
    if len(set(keys)) != len(keys):
        seen: set = set()
        repeated = sorted({k for k in keys if k in seen or seen.add(k)})[:5]
        raise ValueError(f"account {account_id}: the platform answered a campaign-day twice: {repeated}")
    if not rows:
        return {"campaigns_created": 0, "campaigns_renamed": 0, "inserted": 0, "updated": 0}
    create_stage(conn)
    stage_rows(conn, rows)
    return merge_stage(conn, account_id)


def mark_token_rejected(conn: psycopg.Connection, account_id: int, error: str) -> None:
    """A fetch whose token the platform refused: the account needs the user to reconnect."""
    conn.execute("""UPDATE ads.ad_accounts SET status = 'needs_reauth', last_error = %s
                     WHERE id = %s AND status = 'active'""", (error, account_id))
