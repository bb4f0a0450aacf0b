"""
# ads_check_token_expiry

Daily at 02:00 UTC: keeps every ad account's credentials working, as each platform really
needs, one task per platform, each account on its own (one account's failure never stops
the others):

- **Meta** (`check_meta_tokens`): `debug_token` reads each token; one expiring within
  `ads_token_expiry_window_hours` (default 24) is exchanged (`fb_exchange_token`) when that
  gives a later expiry, else the user must reconnect; system-user tokens never expire.
- **Google Ads** (`check_google_tokens`): each refresh token is proven by a refresh (the new
  access token is stored); `invalid_grant` means reconnect.
- **TikTok** (`check_tiktok_tokens`): advertiser tokens never expire and cannot be refreshed,
  so each is validated by an authenticated call; revoked (40105) means reconnect.

An account that must be reconnected is marked `needs_reauth` with `last_error`, and its user
gets ONE email per failure episode (`ads.token_alerts`; outbox key
`ads-token:<account_id>:<episode>`): a new episode only after a check passed again. Tokens
are Fernet-encrypted at rest (connection `ads_token_key`). A check that cannot reach a
verdict (platform down, throttled past the retries) notes `last_error` and fails its task
at the end (transient: retried); `check_accounts` then fails the run naming them, while the
alerts queued by the other platforms are still delivered. Result per platform `{accounts,
checked, valid, extended, refreshed, recovered, needs_reauth, alerts_queued, errors}`.

- **Owner:** ads
- **Reads:** `ads.ad_accounts`, `ads.ad_account_tokens`, `ads.users`; connections
  `meta_ads_api`, `tiktok_ads_api`, `google_ads_api`, `ads_token_key`; variable
  `ads_token_expiry_window_hours`
- **Writes:** `ads.ad_accounts` (status, last_error, token_expires_at, last_checked_at,
  last_refreshed_at), `ads.ad_account_tokens` (exchanged / refreshed access tokens),
  `ads.token_alerts`, `platform.outbox` (template `ads/token_reauth`)
- **Triage:** safe to clear and re-run: an open episode is never alerted twice, and a rerun
  only re-checks. An account stuck in `needs_reauth` waits for its user to reconnect it; its
  `last_error` says why.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.notify import deliver_notifications
from include.orchestration.schedules import interval_timetable

CRON = "0 2 * * *"
PLATFORMS = ("meta", "google", "tiktok")


@dag(schedule=interval_timetable("ads", CRON), **dag_settings("ads", queue="maintenance", cron=CRON),
     doc_md=__doc__)
def ads_check_token_expiry():
    @task
    def check_tokens(platform: str) -> dict:
        from datetime import UTC, datetime

        from airflow.sdk import get_current_context

        from include.ads.token_upkeep import TokenChecksFailed
        from include.ads.token_upkeep import check_tokens as check
        from include.common.db import connect
        from include.orchestration import clients, connections, variables
        from include.orchestration.budget import soft_limit

        window = variables.get_int("ads_token_expiry_window_hours", 24, minimum=1, maximum=24 * 30)
        cipher = clients.token_cipher()
        with soft_limit() as budget, clients.ads_client(platform) as client, \
                connect(connections.outbox_db("ads")) as conn:
            try:
                # Token expiry is about the live tokens, so "now", not the data interval.
                return check(conn, platform, client, cipher, now=datetime.now(UTC), window=timedelta(hours=window),
                             budget=budget)
            except TokenChecksFailed as failed:
                get_current_context()["ti"].xcom_push(key="return_value", value=failed.result)
                raise

    @task(trigger_rule="all_done")
    def check_accounts() -> dict:
        """Fails the run naming the accounts (and platforms) whose check had no verdict; the
        delivery beside it is a leaf too, so a failed check cannot hide behind a sent alert."""
        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowFailException

        ti = get_current_context()["ti"]
        found = {p: ti.xcom_pull(task_ids=f"check_{p}_tokens") for p in PLATFORMS}
        errors = {label: error for r in found.values() if r for label, error in r.get("errors", {}).items()}
        left = [label for r in found.values() if r for label in r.get("accounts_left", [])]
        missing = [p for p, r in found.items() if r is None]
        if errors or left or missing:
            parts = [f"token checks without a verdict: {', '.join(sorted(errors))}" if errors else "",
                     f"left by the soft time limit: {', '.join(left)}" if left else "",
                     f"platform tasks without a result (see their logs): {', '.join(missing)}" if missing else ""]
            raise AirflowFailException("; ".join(p for p in parts if p) + (f"; errors: {errors}" if errors else ""))
        return {p: {k: r[k] for k in ("accounts", "valid", "extended", "refreshed", "needs_reauth")}
                for p, r in found.items()}

    checks = [check_tokens.override(task_id=f"check_{platform}_tokens")(platform) for platform in PLATFORMS]
    checks >> check_accounts()
    delivery = deliver_notifications(upstream=checks)
    # The alerts queued by the platforms that ran go out even when another platform's check failed.
    delivery.operator.trigger_rule = "all_done"


ads_check_token_expiry()
