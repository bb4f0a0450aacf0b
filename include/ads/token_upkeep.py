"""Keep every ad account's credentials working, as each platform really needs (seed 003's
check_token_expiry, per APIS.md §3.4, §4.5, §5.4):

- **Meta**: `debug_token` reads the token. Valid and not expiring within the window (system
  users never expire): fine. Expiring within the window: exchanged (`fb_exchange_token`) and
  kept when the new token expires later; when Meta cannot extend it (same or earlier expiry,
  or a refusal), the user must reconnect. Invalid (190): the user must reconnect.
- **Google Ads**: a refresh token is proven by using it (`refresh_token` grant): the new
  access token is stored; `invalid_grant` means revoked or expired: reconnect.
- **TikTok**: advertiser tokens never expire and have no refresh: an authenticated call proves
  one; 40105 (revoked) / 40102: reconnect.

A failure the user must fix marks the account `needs_reauth` with `last_error` and opens a
failure episode (`ads.token_alerts`); only a new episode queues the one email to the user
(outbox key `ads-token:<account_id>:<episode>`, template `ads/token_reauth`), in the same
transaction, so reruns and later days of the same failure send nothing; a check that passes
closes the episode (the next failure is a new one). A check that cannot reach a verdict (the
platform down or throttling past the retries) records `last_error`, leaves the status alone
and fails the task at the end (transient: Airflow retries). One account's failure never stops
the others: each account is its own transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from include.ads.platforms import PLATFORMS, TokenRevoked
from include.ads.repository import token_upkeep as repository
from include.ads.repository.token_upkeep import TokenAccount
from include.common.crypto import TokenCipher
from include.common.errors import PermanentError, TransientError, classify
from include.common.http import ApiError, RetryableApiError
from include.common.outbox import OutboxMessage, enqueue
from include.common.time_budget import SoftTimeLimitExceeded, TimeBudget, run_batches

log = logging.getLogger(__name__)

TEMPLATE = "ads/token_reauth"
PLATFORM_NAMES = {"meta": "Meta", "tiktok": "TikTok", "google": "Google Ads"}
MAX_ERROR_CHARS = 2000
# An exchange must push the expiry at least this much later to count as an extension.
MIN_EXTENSION = timedelta(hours=1)


class NeedsReauth(Exception):
    """The verdict of a check: the user must reconnect the account (`reason` says why)."""

    def __init__(self, reason: str, expires_at: datetime | None = None):
        super().__init__(reason)
        self.reason, self.expires_at = reason, expires_at


@dataclass(frozen=True)
class Verdict:
    outcome: str  # valid | extended | refreshed
    expires_at: datetime | None
    new_access_token: str | None = None


class TokenChecksFailed(PermanentError):
    """Some accounts' checks could not run (e.g. a token no key decrypts); `result` is the receipt."""

    def __init__(self, result: dict):
        self.result = result
        super().__init__(f"{result['platform']} token checks failed for {', '.join(sorted(result['errors']))}: "
                         f"{result['errors']}")


class TokenChecksInterrupted(TransientError, TokenChecksFailed):
    """Some checks could not reach a verdict (platform down, throttling): a retry may succeed."""


def dedupe_key(account_id: int, episode: int) -> str:
    return f"ads-token:{account_id}:{episode}"


def _check_meta(client: Any, account: TokenAccount, token: str, now: datetime, window: timedelta) -> Verdict:
    try:
        info = client.debug_token(token, now=now)
    except TokenRevoked as exc:
        raise NeedsReauth(f"Meta rejects the token: {exc.message}") from exc
    if not info.is_valid:
        raise NeedsReauth(f"Meta says the token is invalid: {info.error or 'no reason given'}")
    if info.expires_at is None:
        return Verdict("valid", None)
    if info.expires_at > now + window:
        return Verdict("valid", info.expires_at)
    try:
        new_token, new_expiry = client.exchange(token, now=now)
    except RetryableApiError:
        raise
    except ApiError as exc:  # TokenRevoked included: Meta refuses to extend it
        raise NeedsReauth(f"the token expires at {info.expires_at:%Y-%m-%d %H:%M} UTC and Meta refused to "
                          f"extend it: {exc.message}", info.expires_at) from exc
    if new_expiry is None:  # the exchange did not say: ask Meta about the new token
        new_info = client.debug_token(new_token, now=now)
        new_expiry = new_info.expires_at if new_info.is_valid else info.expires_at
        if new_info.is_valid and new_expiry is None:
            return Verdict("extended", None, new_token)
    if new_expiry < info.expires_at + MIN_EXTENSION:  # "the same expiry" within clock skew and rounding
        raise NeedsReauth(f"the token expires at {info.expires_at:%Y-%m-%d %H:%M} UTC and Meta cannot extend it "
                          "(the exchange gives no later expiry)", info.expires_at)
    return Verdict("extended", new_expiry, new_token)


def _check_google(client: Any, account: TokenAccount, refresh_token: str | None, now: datetime) -> Verdict:
    if refresh_token is None:
        raise NeedsReauth("no refresh token is stored for this Google Ads account")
    try:
        access_token, _ = client.refresh(refresh_token, now=now)
    except TokenRevoked as exc:
        raise NeedsReauth(f"Google refuses the refresh token ({exc.code}): {exc.message}") from exc
    # A refresh token does not expire (token_expires_at NULL); the access token lasts an hour.
    return Verdict("refreshed", None, access_token)


def _check_tiktok(client: Any, account: TokenAccount, token: str, now: datetime) -> Verdict:
    try:
        client.validate(account.external_account_id, token, (now - timedelta(days=1)).date())
    except TokenRevoked as exc:
        raise NeedsReauth(f"TikTok rejects the token ({exc.code}): {exc.message}") from exc
    return Verdict("valid", None)


def check_account(client: Any, cipher: TokenCipher, account: TokenAccount, *, now: datetime,
                  window: timedelta) -> Verdict:
    """The verdict on one account's credentials; raises NeedsReauth, or the platform's error
    when there is no verdict."""
    if account.platform == "meta":
        return _check_meta(client, account, cipher.decrypt(account.access_token_enc), now, window)
    if account.platform == "google":
        refresh = None if account.refresh_token_enc is None else cipher.decrypt(account.refresh_token_enc)
        return _check_google(client, account, refresh, now)
    if account.platform == "tiktok":
        return _check_tiktok(client, account, cipher.decrypt(account.access_token_enc), now)
    raise ValueError(f"unknown platform {account.platform!r}")


def _alert(account: TokenAccount, episode: int, reason: str, now: datetime) -> OutboxMessage:
    return OutboxMessage(
        dedupe_key=dedupe_key(account.id, episode), channel="email", domain="ads", recipient=account.user_email,
        template=TEMPLATE,
        context={"name": account.user_name or account.user_email, "platform_name": PLATFORM_NAMES[account.platform],
                 "account_name": account.name or account.external_account_id,
                 "external_account_id": account.external_account_id, "reason": reason,
                 "noticed_on": f"{now:%Y-%m-%d %H:%M} UTC", "episode": episode})


def _steps(conn: psycopg.Connection, client: Any, cipher: TokenCipher, accounts: list[TokenAccount],
           now: datetime, window: timedelta, errors: dict[str, BaseException]) -> Iterator[dict]:
    for account in accounts:
        counts: dict[str, Any] = {"checked": 1}
        try:
            verdict = check_account(client, cipher, account, now=now, window=window)
        except NeedsReauth as verdict_failed:
            reason = verdict_failed.reason[:MAX_ERROR_CHARS]
            repository.lock_account(conn, account.id)
            episode = repository.mark_needs_reauth(conn, account.id, reason, now, verdict_failed.expires_at)
            if episode is not None:
                counts["alerts_queued"] = enqueue(conn, [_alert(account, episode, reason, now)])
            conn.commit()
            log.warning("%s needs reauth (%s): %s", account.label,
                        f"episode {episode}, alert queued" if episode else "episode open, already alerted", reason)
            yield {**counts, "needs_reauth": [account.label]}
            continue
        except Exception as exc:  # no verdict for this account: recorded, the others still run
            conn.rollback()
            log.exception("%s: token check failed", account.label)
            errors[account.label] = exc
            repository.record_error(conn, account.id, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS], now)
            conn.commit()
            yield {**counts, "errors": {account.label: f"{type(exc).__name__}: {exc}"[:500]}}
            continue
        token_enc = cipher.encrypt(verdict.new_access_token) if verdict.new_access_token else None
        repository.lock_account(conn, account.id)
        recovered = repository.mark_ok(conn, account.id, now, expires_at=verdict.expires_at,
                                       access_token_enc=token_enc, refreshed=verdict.outcome != "valid")
        conn.commit()
        log.info("%s: %s%s", account.label, verdict.outcome, " (recovered)" if recovered else "")
        yield {**counts, verdict.outcome: 1, "recovered": recovered}


def check_tokens(conn: psycopg.Connection, platform: str, client: Any, cipher: TokenCipher, *, now: datetime,
                 window: timedelta = timedelta(hours=24), budget: TimeBudget | None = None) -> dict:
    """Check every account of `platform` (see the module docstring); each account committed on
    its own. Returns {platform, accounts, checked, valid, extended, refreshed, recovered,
    needs_reauth: [labels], alerts_queued, errors: {label: error}}; raises
    TokenChecksInterrupted / TokenChecksFailed (carrying that receipt) when some checks had no verdict."""
    if platform not in PLATFORMS:
        raise ValueError(f"platform must be one of {PLATFORMS}, got {platform!r}")
    if now.tzinfo is None:
        raise ValueError(f"now must be time-zone aware, got {now!r}")
    accounts = repository.accounts_to_check(conn, platform)
    conn.commit()
    result: dict[str, Any] = {"platform": platform, "accounts": len(accounts), "checked": 0, "valid": 0,
                              "extended": 0, "refreshed": 0, "recovered": 0, "needs_reauth": [],
                              "alerts_queued": 0, "errors": {}}
    errors: dict[str, BaseException] = {}
    try:
        run_batches(_steps(conn, client, cipher, accounts, now, window, errors), budget, result=result,
                    total=len(accounts))
    except SoftTimeLimitExceeded as stop:
        left = [a.label for a in accounts[result["checked"]:]]
        result["accounts_left"] = left
        stop.args = (f"{stop.args[0]}; accounts left: {', '.join(left)}",)
        raise
    if errors:
        transient = any(classify(e) != "permanent" for e in errors.values())
        raise (TokenChecksInterrupted if transient else TokenChecksFailed)(result)
    return result
