"""Meta Marketing API (stands in for https://graph.facebook.com): ad account insights per
campaign and day, the long-lived token exchange and debug_token, with the data of
include/demo/ads_data.py (the generator the demo seed uses).

Routes (any `v<major>.<minor>` version segment, or only those of SANDBOX_META_VERSIONS,
comma-separated; another answers code 2635 "deprecated version"):
- `GET /{version}/act_{account_id}/insights`: `level=campaign`, `fields` (comma-separated, of
  FIELDS; `date_start`/`date_stop` always come), `time_range={"since","until"}` (JSON) or
  `date_preset` (today, yesterday, last_7d, last_14d, last_30d, last_90d; default last_30d),
  `time_increment=1` (or `all_days`: one row per campaign over the range), `limit` (1..5000,
  default 25), `after` (cursor). Rows by (day, campaign id), zero-delivery rows omitted,
  metrics as strings: `spend` a decimal string without trailing zeros ("5339.5"),
  conversions and revenue in `actions` / `action_values` as the action type
  `offsite_conversion.fb_pixel_purchase` (actions also carry a `link_click` entry; a type
  with no value is left out, and so is the whole array). Paging: `paging.cursors.before/after`
  on every non-empty page, `paging.next` (absolute URL, token kept) absent on the last one.
  `breakdowns`, `action_breakdowns`, `filtering`, `sort`, `time_ranges` are refused (code
  100) rather than ignored; other parameters (attribution settings, `summary`) are ignored.
- `GET /{version}/oauth/access_token?grant_type=fb_exchange_token&client_id&client_secret&
  fb_exchange_token=`: `{"access_token", "token_type": "bearer", "expires_in"}`.
- `GET /{version}/debug_token?input_token=&access_token=` (an app token `id|secret` or any
  valid token): `{"data": {app_id, type, application, expires_at, data_access_expires_at,
  is_valid, issued_at, scopes, user_id[, error]}}`.

Auth: `access_token` query parameter, or `Authorization: Bearer|OAuth <token>`. When
SANDBOX_META_APP_ID / SANDBOX_META_APP_SECRET are set, client_id/client_secret, app tokens and
any `appsecret_proof` (HMAC-SHA256 of the token, keyed by the secret) must match them.

Tokens behave by their prefix (expiries anchored at the start of the current UTC hour H):
| token | debug_token | insights | exchange |
|---|---|---|---|
| `system-*` | SYSTEM_USER, expires_at 0 (never) | ok | same token, no `expires_in` |
| `expiring-*` | USER, expires at H + 12 h | ok | a new `long-<epoch>-*` token, 60 days |
| `stale-*` | USER, expires at H + 12 h | ok | the same token and expiry (the user stopped using the app) |
| `long-<epoch>-*` | USER, expires at <epoch> | ok until then, then 190/463 | a new `long-*`, 60 days |
| `expired-*` | is_valid false, error 190/463 | 190/463 | 190/463 |
| `revoked-*` | is_valid false, error 190/460 | 190/460 | 190/460 |
| `noapp-*` | is_valid false, error 190/458 | 190/458 | 190/458 |
| `noperm-*` | USER, valid, no ads scopes | code 200 (no ads_read) | a new `noperm-long-*` |
| other | USER, expires at H + 50 days | ok | a new `long-*`, 60 days |

Errors: HTTP 400 `{"error": {message, type: "OAuthException", code, error_subcode?,
is_transient, fbtrace_id}}`. The status_429 switch answers as Meta throttles: HTTP 400 with
code SANDBOX_META_THROTTLE_CODE (80000 default: ads_insights business use case; 4, 17, 613)
and `estimated_time_to_regain_access` = ceil(retry_after / 60) minutes in the
`X-Business-Use-Case-Usage` header; status_5xx answers HTTP 500 code 2 (transient). Every
answer carries `X-App-Usage`, insights answers `X-Business-Use-Case-Usage` keyed by the
account id, and `x-fb-trace-id`.

"today" (the last day with data; planted anomalies are relative to it) is the UTC date, or
SANDBOX_ADS_TODAY (YYYY-MM-DD) when set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from include.demo import ads_data
from sandbox.malformed import malformed_with
from sandbox.registry import SandboxApi

PURCHASE = "offsite_conversion.fb_pixel_purchase"
FIELDS = ("account_id", "account_name", "account_currency", "campaign_id", "campaign_name", "spend",
          "impressions", "clicks", "actions", "action_values", "date_start", "date_stop")
DEFAULT_FIELDS = ("spend", "impressions", "clicks")  # Meta's default is a few account-level metrics
PRESETS = {"today": (0, 0), "yesterday": (1, 1), "last_7d": (7, 1), "last_14d": (14, 1), "last_30d": (30, 1),
           "last_90d": (90, 1)}
DEFAULT_LIMIT, MAX_LIMIT = 25, 5000
# Parameters that would change the rows: refused rather than ignored (attribution settings are accepted).
UNSERVED = ("breakdowns", "action_breakdowns", "filtering", "sort", "time_ranges", "export_format")
LONG_LIVED = 60 * 86400
DEFAULT_APP_ID = "100000000000001"
VERSION = re.compile(r"^v\d+\.\d+$")
HOUR = 3600

THROTTLES = {
    80000: (2446079, "There have been too many calls from this ad-account. Wait a bit and try again. For more "
                     "info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting."),
    4: (1504022, "(#4) Application request limit reached"),
    17: (2446079, "(#17) User request limit reached"),
    613: (1487742, "(#613) Calls to this api have exceeded the rate limit."),
}
TOKEN_ERRORS = {
    "expired-": (463, "Error validating access token: Session has expired on {when}. The current time is {now}."),
    "revoked-": (460, "Error validating access token: The session has been invalidated because the user changed "
                      "their password or Facebook has changed the session for security reasons."),
    "noapp-": (458, "Error validating access token: The user has not authorized application {app}."),
}


def _trace() -> str:
    return secrets.token_urlsafe(8)


def meta_error(code: int, message: str, subcode: int | None = None, transient: bool = False,
               kind: str = "OAuthException") -> dict:
    error = {"message": message, "type": kind, "code": code, "is_transient": transient, "fbtrace_id": _trace()}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


def _error(code: int, message: str, subcode: int | None = None, status: int = 400,
           transient: bool = False, kind: str = "OAuthException") -> JSONResponse:
    return JSONResponse(meta_error(code, message, subcode, transient, kind), status_code=status)


def _fault(status: int, retry_after: int) -> Response:
    if status == 429:
        code = int(os.environ.get("SANDBOX_META_THROTTLE_CODE", "80000"))
        if code not in THROTTLES:
            raise ValueError(f"SANDBOX_META_THROTTLE_CODE {code} is not one of {sorted(THROTTLES)}")
        subcode, message = THROTTLES[code]
        response = _error(code, message, subcode, transient=True)
        response.headers["x-sandbox-regain-minutes"] = str(math.ceil(retry_after / 60))
        return response
    return _error(2, "An unexpected error has occurred. Please retry your request later.", status=500,
                  transient=True)


api = SandboxApi(name="meta_ads", error_body=lambda code, message: meta_error(code, message),
                 fault_response=_fault)
_GuardedRoute = api.router.route_class


class _UsageRoute(_GuardedRoute):
    """The guarded route plus Meta's usage headers on every answer (throttled ones included)."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def with_usage(request: Request) -> Response:
            response = await handler(request)
            minutes = response.headers.get("x-sandbox-regain-minutes")
            throttled = minutes is not None
            if throttled:
                del response.headers["x-sandbox-regain-minutes"]
            pct = 100 if throttled else 1
            response.headers["X-App-Usage"] = json.dumps({"call_count": pct, "total_time": pct, "total_cputime": pct})
            account = request.path_params.get("account_id")
            if account is not None:
                response.headers["X-Business-Use-Case-Usage"] = json.dumps({account: [{
                    "type": "ads_insights", "call_count": pct, "total_cputime": pct, "total_time": pct,
                    "estimated_time_to_regain_access": int(minutes or 0), "ads_api_access_tier": "standard_access"}]})
                response.headers["X-Ad-Account-Usage"] = json.dumps({
                    "acc_id_util_pct": pct, "reset_time_duration": int(minutes or 0) * 60,
                    "ads_api_access_tier": "standard_access"})
            response.headers["x-fb-trace-id"] = _trace()
            return response

        return with_usage


api.router.route_class = _UsageRoute  # set before the routes below are added


class GraphError(Exception):
    def __init__(self, code: int, message: str, subcode: int | None = None):
        super().__init__(message)
        self.code, self.message, self.subcode = code, message, subcode

    def response(self) -> JSONResponse:
        return _error(self.code, self.message, self.subcode)


def _today() -> date:
    raw = os.environ.get("SANDBOX_ADS_TODAY")
    return date.fromisoformat(raw) if raw else datetime.now(UTC).date()


def _check_version(version: str) -> None:
    allowed = [v.strip() for v in os.environ.get("SANDBOX_META_VERSIONS", "").split(",") if v.strip()]
    if not VERSION.match(version):
        raise GraphError(2500, f"Unknown path components: /{version}")
    if allowed and version not in allowed:
        raise GraphError(2635, f"(#2635) You are calling a deprecated version of the Ads API. Please update to "
                               f"the latest version: {allowed[-1]}.")


def _app() -> tuple[str | None, str | None]:
    return os.environ.get("SANDBOX_META_APP_ID"), os.environ.get("SANDBOX_META_APP_SECRET")


def _request_token(request: Request) -> str | None:
    token = request.query_params.get("access_token")
    if token:
        return token
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() in ("bearer", "oauth") and value.strip() else None


def _hour_start(now: float) -> int:
    return int(now) // HOUR * HOUR


def token_info(token: str, now: float | None = None) -> dict:
    """What Meta knows of a token: {type, expires_at (0 never), data_access_expires_at,
    scopes, error: (subcode, message) or None}."""
    now = time.time() if now is None else now
    hour = _hour_start(now)
    info = {"type": "USER", "expires_at": hour + 50 * 86400, "data_access_expires_at": hour + 80 * 86400,
            "scopes": ["ads_read", "ads_management", "business_management", "public_profile"], "error": None}
    if token.startswith("system-"):
        info.update(type="SYSTEM_USER", expires_at=0, data_access_expires_at=0)
    elif token.startswith(("expiring-", "stale-")):
        info["expires_at"] = hour + 12 * HOUR
    if token.startswith("noperm-"):
        info["scopes"] = ["public_profile"]
    if (long := re.match(r"^(?:noperm-)?long-(\d+)-", token)) is not None:
        info["expires_at"] = int(long.group(1))
    for prefix, (subcode, message) in TOKEN_ERRORS.items():
        if token.startswith(prefix):
            if prefix == "expired-":
                info["expires_at"] = hour - 86400
            info["error"] = (subcode, message)
    if info["error"] is None and info["expires_at"] and info["expires_at"] <= now:
        info["error"] = TOKEN_ERRORS["expired-"]
    return info


def _token_error(info: dict, now: float) -> GraphError:
    subcode, message = info["error"]
    fmt = "%A, %d-%b-%y %H:%M:%S UTC"
    when = datetime.fromtimestamp(info["expires_at"] or now, UTC).strftime(fmt)
    return GraphError(190, message.format(when=when, now=datetime.fromtimestamp(now, UTC).strftime(fmt),
                                          app=_app()[0] or DEFAULT_APP_ID), subcode)


def _authorize(request: Request) -> tuple[str, dict]:
    """The caller's valid token and its info, or a GraphError."""
    token = _request_token(request)
    if not token:
        raise GraphError(104, "An access token is required to request this resource.")
    now = time.time()
    if "|" in token:
        raise GraphError(200, "(#200) An app access token cannot read ad accounts: use a user or system user token.")
    info = token_info(token, now)
    if info["error"] is not None:
        raise _token_error(info, now)
    proof = request.query_params.get("appsecret_proof")
    _, secret = _app()
    if proof and secret:
        want = hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(proof, want):
            raise GraphError(100, "Invalid appsecret_proof provided in the API argument")
    return token, info


# --- insights -----------------------------------------------------------------------------------

def _cursor(position: int) -> str:
    return base64.b64encode(str(position).encode()).decode().replace("=", "Z")


def _position(cursor: str) -> int:
    try:
        return int(base64.b64decode(cursor.replace("Z", "=")).decode())
    except (ValueError, UnicodeDecodeError):
        raise GraphError(100, f"(#100) Invalid cursor: {cursor}") from None


def _money(amount: Decimal) -> str:
    """Meta's money strings: the decimal without trailing zeros ("5339.5", "120")."""
    return format(amount.normalize(), "f")


def _range(params) -> tuple[date, date]:
    today = _today()
    raw = params.get("time_range")
    if raw:
        try:
            spec = json.loads(raw)
            since, until = date.fromisoformat(spec["since"]), date.fromisoformat(spec["until"])
        except (ValueError, KeyError, TypeError):
            raise GraphError(100, f"(#100) Param time_range must be a JSON object with since and until "
                                  f"dates (YYYY-MM-DD), got {raw!r}") from None
        if since > until:
            raise GraphError(100, "(#100) time_range: since must be on or before until")
        return since, until
    preset = params.get("date_preset", "last_30d")
    if preset not in PRESETS:
        raise GraphError(100, f"(#100) date_preset must be one of {', '.join(PRESETS)} (sandbox)")
    back, last = PRESETS[preset]
    return today - timedelta(days=back), today - timedelta(days=last)


def _fields(params) -> list[str]:
    raw = params.get("fields")
    fields = [f.strip() for f in raw.split(",") if f.strip()] if raw else list(DEFAULT_FIELDS)
    for field in fields:
        if field not in FIELDS:
            raise GraphError(100, f"(#100) {field} is not valid for fields param. please check "
                                  f"https://developers.facebook.com/docs/marketing-api/reference/ads-insights/ "
                                  f"for all valid values")
    return fields


def _row(account: ads_data.Account, stats: list[ads_data.DayStats], since: date, until: date,
         fields: list[str]) -> dict:
    """One insights row of one campaign: a day's stats, or several days' summed (all_days)."""
    first = stats[0]
    campaign = ads_data.campaign("meta", account.account_id, first.campaign_id)
    spend = sum((s.spend for s in stats), Decimal(0))
    clicks = sum(s.clicks for s in stats)
    conversions = sum((s.conversions for s in stats), Decimal(0))
    revenue = sum((s.revenue or Decimal(0) for s in stats), Decimal(0))
    values = {
        "account_id": account.account_id, "account_name": account.name, "account_currency": account.currency,
        "campaign_id": campaign.campaign_id, "campaign_name": campaign.name, "spend": _money(spend),
        "impressions": str(sum(s.impressions for s in stats)), "clicks": str(clicks),
    }
    actions = [{"action_type": "link_click", "value": str(round(clicks * 0.9))}] if clicks else []
    if conversions:
        actions.append({"action_type": PURCHASE, "value": str(conversions)})
    if actions:
        values["actions"] = actions
    if revenue:
        values["action_values"] = [{"action_type": PURCHASE, "value": _money(revenue)}]
    row = {f: values[f] for f in fields if f in values and f not in ("date_start", "date_stop")}
    row["date_start"], row["date_stop"] = since.isoformat(), until.isoformat()
    return row


def _set(key: str, value) -> Callable[[dict], None]:
    return lambda r: r.__setitem__(key, value)


def _bad_action(row: dict) -> None:
    row["actions"] = [{**a, "value": "n/a"} for a in row.get("actions", [])] or [{"action_type": PURCHASE}]


def _drop_id(row: dict) -> None:
    row.pop("campaign_id" if "campaign_id" in row else "date_start")


ROW_CORRUPTIONS = (
    _drop_id,
    _set("spend", "n/a"),
    _set("date_start", "not-a-date"),
    _set("impressions", None),
    _bad_action,
)


def _page_url(request: Request, version: str, account_id: str, **cursor: str) -> str:
    query = {k: v for k, v in request.query_params.items() if k not in ("after", "before")}
    return f"{str(request.base_url).rstrip('/')}/{version}/act_{account_id}/insights?{urlencode({**query, **cursor})}"


@api.router.get("/{version}/act_{account_id}/insights")
async def insights(version: str, account_id: str, request: Request):
    try:
        _check_version(version)
        _, info = _authorize(request)
        if "ads_read" not in info["scopes"]:
            raise GraphError(200, "(#200) Ad account owner has NOT grant ads_management or ads_read permission")
        if not account_id.isdigit():
            raise GraphError(100, f"Unsupported get request. Object with ID 'act_{account_id}' does not exist, "
                                  f"cannot be loaded due to missing permissions, or does not support this "
                                  f"operation.", 33)
        params = request.query_params
        level = params.get("level")
        if level != "campaign":
            raise GraphError(100, f"(#100) The sandbox serves level=campaign only, got level={level!r}")
        unserved = [p for p in UNSERVED if params.get(p) not in (None, "", "[]")]
        if unserved:
            raise GraphError(100, f"(#100) The sandbox does not serve {', '.join(unserved)}: its rows would be wrong")
        fields = _fields(params)
        since, until = _range(params)
        increment = params.get("time_increment", "all_days")
        if increment not in ("1", "all_days"):
            raise GraphError(100, f"(#100) The sandbox serves time_increment=1 or all_days, got {increment!r}")
        if params.get("before"):
            raise GraphError(100, "(#100) The sandbox pages forward only (after), not before")
        try:
            limit = int(params.get("limit", DEFAULT_LIMIT))
        except ValueError:
            raise GraphError(100, f"(#100) Param limit must be an integer, got {params.get('limit')!r}") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise GraphError(100, f"(#100) Param limit must be between 1 and {MAX_LIMIT}")
        start = _position(params["after"]) + 1 if params.get("after") else 0
    except GraphError as exc:
        return exc.response()

    account = ads_data.account("meta", account_id)
    stats = ads_data.account_stats("meta", account_id, since, until, _today())
    if increment == "1":  # one row per campaign-day: only this page's are formatted
        total = len(stats)
        page = [_row(account, [s], s.day, s.day, fields) for s in stats[start:start + limit]]
    else:
        by_campaign: dict[str, list] = {}
        for s in stats:
            by_campaign.setdefault(s.campaign_id, []).append(s)
        rows = [_row(account, by_campaign[c], since, until, fields) for c in sorted(by_campaign)]
        total, page = len(rows), rows[start:start + limit]
    if not page:
        return {"data": []}
    body = {"data": malformed_with(request, page, ROW_CORRUPTIONS),
            "paging": {"cursors": {"before": _cursor(start), "after": _cursor(start + len(page) - 1)}}}
    if start > 0:
        body["paging"]["previous"] = _page_url(request, version, account_id, before=_cursor(start))
    if start + len(page) < total:
        body["paging"]["next"] = _page_url(request, version, account_id, after=_cursor(start + len(page) - 1))
    return body


# --- tokens -------------------------------------------------------------------------------------

def _check_app(client_id: str | None, client_secret: str | None) -> None:
    want_id, want_secret = _app()
    if not client_id:
        raise GraphError(101, "Missing client_id parameter.")
    if not client_secret:
        raise GraphError(1, "Missing client_secret parameter.")
    if want_id and client_id != want_id:
        raise GraphError(101, "Error validating application. Invalid application ID.")
    if want_secret and client_secret != want_secret:
        raise GraphError(1, "Error validating client secret.")


@api.router.get("/{version}/oauth/access_token")
async def exchange_token(version: str, request: Request):
    params = request.query_params
    try:
        _check_version(version)
        if params.get("grant_type") != "fb_exchange_token":
            raise GraphError(100, f"(#100) The sandbox serves grant_type=fb_exchange_token only, "
                                  f"got {params.get('grant_type')!r}")
        _check_app(params.get("client_id"), params.get("client_secret"))
        token = params.get("fb_exchange_token")
        if not token:
            raise GraphError(100, "(#100) Missing fb_exchange_token parameter.")
        now = time.time()
        info = token_info(token, now)
        if info["error"] is not None:
            raise _token_error(info, now)
    except GraphError as exc:
        return exc.response()
    if info["type"] == "SYSTEM_USER":
        return {"access_token": token, "token_type": "bearer"}
    if token.startswith("stale-"):
        return {"access_token": token, "token_type": "bearer", "expires_in": info["expires_at"] - int(now)}
    expires_at = int(now) + LONG_LIVED
    digest = hashlib.sha256(f"{token}|{expires_at}".encode()).hexdigest()[:24]
    prefix = "long-" if not token.startswith("noperm-") else "noperm-long-"  # keeps its missing scopes
    return {"access_token": f"{prefix}{expires_at}-{digest}", "token_type": "bearer", "expires_in": LONG_LIVED}


@api.router.get("/{version}/debug_token")
async def debug_token(version: str, request: Request):
    params = request.query_params
    try:
        _check_version(version)
        caller = _request_token(request)
        if not caller:
            raise GraphError(104, "An access token is required to request this resource.")
        app_id = _app()[0] or DEFAULT_APP_ID
        if "|" in caller:
            caller_id, _, caller_secret = caller.partition("|")
            _check_app(caller_id, caller_secret)
            app_id = caller_id
        elif token_info(caller)["error"] is not None:
            raise _token_error(token_info(caller), time.time())
        token = params.get("input_token")
        if not token:
            raise GraphError(100, "(#100) The parameter input_token is required")
    except GraphError as exc:
        return exc.response()
    now = time.time()
    info = token_info(token, now)
    user_id = str(10**14 + int(hashlib.sha256(token.encode()).hexdigest()[:12], 16) % (9 * 10**14))
    data = {"app_id": app_id, "type": info["type"], "application": "jobyard sandbox",
            "data_access_expires_at": info["data_access_expires_at"], "expires_at": info["expires_at"],
            "is_valid": info["error"] is None, "issued_at": _hour_start(now) - 86400, "scopes": info["scopes"],
            "user_id": user_id}
    if info["error"] is not None:
        error = _token_error(info, now)
        data["error"] = {"code": 190, "message": error.message, "subcode": error.subcode}
    return {"data": data}
