"""Google Ads API, REST (stands in for https://googleads.googleapis.com): campaign stats by
`googleAds:searchStream` with a GAQL query, with the data of include/demo/ads_data.py (the
generator the demo seed uses). Access tokens come from the shared `POST /token` stand-in
(google_oauth), whose refresh grant refuses refresh tokens `invalid-*` and `revoked-*`.

`POST /v{N}/customers/{customer_id}/googleAds:searchStream` (N of SANDBOX_GOOGLE_ADS_VERSIONS,
default v21..v26; another answers requestError UNSUPPORTED_VERSION), headers
`Authorization: Bearer <token>`, `developer-token` (any, or SANDBOX_GOOGLE_ADS_DEVELOPER_TOKEN
when set), optional `login-customer-id` (10 digits), body `{"query": "<GAQL>"}`.

GAQL served: `SELECT <fields> FROM campaign WHERE <conditions joined by AND> [ORDER BY f
[ASC|DESC], ...] [LIMIT n] [PARAMETERS ...]`, fields of FIELDS (campaign.id/name/status/
resource_name, customer.id/currency_code/descriptive_name, segments.date, metrics.cost_micros/
impressions/clicks/conversions/conversions_value); conditions `f = != > >= < <= v`, `f IN (...)`,
`f NOT IN (...)`, `segments.date BETWEEN 'a' AND 'b'`, `segments.date DURING TODAY|YESTERDAY|
LAST_7_DAYS|LAST_14_DAYS|LAST_30_DAYS` (excluding today). A finite segments.date range is
required (queryError EXPECTED_FILTERS_ON_DATE_RANGE); without segments.date in SELECT the
rows are summed per campaign over the range.

The answer is ONE JSON array of batches (SANDBOX_GOOGLE_ADS_BATCH_ROWS rows each, default
10,000): `{"results": [{"campaign": {"resourceName", "id": "<int64>", "name"}, "segments":
{"date"}, "metrics": {"costMicros": "<int64>", "impressions": "<int64>", "clicks": "<int64>",
"conversions": <double>, "conversionsValue": <double>}}], "fieldMask": "<camelCase, comma-
separated>", "requestId"}`, the last batch adding `queryResourceConsumption`; fields with
their default value (0) are omitted, as proto3 JSON does; no rows: one batch without
`results`. Rows by (day, campaign id) unless ORDER BY says otherwise.

Errors are array-wrapped Google RPC errors with a GoogleAdsFailure detail:
`[{"error": {code, message, status, details: [{"@type": ".../v{N}.errors.GoogleAdsFailure",
"errors": [{"errorCode": {...}, "message"}], "requestId"}]}}]`: 401 authenticationError for
a missing or malformed Authorization (OAUTH_TOKEN_HEADER_INVALID) and for tokens
`expired-*` / `revoked-*` / `invalid-*` (OAUTH_TOKEN_EXPIRED / _REVOKED / _INVALID) and an
`invalid-*` developer token (DEVELOPER_TOKEN_INVALID); 403 authorizationError for tokens
`noperm-*` (USER_PERMISSION_DENIED) and developer tokens `unapproved-*`
(DEVELOPER_TOKEN_NOT_APPROVED); 400 requestError (INVALID_CUSTOMER_ID,
DEVELOPER_TOKEN_PARAMETER_MISSING, UNSUPPORTED_VERSION), headerError INVALID_LOGIN_CUSTOMER_ID,
queryError (UNRECOGNIZED_FIELD, BAD_RESOURCE_TYPE_IN_FROM_CLAUSE, EXPECTED_FILTERS_ON_DATE_RANGE,
QUERY_ERROR). The status_429 switch answers 429 RESOURCE_EXHAUSTED, quotaError
RESOURCE_EXHAUSTED with `details.quotaErrorDetails.retryDelay` "<retry_after>s" (no
Retry-After header); status_5xx answers 503 UNAVAILABLE. (Fault answers name the newest
served version in their @type: they are decided before the route sees the path.)

"today" (the last day with data) is the UTC date, or SANDBOX_ADS_TODAY (YYYY-MM-DD).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from include.demo import ads_data
from sandbox.errors import GOOGLE_STATUS
from sandbox.malformed import malformed_with
from sandbox.registry import SandboxApi
from sandbox.request_parsing import bearer_token, json_body

DEFAULT_VERSIONS = ("v21", "v22", "v23", "v24", "v25", "v26")
DEFAULT_BATCH_ROWS = 10_000
CUSTOMER_ID = re.compile(r"^\d{10}$")
TOP_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie "
         "or other valid authentication credential.",
    403: "The caller does not have permission",
    429: "Resource has been exhausted (e.g. check quota).",
    503: "The service is currently unavailable.",
}
# GAQL field -> (JSON object, JSON field, is a metric: omitted when 0)
FIELDS = {
    "campaign.id": ("campaign", "id", False),
    "campaign.name": ("campaign", "name", False),
    "campaign.status": ("campaign", "status", False),
    "campaign.resource_name": ("campaign", "resourceName", False),
    "customer.id": ("customer", "id", False),
    "customer.currency_code": ("customer", "currencyCode", False),
    "customer.descriptive_name": ("customer", "descriptiveName", False),
    "segments.date": ("segments", "date", False),
    "metrics.cost_micros": ("metrics", "costMicros", True),
    "metrics.impressions": ("metrics", "impressions", True),
    "metrics.clicks": ("metrics", "clicks", True),
    "metrics.conversions": ("metrics", "conversions", True),
    "metrics.conversions_value": ("metrics", "conversionsValue", True),
}
INT64 = {"campaign.id", "customer.id", "metrics.cost_micros", "metrics.impressions", "metrics.clicks"}
DURING = {"TODAY": (0, 0), "YESTERDAY": (1, 1), "LAST_7_DAYS": (7, 1), "LAST_14_DAYS": (14, 1),
          "LAST_30_DAYS": (30, 1)}


def _versions() -> list[str]:
    raw = os.environ.get("SANDBOX_GOOGLE_ADS_VERSIONS", "")
    return [v.strip() for v in raw.split(",") if v.strip()] or list(DEFAULT_VERSIONS)


def _request_id() -> str:
    return secrets.token_urlsafe(16)[:22]


def ads_failure(status: int, kind: str, value: str, message: str, version: str | None = None,
                details: dict | None = None, request_id: str | None = None) -> list:
    """The array-wrapped error of a searchStream call."""
    error = {"errorCode": {kind: value}, "message": message}
    if details:
        error["details"] = details
    return [{"error": {"code": status, "message": TOP_MESSAGES.get(status, message),
                       "status": GOOGLE_STATUS.get(status, "UNKNOWN"), "details": [{
                           "@type": f"type.googleapis.com/google.ads.googleads.{version or _versions()[-1]}"
                                    f".errors.GoogleAdsFailure",
                           "errors": [error], "requestId": request_id or _request_id()}]}}]


def _fault(status: int, retry_after: int) -> Response:
    if status == 429:
        body = ads_failure(429, "quotaError", "RESOURCE_EXHAUSTED",
                           f"Too many requests. Retry in {retry_after} seconds.",
                           details={"quotaErrorDetails": {"rateScope": "DEVELOPER",
                                                          "rateName": "Number of operations for basic access",
                                                          "retryDelay": f"{retry_after}s"}})
        return JSONResponse(body, status_code=429)
    body = [{"error": {"code": 503, "message": TOP_MESSAGES[503], "status": "UNAVAILABLE"}}]
    return JSONResponse(body, status_code=503)


api = SandboxApi(name="google_ads",
                 error_body=lambda status, message: {"error": {"code": status, "message": message,
                                                               "status": GOOGLE_STATUS.get(status, "UNKNOWN")}},
                 fault_response=_fault)


class AdsError(Exception):
    def __init__(self, status: int, kind: str, value: str, message: str):
        super().__init__(message)
        self.status, self.kind, self.value, self.message = status, kind, value, message

    def response(self, version: str | None, request_id: str) -> JSONResponse:
        return JSONResponse(ads_failure(self.status, self.kind, self.value, self.message, version,
                                        request_id=request_id),
                            status_code=self.status, headers={"request-id": request_id})


def _query_error(value: str, message: str) -> AdsError:
    return AdsError(400, "queryError", value, message)


def _today() -> date:
    raw = os.environ.get("SANDBOX_ADS_TODAY")
    return date.fromisoformat(raw) if raw else datetime.now(UTC).date()


# --- GAQL -----------------------------------------------------------------------------------------

TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")|(?P<num>-?\d+(?:\.\d+)?)"
                   r"|(?P<op>!=|>=|<=|=|>|<|\(|\)|,)|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))")


def _tokens(query: str) -> list[tuple[str, str]]:
    out, at = [], 0
    query = query.strip()
    while at < len(query):
        match = TOKEN.match(query, at)
        if match is None or match.end() == at:
            raise _query_error("QUERY_ERROR", f"Error in query: unexpected input at {query[at:at + 20]!r}.")
        kind = match.lastgroup
        text = match.group(kind)
        out.append((kind, text[1:-1] if kind == "str" else text))
        at = match.end()
    return out


class _Gaql:
    def __init__(self, query: str):
        self.tokens, self.at = _tokens(query), 0
        self.select: list[str] = []
        self.conditions: list[tuple[str, str, object]] = []
        self.order: list[tuple[str, bool]] = []
        self.limit: int | None = None
        self._parse()

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _next(self, what: str) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise _query_error("UNEXPECTED_END_OF_QUERY", f"Error in query: unexpected end of query, expected {what}.")
        self.at += 1
        return token

    def _keyword(self, *words: str) -> bool:
        token = self._peek()
        if token and token[0] == "word" and token[1].upper() == words[0]:
            if len(words) == 2:
                following = self.tokens[self.at + 1] if self.at + 1 < len(self.tokens) else None
                if not (following and following[0] == "word" and following[1].upper() == words[1]):
                    return False
                self.at += 1
            self.at += 1
            return True
        return False

    def _expect(self, word: str) -> None:
        if self._peek() is None:
            raise _query_error("UNEXPECTED_END_OF_QUERY", f"Error in query: unexpected end of query, expected {word}.")
        if not self._keyword(word):
            raise _query_error("QUERY_ERROR", f"Error in query: expected {word}.")

    def _field(self) -> str:
        kind, text = self._next("a field name")
        if kind != "word":
            raise _query_error("QUERY_ERROR", f"Error in query: expected a field name, got {text!r}.")
        if text not in FIELDS:
            raise _query_error("UNRECOGNIZED_FIELD", f"Unrecognized field in the query: '{text}'.")
        return text

    def _value(self) -> object:
        kind, text = self._next("a value")
        if kind == "num":
            return Decimal(text)
        if kind in ("str", "word"):
            return text
        raise _query_error("QUERY_ERROR", f"Error in query: expected a value, got {text!r}.")

    def _list(self) -> list:
        if self._next("(") != ("op", "("):
            raise _query_error("QUERY_ERROR", "Error in query: expected ( after IN.")
        values = [self._value()]
        while self._peek() == ("op", ","):
            self.at += 1
            values.append(self._value())
        if self._next(")") != ("op", ")"):
            raise _query_error("QUERY_ERROR", "Error in query: expected ) to close the IN list.")
        return values

    def _condition(self) -> None:
        field = self._field()
        if self._keyword("BETWEEN"):
            low = self._value()
            self._expect("AND")
            self.conditions.append((field, ">=", low))
            self.conditions.append((field, "<=", self._value()))
        elif self._keyword("DURING"):
            kind, text = self._next("a date range")
            if field != "segments.date" or text.upper() not in DURING:
                raise _query_error("INVALID_VALUE_WITH_DURING_OPERATOR",
                                   f"Invalid value with DURING: {text!r} (the sandbox serves {sorted(DURING)}).")
            back, last = DURING[text.upper()]
            today = _today()
            self.conditions.append((field, ">=", (today - timedelta(days=back)).isoformat()))
            self.conditions.append((field, "<=", (today - timedelta(days=last)).isoformat()))
        elif self._keyword("NOT", "IN"):
            self.conditions.append((field, "NOT IN", self._list()))
        elif self._keyword("IN"):
            self.conditions.append((field, "IN", self._list()))
        else:
            kind, op = self._next("an operator")
            if kind != "op" or op in ("(", ")", ","):
                raise _query_error("QUERY_ERROR", f"Error in query: expected an operator after {field}, got {op!r}.")
            self.conditions.append((field, op, self._value()))

    def _parse(self) -> None:
        self._expect("SELECT")
        self.select.append(self._field())
        while self._peek() == ("op", ","):
            self.at += 1
            self.select.append(self._field())
        self._expect("FROM")
        kind, resource = self._next("a resource")
        if resource != "campaign":
            raise _query_error("BAD_RESOURCE_TYPE_IN_FROM_CLAUSE",
                               f"The sandbox serves FROM campaign only, got {resource!r}.")
        if self._keyword("WHERE"):
            self._condition()
            while self._keyword("AND"):
                self._condition()
        if self._keyword("ORDER", "BY"):
            while True:
                field = self._field()
                descending = self._keyword("DESC")
                if not descending:
                    self._keyword("ASC")
                self.order.append((field, descending))
                if self._peek() != ("op", ","):
                    break
                self.at += 1
        if self._keyword("LIMIT"):
            kind, text = self._next("a number")
            if kind != "num" or not text.isdigit() or int(text) < 1:
                raise _query_error("QUERY_ERROR", f"Error in query: LIMIT needs a positive integer, got {text!r}.")
            self.limit = int(text)
        if self._keyword("PARAMETERS"):
            self.at = len(self.tokens)  # include_drafts and the like change nothing here
        if self._peek() is not None:
            raise _query_error("QUERY_ERROR", f"Error in query: unexpected {self._peek()[1]!r}.")

    def date_range(self) -> tuple[date, date]:
        low = high = None
        for field, op, value in self.conditions:
            if field != "segments.date":
                continue
            try:
                day = date.fromisoformat(str(value))
            except ValueError:
                raise _query_error("QUERY_ERROR",
                                   f"Invalid date in the query: {value!r} (YYYY-MM-DD).") from None
            if op in (">=", ">", "="):
                start = day + timedelta(days=1) if op == ">" else day
                low = start if low is None else max(low, start)
            if op in ("<=", "<", "="):
                end = day - timedelta(days=1) if op == "<" else day
                high = end if high is None else min(high, end)
        if low is None or high is None:
            raise _query_error("EXPECTED_FILTERS_ON_DATE_RANGE",
                               "A finite date range on segments.date is required in the WHERE clause "
                               "(BETWEEN, DURING or both bounds).")
        return low, high


def _compare(actual, op: str, wanted) -> bool:
    if isinstance(actual, int | Decimal | float) and not isinstance(actual, bool):
        try:
            wanted = [Decimal(str(w)) for w in wanted] if isinstance(wanted, list) else Decimal(str(wanted))
        except ArithmeticError:
            raise _query_error("QUERY_ERROR", f"Expected a number, got {wanted!r}.") from None
        actual = Decimal(str(actual))
    else:
        actual = str(actual)
        wanted = [str(w) for w in wanted] if isinstance(wanted, list) else str(wanted)
    return {"=": lambda: actual == wanted, "!=": lambda: actual != wanted, ">": lambda: actual > wanted,
            ">=": lambda: actual >= wanted, "<": lambda: actual < wanted, "<=": lambda: actual <= wanted,
            "IN": lambda: actual in wanted, "NOT IN": lambda: actual not in wanted}[op]()


# --- rows ---------------------------------------------------------------------------------------------

def _values(account: ads_data.Account, campaign: ads_data.Campaign, stats: list[ads_data.DayStats],
            day: date | None) -> dict:
    """The GAQL values of one row: a campaign-day, or a campaign summed over the range."""
    return {
        "campaign.id": int(campaign.campaign_id), "campaign.name": campaign.name, "campaign.status": campaign.status,
        "campaign.resource_name": f"customers/{account.account_id}/campaigns/{campaign.campaign_id}",
        "customer.id": int(account.account_id), "customer.currency_code": account.currency,
        "customer.descriptive_name": account.name, "segments.date": day.isoformat() if day else None,
        "metrics.cost_micros": sum(ads_data.google_micros(s.spend) for s in stats),
        "metrics.impressions": sum(s.impressions for s in stats),
        "metrics.clicks": sum(s.clicks for s in stats),
        "metrics.conversions": float(sum((s.conversions for s in stats), Decimal(0))),
        "metrics.conversions_value": float(sum((s.revenue or Decimal(0) for s in stats), Decimal(0))),
    }


def _result(values: dict, select: list[str]) -> dict:
    out: dict[str, dict] = {"campaign": {"resourceName": values["campaign.resource_name"]}}
    for field in select:
        obj, name, is_metric = FIELDS[field]
        value = values[field]
        if is_metric and not value:
            out.setdefault(obj, {})
            continue  # proto3 JSON leaves default values out
        if obj == "customer":
            out.setdefault("customer", {"resourceName": f"customers/{values['customer.id']}"})
        out.setdefault(obj, {})[name] = str(value) if field in INT64 else value
    return {k: v for k, v in out.items() if v}


def _camel(field: str) -> str:
    obj, name, _ = FIELDS[field]
    return f"{obj}.{name}"


def _drop(path: str) -> Callable[[dict], None]:
    obj, name = path.split(".")
    return lambda r: r.get(obj, {}).pop(name, None) if name in r.get(obj, {}) else r.pop("campaign")


def _set(path: str, value) -> Callable[[dict], None]:
    obj, name = path.split(".")
    return lambda r: r.setdefault(obj, {}).__setitem__(name, value)


RESULT_CORRUPTIONS = (_drop("segments.date"), _set("metrics.costMicros", "n/a"), _set("campaign.id", "abc"),
                      _set("metrics.conversions", "n/a"), lambda r: r.pop("metrics", None) or r.pop("campaign"))


def _check_auth(request: Request, customer_id: str) -> None:
    token = bearer_token(request)
    if token is None:
        raise AdsError(401, "authenticationError", "OAUTH_TOKEN_HEADER_INVALID",
                       "Oauth token HTTP header is malformed: send Authorization: Bearer <access token>.")
    for prefix, value in (("expired-", "OAUTH_TOKEN_EXPIRED"), ("revoked-", "OAUTH_TOKEN_REVOKED"),
                          ("invalid-", "OAUTH_TOKEN_INVALID")):
        if token.startswith(prefix):
            raise AdsError(401, "authenticationError", value, "Authentication of the request failed.")
    developer = request.headers.get("developer-token", "")
    want = os.environ.get("SANDBOX_GOOGLE_ADS_DEVELOPER_TOKEN")
    if not developer:
        raise AdsError(400, "requestError", "DEVELOPER_TOKEN_PARAMETER_MISSING",
                       "Developer token is required: send the developer-token header.")
    if developer.startswith("invalid-") or (want and developer != want):
        raise AdsError(401, "authenticationError", "DEVELOPER_TOKEN_INVALID", "The developer token is not valid.")
    if developer.startswith("unapproved-"):
        raise AdsError(403, "authorizationError", "DEVELOPER_TOKEN_NOT_APPROVED",
                       "The developer token is only approved for use with test accounts.")
    login = request.headers.get("login-customer-id")
    if login is not None and not CUSTOMER_ID.match(login):
        raise AdsError(400, "headerError", "INVALID_LOGIN_CUSTOMER_ID",
                       f"The login customer id header '{login}' could not be validated: 10 digits, no dashes.")
    if not CUSTOMER_ID.match(customer_id):
        raise AdsError(400, "requestError", "INVALID_CUSTOMER_ID",
                       f"Invalid customer ID '{customer_id}': 10 digits, no dashes.")
    if token.startswith("noperm-"):
        raise AdsError(403, "authorizationError", "USER_PERMISSION_DENIED",
                       "User doesn't have permission to access customer. Note: If you're accessing a client "
                       "customer, the manager's customer id must be set in the 'login-customer-id' header.")


@api.router.post("/{version}/customers/{customer_id}/googleAds:searchStream")
async def search_stream(version: str, customer_id: str, request: Request):
    request_id = _request_id()
    served = version if version in _versions() else None
    try:
        if served is None:
            raise AdsError(400, "requestError", "UNSUPPORTED_VERSION",
                           f"Version {version} is deprecated or not served; served: {', '.join(_versions())}.")
        _check_auth(request, customer_id)
        body = await json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"].strip():
            raise AdsError(400, "requestError", "REQUIRED_FIELD_MISSING", "The body must be {\"query\": \"<GAQL>\"}.")
        if body.get("summaryRowSetting", "NO_SUMMARY_ROW") != "NO_SUMMARY_ROW":
            raise AdsError(400, "requestError", "INVALID_INPUT", "The sandbox serves summaryRowSetting NO_SUMMARY_ROW.")
        query = _Gaql(body["query"])
        start, end = query.date_range()
        today = _today()
        account = ads_data.account("google", customer_id)
        stats = ads_data.account_stats("google", customer_id, start, end, today)
        by_day = "segments.date" in query.select
        groups: dict[tuple, list] = {}
        for s in stats:
            groups.setdefault((s.day, s.campaign_id) if by_day else (None, s.campaign_id), []).append(s)
        rows = [_values(account, ads_data.campaign("google", customer_id, cid), group, day)
                for (day, cid), group in groups.items()]
        rows = [r for r in rows if all(field == "segments.date" and not by_day or _compare(r[field], op, value)
                                       for field, op, value in query.conditions)]
        rows.sort(key=lambda r: (r["segments.date"] or "", r["campaign.id"]))
        for field, descending in reversed(query.order):
            rows.sort(key=lambda r: (r[field] is None, r[field]), reverse=descending)
        if query.limit is not None:
            rows = rows[:query.limit]
    except AdsError as exc:
        return exc.response(served, request_id)

    results = malformed_with(request, [_result(r, query.select) for r in rows], RESULT_CORRUPTIONS)
    size = int(os.environ.get("SANDBOX_GOOGLE_ADS_BATCH_ROWS", DEFAULT_BATCH_ROWS))
    mask = ",".join(_camel(f) for f in query.select)
    batches = [{"results": results[at:at + size], "fieldMask": mask, "requestId": request_id}
               for at in range(0, len(results), size)] or [{"fieldMask": mask, "requestId": request_id}]
    batches[-1]["queryResourceConsumption"] = str(max(1, len(results)) * 10)
    return JSONResponse(batches, headers={"request-id": request_id})
