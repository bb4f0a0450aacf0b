"""TikTok API for Business (stands in for https://business-api.tiktok.com): the integrated
report per campaign and day, and the advertiser token endpoints, with the data of
include/demo/ads_data.py (the generator the demo seed uses).

Routes (the trailing slash is part of each path):
- `GET /open_api/v1.3/report/integrated/get/`: header `Access-Token`; query `advertiser_id`
  (digits), `report_type=BASIC`, `data_level=AUCTION_CAMPAIGN`, `service_type` (AUCTION, the
  default), `dimensions` and `metrics` as JSON-encoded arrays (dimensions exactly
  `campaign_id` + `stat_time_day`; metrics of METRICS, default `["spend", "impressions"]`),
  `start_date`/`end_date` (YYYY-MM-DD, inclusive, at most 30 days), `page` (default 1),
  `page_size` (1..1000, default 10). Answer HTTP 200 `{"code": 0, "message": "OK",
  "request_id", "data": {"list": [{"dimensions": {"campaign_id", "stat_time_day":
  "YYYY-MM-DD 00:00:00"}, "metrics": {...}}], "page_info": {page, page_size, total_number,
  total_page}}}`, rows by (day, campaign id), zero-delivery rows omitted. Metric values are
  strings: money with 2 decimals ("125.40"), counts as integers, ctr in percent; "-" where
  there is no value: revenue (`total_complete_payment_rate`, `complete_payment_roas`) of
  campaigns without purchase tracking, and ratios over zero.
  `filtering`, `order_field`, `query_lifetime=true` and `query_mode=CHUNK` are refused (40002)
  rather than ignored. Conversions are `conversion`; revenue (purchase value) is `total_complete_payment_rate`,
  as TikTok names it [secondary: the portal's metric list, not the SDK].
- `POST /open_api/v1.3/oauth2/access_token/` JSON `{app_id, secret, auth_code}`: `data
  {access_token, advertiser_ids, scope}` (a long-term token, no refresh token; `auth_code`
  `invalid-*` answers 40110).
- `GET /open_api/v1.3/oauth2/advertiser/get/?app_id=&secret=` with `Access-Token`: the
  advertisers the token can read, `data {"list": [{advertiser_id, advertiser_name}]}`: the
  way to validate a token. When SANDBOX_TIKTOK_APP_ID / SANDBOX_TIKTOK_SECRET are set,
  app_id/secret must match them (else 40101).

Every answer is HTTP 200; errors carry a non-zero `code` and `data: {}`: 40104 no token,
40105 a `revoked-*` token, 40102 an `expired-*` one, 40001 a `noperm-*` one, 40002 a bad
parameter. The status_429 switch answers code SANDBOX_TIKTOK_THROTTLE_CODE (40100 app QPS
limit, the default, or 40133 advertiser QPS limit) with no header; status_5xx answers 50000.

"today" (the last day with data) is the UTC date, or SANDBOX_ADS_TODAY (YYYY-MM-DD).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from include.demo import ads_data
from sandbox.malformed import malformed_with
from sandbox.registry import SandboxApi
from sandbox.request_parsing import json_body

METRICS = ("campaign_name", "currency", "spend", "impressions", "clicks", "conversion", "complete_payment",
           "total_complete_payment_rate", "complete_payment_roas", "cpc", "cpm", "ctr", "cost_per_conversion")
DEFAULT_METRICS = ("spend", "impressions")
DIMENSIONS = {"campaign_id", "stat_time_day"}
# Parameters that would change the rows: refused rather than ignored.
UNSERVED = ("filtering", "order_field", "query_lifetime", "query_mode")
MAX_DAYS = 30
MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE = 1000, 10
NO_VALUE = "-"
CENT = Decimal("0.01")
THROTTLES = {40100: "Too many requests. Please retry in some time.",
             40133: "The number of requests for this advertiser exceeded the QPS limit. Please retry in some time."}


def _request_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S") + secrets.token_hex(9).upper()


def tiktok_error(code: int, message: str) -> dict:
    return {"code": code, "message": message, "request_id": _request_id(), "data": {}}


def _error(code: int, message: str) -> JSONResponse:
    return JSONResponse(tiktok_error(code, message), status_code=200)


def _fault(status: int, retry_after: int) -> Response:
    if status == 429:
        code = int(os.environ.get("SANDBOX_TIKTOK_THROTTLE_CODE", "40100"))
        if code not in THROTTLES:
            raise ValueError(f"SANDBOX_TIKTOK_THROTTLE_CODE {code} is not one of {sorted(THROTTLES)}")
        return _error(code, THROTTLES[code])
    return _error(50000, "System error, please retry later (sandbox fault switch status_5xx).")


api = SandboxApi(name="tiktok_ads", error_body=lambda status, message: tiktok_error(50000, message),
                 fault_response=_fault)


class TikTokError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _today() -> date:
    raw = os.environ.get("SANDBOX_ADS_TODAY")
    return date.fromisoformat(raw) if raw else datetime.now(UTC).date()


def _authorize(request: Request) -> str:
    token = request.headers.get("access-token", "").strip()
    if not token:
        raise TikTokError(40104, "Access token is null, please set the Access-Token header.")
    if token.startswith("revoked-"):
        raise TikTokError(40105, "Access token is incorrect or has been revoked.")
    if token.startswith("expired-"):
        raise TikTokError(40102, "Access token has expired.")
    return token


def _json_list(params, name: str, default: tuple[str, ...] | None) -> list[str]:
    raw = params.get(name)
    if raw is None or raw == "":
        if default is None:
            raise TikTokError(40002, f"{name}: Missing data for required field.")
        return list(default)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise TikTokError(40002, f"{name}: must be a JSON-encoded array, got {raw!r}") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TikTokError(40002, f"{name}: must be a JSON-encoded array of strings, got {raw!r}")
    return value


def _int(params, name: str, default: int, high: int | None = None) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise TikTokError(40002, f"{name}: Not a valid integer.") from None
    if value < 1 or (high is not None and value > high):
        raise TikTokError(40002, f"{name}: must be between 1 and {high}." if high else f"{name}: must be >= 1.")
    return value


def _day(params, name: str) -> date:
    raw = params.get(name)
    if not raw:
        raise TikTokError(40002, f"{name}: Missing data for required field.")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise TikTokError(40002, f"{name}: Not a valid date (YYYY-MM-DD): {raw!r}") from None


def _money(amount: Decimal) -> str:
    return str(amount.quantize(CENT, rounding=ROUND_HALF_EVEN))


def _ratio(numerator: Decimal, denominator: Decimal | int, scale: int = 1) -> str:
    if not denominator:
        return NO_VALUE
    return _money(Decimal(numerator) * scale / Decimal(denominator))


def _metrics(account: ads_data.Account, s: ads_data.DayStats, wanted: list[str]) -> dict:
    campaign = ads_data.campaign("tiktok", account.account_id, s.campaign_id)
    values = {
        "campaign_name": campaign.name, "currency": account.currency, "spend": _money(s.spend),
        "impressions": str(s.impressions), "clicks": str(s.clicks), "conversion": str(s.conversions),
        "complete_payment": str(s.conversions) if s.revenue is not None else NO_VALUE,
        "total_complete_payment_rate": _money(s.revenue) if s.revenue is not None else NO_VALUE,
        "complete_payment_roas": _ratio(s.revenue, s.spend) if s.revenue is not None else NO_VALUE,
        "cpc": _ratio(s.spend, s.clicks), "cpm": _ratio(s.spend, s.impressions, 1000),
        "ctr": _ratio(Decimal(s.clicks), s.impressions, 100), "cost_per_conversion": _ratio(s.spend, s.conversions),
    }
    return {m: values[m] for m in wanted}


def _set_metric(key: str, value) -> Callable[[dict], None]:
    return lambda r: r["metrics"].__setitem__(key, value) if key in r["metrics"] else r.pop("metrics")


ROW_CORRUPTIONS = (
    lambda r: r["dimensions"].pop("campaign_id"),
    lambda r: r["dimensions"].__setitem__("stat_time_day", "not-a-date"),
    _set_metric("spend", "n/a"),
    _set_metric("impressions", None),
    lambda r: r.pop("metrics"),
)


@api.router.get("/open_api/v1.3/report/integrated/get/")
async def integrated_report(request: Request):
    params = request.query_params
    try:
        _authorize(request)
        if request.headers.get("access-token", "").startswith("noperm-"):
            raise TikTokError(40001, "No permission to operate advertiser "
                                     f"{params.get('advertiser_id')}: the token lacks the Reporting scope.")
        advertiser = params.get("advertiser_id", "")
        if not advertiser.isdigit():
            raise TikTokError(40002, f"advertiser_id: must be a numeric string, got {advertiser!r}")
        if params.get("report_type") != "BASIC":
            raise TikTokError(40002, f"report_type: the sandbox serves BASIC only, got {params.get('report_type')!r}")
        if params.get("service_type", "AUCTION") != "AUCTION":
            raise TikTokError(40002, "service_type: the sandbox serves AUCTION only")
        if params.get("data_level") != "AUCTION_CAMPAIGN":
            raise TikTokError(40002, f"data_level: the sandbox serves AUCTION_CAMPAIGN only, "
                                     f"got {params.get('data_level')!r}")
        unserved = [p for p in UNSERVED if params.get(p) not in (None, "", "[]", "false", "False", "REGULAR")]
        if unserved:
            raise TikTokError(40002, f"The sandbox does not serve {', '.join(unserved)}: its rows would be wrong.")
        dimensions = _json_list(params, "dimensions", None)
        if set(dimensions) != DIMENSIONS or len(dimensions) != 2:
            raise TikTokError(40002, f"dimensions: the sandbox serves [\"campaign_id\", \"stat_time_day\"], "
                                     f"got {dimensions}")
        metrics = _json_list(params, "metrics", DEFAULT_METRICS)
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise TikTokError(40002, f"metrics: invalid metric(s) {unknown}; the sandbox serves {list(METRICS)}")
        start, end = _day(params, "start_date"), _day(params, "end_date")
        if start > end:
            raise TikTokError(40002, "start_date must be on or before end_date.")
        if (end - start).days >= MAX_DAYS:
            raise TikTokError(40002, f"The time span between start_date and end_date cannot exceed {MAX_DAYS} days "
                                     f"when stat_time_day is a dimension.")
        page = _int(params, "page", 1)
        page_size = _int(params, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    except TikTokError as exc:
        return _error(exc.code, exc.message)

    account = ads_data.account("tiktok", advertiser)
    stats = ads_data.account_stats("tiktok", advertiser, start, end, _today())
    total = len(stats)
    rows = [{"dimensions": {"campaign_id": s.campaign_id, "stat_time_day": f"{s.day.isoformat()} 00:00:00"},
             "metrics": _metrics(account, s, metrics)}
            for s in stats[(page - 1) * page_size:page * page_size]]
    return {"code": 0, "message": "OK", "request_id": _request_id(), "data": {
        "list": malformed_with(request, rows, ROW_CORRUPTIONS),
        "page_info": {"page": page, "page_size": page_size, "total_number": total,
                      "total_page": -(-total // page_size)}}}


def _check_app(app_id, secret) -> None:
    if not app_id or not secret:
        raise TikTokError(40002, "app_id and secret are required.")
    want_id, want_secret = os.environ.get("SANDBOX_TIKTOK_APP_ID"), os.environ.get("SANDBOX_TIKTOK_SECRET")
    if (want_id and str(app_id) != want_id) or (want_secret and str(secret) != want_secret):
        raise TikTokError(40101, "The app_id or secret is invalid.")


@api.router.post("/open_api/v1.3/oauth2/access_token/")
async def access_token(request: Request):
    body = await json_body(request)
    try:
        if not isinstance(body, dict):
            raise TikTokError(40002, "The request body must be a JSON object {app_id, secret, auth_code}.")
        _check_app(body.get("app_id"), body.get("secret"))
        code = body.get("auth_code")
        if not code:
            raise TikTokError(40002, "auth_code: Missing data for required field.")
        if str(code).startswith("invalid-"):
            raise TikTokError(40110, "The auth_code is invalid or has expired (valid for 1 hour, single use).")
    except TikTokError as exc:
        return _error(exc.code, exc.message)
    token = "act." + hashlib.sha256(str(code).encode()).hexdigest()[:40]
    return {"code": 0, "message": "OK", "request_id": _request_id(), "data": {
        "access_token": token, "advertiser_ids": [a.account_id for a in ads_data.demo_accounts("tiktok")],
        "scope": [1, 2, 3, 4, 5, 6]}}


@api.router.get("/open_api/v1.3/oauth2/advertiser/get/")
async def advertisers(request: Request):
    try:
        _check_app(request.query_params.get("app_id"), request.query_params.get("secret"))
        _authorize(request)
    except TikTokError as exc:
        return _error(exc.code, exc.message)
    return {"code": 0, "message": "OK", "request_id": _request_id(), "data": {"list": [
        {"advertiser_id": a.account_id, "advertiser_name": a.name} for a in ads_data.demo_accounts("tiktok")]}}
