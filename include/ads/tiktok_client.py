"""TikTok API for Business (APIS.md §4) for one advertiser: daily campaign stats from
`GET /open_api/{version}/report/integrated/get/` (report_type BASIC, data_level
AUCTION_CAMPAIGN, dimensions `["campaign_id","stat_time_day"]`, at most 30 days per request),
paged `page=1..page_info.total_page` (`ApiClient.paginate_pages`).

- Errors come back as HTTP 200 with a non-zero `code`: 40100/40133 (throttling, no header
  states a wait: retried after a second, TikTok's QPS guidance) and 50000/50002/60001
  (system errors, retried) are waits for the ApiClient's response hook; 40102/40104/40105
  (expired, missing, revoked token) and 40001 (no permission: the grant lost its scope) raise
  TokenRevoked; any other code is a permanent
  ApiError with TikTok's message.
- Metrics are strings; `"-"` (unavailable) is None for revenue, never 0. `stat_time_day` is
  `"YYYY-MM-DD 00:00:00"`.
- Advertiser tokens are long-term with no refresh: `validate` proves one by an authenticated
  one-day report call.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import requests

from include.ads.platforms import CampaignDay, StringMetricsDay, TokenRevoked, credentials, date_chunks, json_body
from include.common.http import ApiClient, ApiError
from include.common.validation import BatchReport, validate_records

THROTTLE_CODES = frozenset({40100, 40133})
SYSTEM_CODES = frozenset({50000, 50002, 60001})
TOKEN_CODES = frozenset({40001, 40102, 40104, 40105})  # 40001: the token lost its scope: reconnect too
THROTTLE_WAIT = 1.0
SYSTEM_WAIT = 2.0
MAX_SPAN_DAYS = 30
REVENUE_METRIC = "total_complete_payment_rate"
METRICS = ("campaign_name", "spend", "impressions", "clicks", "conversion", REVENUE_METRIC)
UNAVAILABLE = "-"
DAY = re.compile(r"(\d{4}-\d{2}-\d{2})(?: 00:00:00)?")


def response_hook(response: requests.Response) -> float | None:
    """The ApiClient hook for TikTok's HTTP 200 error envelope (see the module docstring)."""
    if response.status_code != 200:
        return None
    body = json_body(response)
    code = body.get("code") if isinstance(body, dict) else None
    if code in (None, 0):
        return None
    message = str(body.get("message") or "")
    where = {"status": 200, "method": response.request.method or "GET", "url": response.url.split("?", 1)[0]}
    if code in THROTTLE_CODES:
        return THROTTLE_WAIT
    if code in SYSTEM_CODES:
        return SYSTEM_WAIT
    if code in TOKEN_CODES:
        raise TokenRevoked("tiktok", message or "access token rejected", code=code, **where)
    raise ApiError(f"TikTok code {code}: {message} (request_id {body.get('request_id')})", **where)


def _record(row: Any, revenue_metric: str) -> dict[str, Any]:
    if not isinstance(row, dict) or not isinstance(row.get("dimensions"), dict) \
            or not isinstance(row.get("metrics"), dict):
        return {}
    dims, metrics = row["dimensions"], row["metrics"]
    stamp = dims.get("stat_time_day")
    match = DAY.fullmatch(stamp) if isinstance(stamp, str) else None
    revenue = metrics.get(revenue_metric)
    return {"campaign_id": dims.get("campaign_id"), "campaign_name": metrics.get("campaign_name") or "",
            "day": match.group(1) if match else stamp,
            "spend": metrics.get("spend"), "impressions": metrics.get("impressions"),
            "clicks": metrics.get("clicks"), "conversions": metrics.get("conversion"),
            "revenue": None if revenue == UNAVAILABLE else revenue}


class TikTokClient:
    def __init__(self, api: ApiClient, *, api_version: str = "v1.3", page_size: int = 1000,
                 revenue_metric: str = REVENUE_METRIC):
        self.api = api
        self.api.response_hook = response_hook
        self.version, self.page_size, self.revenue_metric = api_version, page_size, revenue_metric

    @classmethod
    def from_settings(cls, api: ApiClient, settings: Any) -> TikTokClient:
        return cls(api, api_version=settings.api_version, page_size=settings.page_size)

    def __enter__(self) -> TikTokClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.api.close()

    def _params(self, advertiser_id: str, start: date, end: date) -> dict[str, Any]:
        if not advertiser_id.strip().isdigit():
            raise ValueError(f"TikTok advertiser id must be digits, got {advertiser_id!r}")
        metrics = [m for m in METRICS if m != REVENUE_METRIC] + [self.revenue_metric]
        return {"advertiser_id": advertiser_id.strip(), "report_type": "BASIC", "data_level": "AUCTION_CAMPAIGN",
                "dimensions": json.dumps(["campaign_id", "stat_time_day"]), "metrics": json.dumps(metrics),
                "start_date": start.isoformat(), "end_date": end.isoformat()}

    def daily_stats(self, advertiser_id: str, token: str, start: date, end: date,
                    report: BatchReport) -> list[CampaignDay]:
        """Every campaign's valid days of start..end (inclusive), 30 days per request; each
        row counted in `report`."""
        valid: list[CampaignDay] = []
        with credentials(self.api, {"Access-Token": token}):
            for low, high in date_chunks(start, end, MAX_SPAN_DAYS):
                for page in self.api.paginate_pages(f"open_api/{self.version}/report/integrated/get/",
                                                    params=self._params(advertiser_id, low, high),
                                                    page_size=self.page_size):
                    rows = (page.get("data") or {}).get("list") if isinstance(page, dict) else None
                    if not isinstance(rows, list):
                        raise ApiError(f"TikTok report page without data.list: {str(page)[:200]}")
                    found, _ = validate_records([_record(r, self.revenue_metric) for r in rows], StringMetricsDay,
                                                id_field="campaign_id", report=report)
                    valid.extend(found)
        return valid

    def validate(self, advertiser_id: str, token: str, day: date) -> None:
        """Prove the token with one authenticated call (a one-row report of `day`); raises
        TokenRevoked when TikTok rejects it."""
        with credentials(self.api, {"Access-Token": token}):
            self.api.get(f"open_api/{self.version}/report/integrated/get/",
                         params={**self._params(advertiser_id, day, day), "page": 1, "page_size": 1})
