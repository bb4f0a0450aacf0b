"""Fetch the daily campaign performance of every active ad account of one platform for a
range of days (seed 003's fetch_ad_data), and upsert it.

Per account, in id order, each its own transaction (one step of `run_batches`):
1. the stored token is decrypted (Google: the refresh token is exchanged for an access token);
2. the platform's client reads every campaign-day of start..end, following its pagination;
   malformed rows are counted and skipped, more than 5 % fails the account before writing;
3. the rows are COPY-staged and merged into `ads.campaigns` and `ads.campaign_daily_stats`,
   writing only new and changed rows (platforms restate recent days, so the range re-reads a
   look-back of days every run).
A token the platform rejects (TokenRevoked) marks the account `needs_reauth` (its user is
alerted by ads_check_token_expiry); any failure of an account is recorded and the next
account runs; at the end `AccountsFailed` (permanent) or `AccountsInterrupted` (transient,
when any failure may heal) names them and carries the receipt. The soft time limit stops
between accounts and says which are left.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import psycopg

from include.ads.platforms import PLATFORMS, TokenRevoked
from include.ads.repository import fetch as repository
from include.ads.repository.fetch import Account
from include.common.crypto import TokenCipher
from include.common.errors import PermanentError, TransientError, classify
from include.common.time_budget import SoftTimeLimitExceeded, TimeBudget, run_batches
from include.common.validation import BatchReport

log = logging.getLogger(__name__)

MALFORMED_THRESHOLD = 0.05
MAX_ERROR_CHARS = 2000


class AccountsFailed(PermanentError):
    """Some accounts of the platform failed for good (the others were fetched); `result` is the receipt."""

    def __init__(self, result: dict):
        self.result = result
        super().__init__(f"{result['platform']}: accounts failed: {', '.join(sorted(result['failed']))}; "
                         f"errors: {result['failed']}")


class AccountsInterrupted(TransientError, AccountsFailed):
    """Some accounts failed in a way a retry may heal (platform down, throttled past the retries)."""


def _credential(platform: str, client: Any, cipher: TokenCipher, account: Account, now: datetime) -> str:
    if platform != "google":
        return cipher.decrypt(account.access_token_enc)
    if account.refresh_token_enc is None:
        raise TokenRevoked("google", "no refresh token is stored for this account", code="missing")
    access_token, _ = client.refresh(cipher.decrypt(account.refresh_token_enc), now=now)
    return access_token


def _fetch_account(conn: psycopg.Connection, platform: str, client: Any, cipher: TokenCipher, account: Account,
                   start: date, end: date, now: datetime, threshold: float) -> dict:
    report = BatchReport()
    rows = client.daily_stats(account.external_account_id, _credential(platform, client, cipher, account, now),
                              start, end, report)
    report.check(threshold)
    outside = sorted({r.day for r in rows if not start <= r.day <= end})
    if outside:  # a day we did not ask for would be written under the wrong range
        raise ValueError(f"{account.label}: the platform answered days outside {start}..{end}: {outside[:5]}")
    counts = repository.store_stats(conn, account.id, [
        (r.campaign_id, r.campaign_name, r.day, r.spend, r.impressions, r.clicks, r.conversions, r.revenue)
        for r in rows])
    conn.commit()
    report.stored = len(rows)
    log.info("%s %s..%s: %s %s", account.label, start, end, report.as_dict(), counts)
    return {**report.as_dict(), **counts}


def _steps(conn: psycopg.Connection, platform: str, client: Any, cipher: TokenCipher, accounts: list[Account],
           start: date, end: date, now: datetime, threshold: float,
           errors: dict[str, BaseException]) -> Iterator[dict]:
    for account in accounts:
        try:
            counts = _fetch_account(conn, platform, client, cipher, account, start, end, now, threshold)
        except Exception as exc:  # one account's failure never stops the others: recorded, raised at the end
            conn.rollback()
            message = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
            if isinstance(exc, TokenRevoked):
                repository.mark_token_rejected(conn, account.id, message)
                conn.commit()
                log.warning("%s: token rejected, account marked needs_reauth: %s", account.label, exc)
            else:
                log.exception("%s: fetch failed", account.label)
            errors[account.label] = exc
            yield {"accounts_done": 1, "failed": {account.label: message[:500]}}
            continue
        yield {"accounts_done": 1, **counts, "fetched_accounts": [account.label]}


def fetch_platform(conn: psycopg.Connection, platform: str, client: Any, cipher: TokenCipher, start: date,
                   end: date, *, now: datetime, budget: TimeBudget | None = None,
                   malformed_threshold: float = MALFORMED_THRESHOLD) -> dict:
    """Fetch start..end (inclusive) of every active account of `platform` (see the module
    docstring). Returns {platform, start_day, end_day, accounts, accounts_done, fetched,
    malformed, stored, inserted, updated, campaigns_created, campaigns_renamed,
    fetched_accounts, failed}."""
    if platform not in PLATFORMS:
        raise ValueError(f"platform must be one of {PLATFORMS}, got {platform!r}")
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    accounts = repository.active_accounts(conn, platform)
    conn.commit()
    result: dict[str, Any] = {"platform": platform, "start_day": start.isoformat(), "end_day": end.isoformat(),
                              "accounts": len(accounts), "accounts_done": 0, "fetched": 0, "malformed": 0,
                              "stored": 0, "inserted": 0, "updated": 0, "campaigns_created": 0,
                              "campaigns_renamed": 0, "fetched_accounts": [], "failed": {}}
    errors: dict[str, BaseException] = {}
    try:
        run_batches(_steps(conn, platform, client, cipher, accounts, start, end, now, malformed_threshold, errors),
                    budget, result=result, total=len(accounts))
    except SoftTimeLimitExceeded as stop:
        left = [a.label for a in accounts[result["accounts_done"]:]]
        result["accounts_left"] = left
        stop.args = (f"{stop.args[0]}; accounts left: {', '.join(left)}",)
        raise
    if errors:
        transient = any(classify(e) != "permanent" for e in errors.values())
        raise (AccountsInterrupted if transient else AccountsFailed)(result)
    return result
