"""Meta Marketing API (Graph API) for one ad account (APIS.md §3): daily campaign insights,
and the token operations `debug_token` and the `fb_exchange_token` exchange.

- Insights: `GET /{version}/act_<id>/insights?level=campaign&time_increment=1&time_range=
  {"since","until"}`, paged by `after=<paging.cursors.after>` while `paging.next` exists
  (`ApiClient.paginate_cursor`). Metrics are strings: spend parsed straight into Decimal,
  conversions and revenue from the `actions` / `action_values` entry of the configured
  action type (both omitted when there were no actions: 0).
- Throttling is a 400 with error code 4, 17, 613 or 80000-80014 (never a 429): the wait is
  the `X-Business-Use-Case-Usage` header's `estimated_time_to_regain_access` (minutes),
  else `X-Ad-Account-Usage` `reset_time_duration` (seconds), else a minute; retried by the
  ApiClient's response hook under its attempts and max wait.
- Code 190 (expired, revoked, password changed) raises TokenRevoked: never retried.
The account's own token goes in `Authorization: Bearer`; the app token (`app_id|secret`)
only in debug_token's query (query strings are never logged).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import requests

from include.ads.platforms import CampaignDay, StringMetricsDay, TokenRevoked, credentials, json_body
from include.common.http import ApiClient, ApiError
from include.common.validation import BatchReport, validate_records

THROTTLE_CODES = frozenset({4, 17, 613, *range(80000, 80015)})
TOKEN_CODES = frozenset({190})
DEFAULT_THROTTLE_WAIT = 60.0
FIELDS = "campaign_id,campaign_name,spend,impressions,clicks,actions,action_values,date_start,date_stop"


def throttle_wait(response: requests.Response) -> float:
    """Seconds Meta asks to wait, from its usage headers (see the module docstring)."""
    minutes = []
    try:
        usage = json.loads(response.headers.get("X-Business-Use-Case-Usage") or "{}")
    except ValueError:
        usage = {}
    for entries in usage.values() if isinstance(usage, dict) else ():
        for entry in entries if isinstance(entries, list) else ():
            value = entry.get("estimated_time_to_regain_access") if isinstance(entry, dict) else None
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                minutes.append(float(value))
    if minutes:
        return max(minutes) * 60
    try:
        reset = json.loads(response.headers.get("X-Ad-Account-Usage") or "{}").get("reset_time_duration")
    except (ValueError, AttributeError):
        reset = None
    if isinstance(reset, (int, float)) and not isinstance(reset, bool) and reset > 0:
        return float(reset)
    return DEFAULT_THROTTLE_WAIT


def response_hook(response: requests.Response) -> float | None:
    """The ApiClient hook: Meta's throttle codes -> their wait; 190 -> TokenRevoked."""
    if response.status_code < 400:
        return None
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    code = error.get("code")
    if code in THROTTLE_CODES:
        return throttle_wait(response)
    if code in TOKEN_CODES:
        raise TokenRevoked("meta", str(error.get("message") or "invalid access token"),
                           code=f"{code}/{error.get('error_subcode')}" if error.get("error_subcode") else code,
                           status=response.status_code, method=response.request.method or "GET",
                           url=response.url.split("?", 1)[0])
    return None


@dataclass(frozen=True)
class MetaTokenInfo:
    is_valid: bool
    expires_at: datetime | None  # None: never expires (system users)
    token_type: str | None
    error: str | None


def _action_value(entries: Any, action_type: str) -> Any:
    """The string value of `action_type` in an actions list; "0" when the list is omitted
    (no actions) or has no such entry; the raw thing when it is not a list (malformed)."""
    if entries is None:
        return "0"
    if not isinstance(entries, list):
        return entries
    for entry in entries:
        if isinstance(entry, dict) and entry.get("action_type") == action_type:
            return entry.get("value")
    return "0"


def _record(row: Any, action_type: str) -> dict[str, Any]:
    if not isinstance(row, dict):
        return {}
    start, stop = row.get("date_start"), row.get("date_stop")
    return {"campaign_id": row.get("campaign_id"), "campaign_name": row.get("campaign_name") or "",
            "day": start if start == stop else f"{start}..{stop}",
            "spend": row.get("spend"), "impressions": row.get("impressions"), "clicks": row.get("clicks"),
            "conversions": _action_value(row.get("actions"), action_type),
            "revenue": _action_value(row.get("action_values"), action_type)}


def account_path(account_id: str) -> str:
    account = account_id.strip()
    if not account.startswith("act_"):
        account = f"act_{account}"
    if not account[4:].isdigit():
        raise ValueError(f"Meta ad account id must be act_<digits>, got {account_id!r}")
    return account


class MetaClient:
    def __init__(self, api: ApiClient, *, app_id: str, app_secret: str, api_version: str = "v25.0",
                 conversion_action_type: str = "offsite_conversion.fb_pixel_purchase", page_size: int = 100):
        self.api = api
        self.api.response_hook = response_hook
        self.app_id, self._app_secret = app_id, app_secret
        self.version, self.action_type, self.page_size = api_version, conversion_action_type, page_size

    @classmethod
    def from_settings(cls, api: ApiClient, settings: Any) -> MetaClient:
        return cls(api, app_id=settings.app_id, app_secret=settings.app_secret, api_version=settings.api_version,
                   conversion_action_type=settings.conversion_action_type, page_size=settings.page_size)

    def __enter__(self) -> MetaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.api.close()

    def daily_stats(self, account_id: str, token: str, start: date, end: date,
                    report: BatchReport) -> list[CampaignDay]:
        """Every campaign's valid days of start..end (inclusive); each row counted in `report`."""
        if start > end:
            raise ValueError(f"start {start} is after end {end}")
        params = {"level": "campaign", "fields": FIELDS, "time_increment": 1, "limit": self.page_size,
                  "time_range": json.dumps({"since": start.isoformat(), "until": end.isoformat()})}
        valid: list[CampaignDay] = []
        with credentials(self.api, {"Authorization": f"Bearer {token}"}):
            for page in self.api.paginate_cursor(f"{self.version}/{account_path(account_id)}/insights",
                                                 params=params):
                rows = page.get("data") if isinstance(page, dict) else None
                if not isinstance(rows, list):
                    raise ApiError(f"Meta insights page without a data list: {str(page)[:200]}")
                found, _ = validate_records([_record(r, self.action_type) for r in rows], StringMetricsDay,
                                            id_field="campaign_id", report=report)
                valid.extend(found)
        return valid

    def debug_token(self, token: str, *, now: datetime) -> MetaTokenInfo:
        """What Meta says of a token (`GET /debug_token`, authorized by the app token)."""
        page = self.api.get(f"{self.version}/debug_token",
                            params={"input_token": token, "access_token": f"{self.app_id}|{self._app_secret}"})
        data = page.get("data") if isinstance(page, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("is_valid"), bool):
            raise ApiError(f"Meta debug_token answer without data.is_valid: {str(page)[:200]}")
        expires = data.get("expires_at")
        if expires is not None and (isinstance(expires, bool) or not isinstance(expires, int)):
            raise ApiError(f"Meta debug_token expires_at is not a unix time: {expires!r}")
        error = data.get("error")
        message = (error.get("message") or str(error.get("code"))) if isinstance(error, dict) else None
        return MetaTokenInfo(is_valid=data["is_valid"],
                             expires_at=datetime.fromtimestamp(expires, UTC) if expires else None,
                             token_type=data.get("type"), error=message)

    def exchange(self, token: str, *, now: datetime) -> tuple[str, datetime | None]:
        """A long-lived token for a user token (`fb_exchange_token`) and its expiry (None: not
        stated, read it with debug_token)."""
        page = self.api.get(f"{self.version}/oauth/access_token",
                            params={"grant_type": "fb_exchange_token", "client_id": self.app_id,
                                    "client_secret": self._app_secret, "fb_exchange_token": token})
        new = page.get("access_token") if isinstance(page, dict) else None
        if not isinstance(new, str) or not new:
            raise ApiError("Meta token exchange answered no access_token")
        expires_in = page.get("expires_in")
        if expires_in is None:
            return new, None
        if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)) or expires_in <= 0:
            raise ApiError(f"Meta token exchange expires_in is not a positive number: {expires_in!r}")
        return new, now + timedelta(seconds=expires_in)
