"""Ads demo data: users with ad accounts on Meta, TikTok and Google Ads (the generator's
demo accounts, include/demo/ads_data.py, which the sandbox's stand-ins serve), their tokens
encrypted at rest, and 90 days of campaign stats up to today (UTC), the two planted
anomalies included, loaded through the fetch job's own staged merge.

The tokens are Fernet-encrypted with this install's key, handed over in the environment
variable JOBYARD_ADS_TOKEN_KEY (tools/devenv.py `seed` sets it from `.state/secrets.json`,
where the connection `ads_token_key` gets it too): include/ never reads `.state/` or imports
tools. Google accounts store the demo refresh token and an access token minted at "connect
time" two hours ago (expired: the jobs refresh it). Scale n adds n - 1 users with one drawn
account on each platform. Seeding empties the ads tables first (demo data replaces demo data).
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta

import psycopg

from include.ads.repository import fetch as fetch_repository
from include.common.crypto import TokenCipher
from include.common.errors import ConfigurationError
from include.demo import ads_data

KEY_ENV = "JOBYARD_ADS_TOKEN_KEY"
HISTORY_DAYS = 90
TABLES = ("ads.token_alerts", "ads.anomalies", "ads.campaign_daily_stats", "ads.campaigns", "ads.ad_account_tokens",
          "ads.ad_accounts", "ads.users")


def _cipher() -> TokenCipher:
    key = os.environ.get(KEY_ENV)
    if not key:
        raise ConfigurationError(f"{KEY_ENV} is not set: the ads demo tokens are encrypted with the install's "
                                 "ads_token_key (run the seed through `make seed` / tools.devenv)")
    return TokenCipher(key)


def _owners(scale: int) -> dict[str, list[ads_data.Account]]:
    """User name -> accounts: the demo accounts grouped by business, plus drawn ones per scale."""
    owners: dict[str, list[ads_data.Account]] = {}
    for account in ads_data.DEMO_ACCOUNTS:
        owners.setdefault(account.name, []).append(account)
    for n in range(1, scale):
        ids = {"meta": f"{102000000000000 + n}", "tiktok": f"{7200000000000000000 + n}", "google": f"{2020000000 + n}"}
        drawn = [ads_data.account(p, ids[p]) for p in ads_data.PLATFORMS]
        owners[f"Demo Advertiser {n}"] = [a._replace(demo_token=f"{'system-' if a.platform == 'meta' else 'demo-'}"
                                                                  f"scale-{n}-{a.platform}") for a in drawn]
    return owners


def _email(name: str) -> str:
    return f"{''.join(c for c in name.lower() if c.isalnum())}@ads.jobyard.local"


def seed(conn: psycopg.Connection, scale: int, *, today: date | None = None,
         now: datetime | None = None) -> dict[str, int]:
    now = now or datetime.now(UTC)
    today = today or now.date()
    cipher = _cipher()
    conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    counts = {"users": 0, "ad_accounts": 0, "ad_account_tokens": 0, "campaigns": 0, "campaign_daily_stats": 0}
    start = today - timedelta(days=HISTORY_DAYS - 1)
    for name, accounts in _owners(scale).items():
        user_id = conn.execute("INSERT INTO ads.users (email, name) VALUES (%s, %s) RETURNING id",
                               (_email(name), name)).fetchone()[0]
        counts["users"] += 1
        for account in accounts:
            expires = now + timedelta(hours=12) if account.demo_token.startswith(("expiring-", "stale-")) else None
            account_id = conn.execute(
                """INSERT INTO ads.ad_accounts (user_id, platform, external_account_id, name, currency,
                                                token_expires_at, last_refreshed_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id""",
                (user_id, account.platform, account.external_id, account.name, account.currency, expires,
                 now - timedelta(hours=2))).fetchone()[0]
            if account.platform == "google":
                access, refresh = cipher.encrypt(f"ya29.demo-{account.account_id}"), cipher.encrypt(account.demo_token)
            else:
                access, refresh = cipher.encrypt(account.demo_token), None
            conn.execute("""INSERT INTO ads.ad_account_tokens (account_id, access_token_enc, refresh_token_enc)
                            VALUES (%s, %s, %s)""", (account_id, access, refresh))
            names = {c.campaign_id: c.name for c in ads_data.campaigns(account.platform, account.account_id)}
            rows = [(s.campaign_id, names[s.campaign_id], s.day, s.spend, s.impressions, s.clicks, s.conversions,
                     s.revenue) for s in ads_data.account_stats(account.platform, account.account_id, start, today,
                                                                today)]
            stored = fetch_repository.store_stats(conn, account_id, rows)
            conn.execute("""UPDATE ads.campaigns SET status = s.status
                              FROM unnest(%s::text[], %s::text[]) AS s(external_campaign_id, status)
                             WHERE account_id = %s AND campaigns.external_campaign_id = s.external_campaign_id""",
                         ([c.campaign_id for c in ads_data.campaigns(account.platform, account.account_id)],
                          [c.status for c in ads_data.campaigns(account.platform, account.account_id)], account_id))
            counts["ad_accounts"] += 1
            counts["ad_account_tokens"] += 1
            counts["campaigns"] += stored["campaigns_created"]
            counts["campaign_daily_stats"] += stored["inserted"]
    return counts
