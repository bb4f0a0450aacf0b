"""Google Ads API (REST, APIS.md §5) for one customer: daily campaign stats by
`POST /{version}/customers/{id}/googleAds:searchStream` (GAQL over `campaign` with
`segments.date BETWEEN`), and the OAuth2 refresh that turns the account's stored refresh
token into an access token (`POST <token_uri>`, `grant_type=refresh_token`).

- The stream's body is one JSON array of batches (`results` omitted in an empty batch); an
  element may be an error (mid-stream, or the array-wrapped error body): raised.
- int64 fields are strings (`costMicros` / 10^6 as an exact Decimal, `impressions`,
  `clicks`), doubles are numbers (`conversions`, `conversionsValue`: Decimal of their
  shortest repr), and default values are omitted (0).
- HTTP 429 RESOURCE_EXHAUSTED: retried after the failure's `quotaErrorDetails.retryDelay`
  (a Duration such as "60s") by the ApiClient's response hook (without one, the ApiClient's
  own 429 handling). 401 UNAUTHENTICATED and a refresh's `invalid_grant` raise TokenRevoked.
Headers: `Authorization: Bearer`, `developer-token`, `login-customer-id` (when set).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import requests

from include.ads.platforms import CampaignDay, MicrosMetricsDay, TokenRevoked, credentials, json_body
from include.common.http import ApiClient, ApiError, dig
from include.common.validation import BatchReport, validate_records

DURATION = re.compile(r"(\d+(?:\.\d+)?)s")
QUERY = ("SELECT campaign.id, campaign.name, campaign.status, segments.date, metrics.cost_micros, "
         "metrics.impressions, metrics.clicks, metrics.conversions, metrics.conversions_value "
         "FROM campaign WHERE segments.date BETWEEN '{start}' AND '{end}'")


def _error(body: Any) -> dict | None:
    if isinstance(body, list) and body:
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def retry_delay(error: dict) -> float | None:
    """The largest `retryDelay` of a GoogleAdsFailure's quota errors, in seconds."""
    delays = []
    for detail in error.get("details") or ():
        for failure in (detail.get("errors") or ()) if isinstance(detail, dict) else ():
            text = dig(failure, "details.quotaErrorDetails.retryDelay")
            match = DURATION.fullmatch(text) if isinstance(text, str) else None
            if match:
                delays.append(float(match.group(1)))
    return max(delays) if delays else None


def _raise_auth(error: dict, response: requests.Response | None = None) -> None:
    codes = [next(iter(f.get("errorCode", {}).values()), None)
             for d in error.get("details") or () if isinstance(d, dict)
             for f in d.get("errors") or () if isinstance(f, dict) and isinstance(f.get("errorCode"), dict)]
    where = {} if response is None else {"status": response.status_code, "method": response.request.method or "",
                                          "url": response.url.split("?", 1)[0]}
    if any(str(c).startswith("DEVELOPER_TOKEN") for c in codes):  # our configuration, not the user's grant
        raise ApiError(f"Google Ads refuses the developer token ({', '.join(map(str, codes))}): "
                       f"{error.get('message')}", **where)
    raise TokenRevoked("google", str(error.get("message") or "unauthenticated"),
                       code="/".join(str(c) for c in codes if c) or error.get("status"), **where)


def response_hook(response: requests.Response) -> float | None:
    """The ApiClient hook: 429 -> its retryDelay; 401 and invalid_grant -> TokenRevoked."""
    if response.status_code < 400:
        return None
    body = json_body(response)
    if response.status_code == 400 and isinstance(body, dict) and body.get("error") == "invalid_grant":
        raise TokenRevoked("google", str(body.get("error_description") or "invalid_grant"), code="invalid_grant",
                           status=400, method=response.request.method or "POST", url=response.url.split("?", 1)[0])
    error = _error(body)
    if error is None:
        return None
    if response.status_code == 401 or error.get("status") == "UNAUTHENTICATED":
        _raise_auth(error, response)
    if response.status_code == 429:
        return retry_delay(error)
    return None


def customer_id(value: str) -> str:
    digits = value.replace("-", "").strip()
    if not re.fullmatch(r"\d{10}", digits):
        raise ValueError(f"Google Ads customer id must be 10 digits, got {value!r}")
    return digits


def _record(row: Any) -> dict[str, Any]:
    if not isinstance(row, dict):
        return {}
    metrics = row.get("metrics")
    if not isinstance(metrics, dict):  # selected metrics always come (defaults omitted inside): malformed
        return {"campaign_id": dig(row, "campaign.id"), "metrics": metrics}
    return {"campaign_id": dig(row, "campaign.id"), "campaign_name": dig(row, "campaign.name") or "",
            "day": dig(row, "segments.date"),
            "spend": metrics.get("costMicros", "0"), "impressions": metrics.get("impressions", "0"),
            "clicks": metrics.get("clicks", "0"), "conversions": metrics.get("conversions", 0),
            "revenue": metrics.get("conversionsValue", 0)}


class GoogleAdsClient:
    def __init__(self, api: ApiClient, *, client_id: str, client_secret: str, developer_token: str,
                 login_customer_id: str | None = None, token_uri: str = "https://oauth2.googleapis.com/token",
                 api_version: str = "v21"):
        self.api = api
        self.api.response_hook = response_hook
        self.client_id, self._client_secret, self._developer_token = client_id, client_secret, developer_token
        self.login_customer_id, self.token_uri, self.version = login_customer_id, token_uri, api_version

    @classmethod
    def from_settings(cls, api: ApiClient, settings: Any) -> GoogleAdsClient:
        return cls(api, client_id=settings.client_id, client_secret=settings.client_secret,
                   developer_token=settings.developer_token, login_customer_id=settings.login_customer_id,
                   token_uri=settings.token_uri, api_version=settings.api_version)

    def __enter__(self) -> GoogleAdsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.api.close()

    def refresh(self, refresh_token: str, *, now: datetime) -> tuple[str, datetime | None]:
        """A fresh access token and its expiry; TokenRevoked on `invalid_grant`."""
        response = self.api.request("POST", self.token_uri, idempotent=True, data={
            "grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": self.client_id,
            "client_secret": self._client_secret})
        body = json_body(response)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ApiError("Google OAuth refresh answered no access_token", status=response.status_code)
        expires_in = body.get("expires_in")
        if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)) or expires_in <= 0:
            return token, None
        return token, now + timedelta(seconds=expires_in)

    def daily_stats(self, customer: str, access_token: str, start: date, end: date,
                    report: BatchReport) -> list[CampaignDay]:
        """Every campaign's valid days of start..end (inclusive); each row counted in `report`."""
        if start > end:
            raise ValueError(f"start {start} is after end {end}")
        headers = {"Authorization": f"Bearer {access_token}", "developer-token": self._developer_token}
        if self.login_customer_id:
            headers["login-customer-id"] = self.login_customer_id
        with credentials(self.api, headers):
            response = self.api.request(
                "POST", f"{self.version}/customers/{customer_id(customer)}/googleAds:searchStream", idempotent=True,
                json={"query": QUERY.format(start=start.isoformat(), end=end.isoformat()),
                      "summaryRowSetting": "NO_SUMMARY_ROW"})
        batches = json_body(response)
        if not isinstance(batches, list):
            raise ApiError(f"Google Ads searchStream answer is not a list of batches: {response.text[:200]!r}")
        valid: list[CampaignDay] = []
        for batch in batches:
            error = _error(batch)
            if error is not None:
                if error.get("status") == "UNAUTHENTICATED":
                    _raise_auth(error)
                raise ApiError(f"Google Ads searchStream failed mid-stream: {error.get('status')} "
                               f"{error.get('message')}", status=error.get("code"))
            rows = batch.get("results") or [] if isinstance(batch, dict) else None
            if not isinstance(rows, list):
                raise ApiError(f"Google Ads batch without a results list: {str(batch)[:200]}")
            found, _ = validate_records([_record(r) for r in rows], MicrosMetricsDay, id_field="campaign_id",
                                        report=report)
            valid.extend(found)
        return valid
