"""Accounts with encrypted tokens for the ads token and fetch tests (built by the test)."""

from __future__ import annotations

import uuid

import psycopg

from include.common.crypto import TokenCipher


def add_account(conn: psycopg.Connection, cipher: TokenCipher, platform: str, external_id: str, token: str, *,
                refresh_token: str | None = None, status: str = "active", email: str | None = None) -> int:
    email = email or f"owner_{uuid.uuid4().hex[:10]}@ads.test"
    user_id = conn.execute("""INSERT INTO ads.users (email, name) VALUES (%s, 'Owner')
                              ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name RETURNING id""",
                           (email,)).fetchone()[0]
    account_id = conn.execute(
        """INSERT INTO ads.ad_accounts (user_id, platform, external_account_id, name, currency, status)
           VALUES (%s, %s, %s, %s, 'USD', %s) RETURNING id""",
        (user_id, platform, external_id, f"{platform} {external_id}", status)).fetchone()[0]
    conn.execute("INSERT INTO ads.ad_account_tokens (account_id, access_token_enc, refresh_token_enc) "
                 "VALUES (%s, %s, %s)", (account_id, cipher.encrypt(token),
                                         None if refresh_token is None else cipher.encrypt(refresh_token)))
    conn.commit()
    return account_id


def set_token(conn: psycopg.Connection, cipher: TokenCipher, account_id: int, token: str,
              refresh_token: str | None = None) -> None:
    """The user reconnected the account: new tokens."""
    conn.execute("UPDATE ads.ad_account_tokens SET access_token_enc = %s, refresh_token_enc = %s WHERE account_id = %s",
                 (cipher.encrypt(token), None if refresh_token is None else cipher.encrypt(refresh_token),
                  account_id))
    conn.commit()


def account_row(conn: psycopg.Connection, account_id: int) -> dict:
    cur = conn.execute("SELECT status, last_error, token_expires_at, last_refreshed_at, last_checked_at "
                       "FROM ads.ad_accounts WHERE id = %s", (account_id,))
    return dict(zip([d.name for d in cur.description], cur.fetchone(), strict=True))


def alerts(conn: psycopg.Connection, account_id: int) -> list[tuple]:
    return conn.execute("SELECT dedupe_key, recipient, subject FROM platform.outbox WHERE dedupe_key LIKE %s "
                        "ORDER BY id", (f"ads-token:{account_id}:%",)).fetchall()


def episodes(conn: psycopg.Connection, account_id: int) -> list[tuple]:
    return conn.execute("SELECT episode, recovered_at IS NOT NULL FROM ads.token_alerts WHERE account_id = %s "
                        "ORDER BY episode", (account_id,)).fetchall()
