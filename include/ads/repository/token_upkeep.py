"""SQL of the token upkeep: the accounts to check, their outcome, and the alert episodes.

An episode (`ads.token_alerts`) opens when an account's credentials fail and stays open
(`recovered_at` NULL) until a check succeeds again; only opening one sends an alert, so a
failure that lasts a week alerts once, and a failure after a recovery alerts again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg


@dataclass(frozen=True)
class TokenAccount:
    id: int
    platform: str
    external_account_id: str
    name: str
    status: str
    token_expires_at: datetime | None
    access_token_enc: bytes
    refresh_token_enc: bytes | None
    user_email: str
    user_name: str

    @property
    def label(self) -> str:
        return f"{self.platform}:{self.external_account_id}"


def accounts_to_check(conn: psycopg.Connection, platform: str) -> list[TokenAccount]:
    """The platform's accounts that are not disabled (a needs_reauth one is checked too: its
    user may have reconnected it), with their encrypted tokens and their user, by id."""
    rows = conn.execute(
        """SELECT a.id, a.platform, a.external_account_id, a.name, a.status, a.token_expires_at,
                  t.access_token_enc, t.refresh_token_enc, u.email, u.name
             FROM ads.ad_accounts a
             JOIN ads.ad_account_tokens t ON t.account_id = a.id
             JOIN ads.users u ON u.id = a.user_id
            WHERE a.platform = %s AND a.status <> 'disabled'
            ORDER BY a.id""", (platform,)).fetchall()
    return [TokenAccount(r[0], r[1], r[2], r[3], r[4], r[5], bytes(r[6]), None if r[7] is None else bytes(r[7]),
                         r[8], r[9]) for r in rows]


def lock_account(conn: psycopg.Connection, account_id: int) -> None:
    """Serialize two checks of one account (its episode number is read, then written)."""
    conn.execute("SELECT 1 FROM ads.ad_accounts WHERE id = %s FOR UPDATE", (account_id,))


def mark_ok(conn: psycopg.Connection, account_id: int, now: datetime, *, expires_at: datetime | None,
            access_token_enc: bytes | None = None, refreshed: bool = False) -> int:
    """A check that passed: the account is active, its error cleared, a new token stored;
    closes an open episode (the recovery). Returns the episodes closed (0 or 1)."""
    conn.execute(
        """UPDATE ads.ad_accounts
              SET status = 'active', last_error = NULL, last_checked_at = %(now)s, token_expires_at = %(exp)s,
                  last_refreshed_at = CASE WHEN %(refreshed)s THEN %(now)s ELSE last_refreshed_at END
            WHERE id = %(id)s""", {"id": account_id, "now": now, "exp": expires_at, "refreshed": refreshed})
    if access_token_enc is not None:
        conn.execute("""UPDATE ads.ad_account_tokens SET access_token_enc = %s, updated_at = %s
                         WHERE account_id = %s""", (access_token_enc, now, account_id))
    return conn.execute("""UPDATE ads.token_alerts SET recovered_at = %s
                            WHERE account_id = %s AND recovered_at IS NULL""", (now, account_id)).rowcount


def mark_needs_reauth(conn: psycopg.Connection, account_id: int, reason: str, now: datetime,
                      expires_at: datetime | None = None) -> int | None:
    """A check that failed for good: the account needs its user to reconnect it. Opens an
    episode unless one is open; returns the new episode's number, or None (already alerted)."""
    conn.execute(
        """UPDATE ads.ad_accounts
              SET status = 'needs_reauth', last_error = %s, last_checked_at = %s,
                  token_expires_at = coalesce(%s, token_expires_at)
            WHERE id = %s""", (reason, now, expires_at, account_id))
    row = conn.execute(
        """INSERT INTO ads.token_alerts AS t (account_id, episode, reason, started_at)
           SELECT %(id)s, coalesce(max(episode), 0) + 1, %(reason)s, %(now)s
             FROM ads.token_alerts WHERE account_id = %(id)s
           HAVING NOT coalesce(bool_or(recovered_at IS NULL), false)
           ON CONFLICT (account_id, episode) DO NOTHING
           RETURNING episode""", {"id": account_id, "reason": reason, "now": now}).fetchone()
    return None if row is None else row[0]


def record_error(conn: psycopg.Connection, account_id: int, error: str, now: datetime) -> None:
    """A check that could not reach a verdict (the platform was down or throttling): noted,
    the status left as it was, no alert."""
    conn.execute("UPDATE ads.ad_accounts SET last_error = %s, last_checked_at = %s WHERE id = %s",
                 (error, now, account_id))
