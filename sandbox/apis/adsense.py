"""AdSense Management API v2: GET /v2/accounts/{account}/reports:generate (stands in for
https://adsense.googleapis.com/v2/accounts/pub-.../reports:generate).

Speaks the documented request and answer: `dateRange` (CUSTOM with `startDate.year`,
`startDate.month`, `startDate.day` and the same for `endDate`, or YESTERDAY/LAST_7_DAYS/...),
repeated `dimensions` (DATE here) and `metrics` (ESTIMATED_EARNINGS, PAGE_VIEWS, CLICKS),
`currencyCode`, `limit`; OAuth bearer auth. The answer is a ReportResult: `headers`
(name, type, currencyCode of money columns), `rows[].cells[].value` as strings, `totals`,
`averages`, `startDate`, `endDate`, `totalMatchedRows`; errors in Google's format.

Figures come from include/demo/videos_stats.adsense_day, as in the demo seed. AdSense
revises the estimates of recent days: `POST /_sandbox/adsense/revisions {"days": [...]}`
revises those days once more (their earnings move), `GET` lists the revisions per day and
`DELETE` forgets them all.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from fastapi import Request
from pydantic import BaseModel, Field

from include.demo import videos_stats as demo_stats
from sandbox.errors import error_response, google_error
from sandbox.malformed import malformed_records
from sandbox.registry import SandboxApi
from sandbox.request_parsing import bearer_token, google_get_params

api = SandboxApi(name="adsense", error_body=google_error)

REVISIONS = "adsense_revisions"
ACCOUNT = re.compile(r"^pub-\d{1,20}$")
METRIC_TYPES = {"ESTIMATED_EARNINGS": "METRIC_CURRENCY", "PAGE_VIEWS": "METRIC_TALLY",
                "CLICKS": "METRIC_TALLY"}
RELATIVE_RANGES = {"TODAY": (0, 0), "YESTERDAY": (1, 1), "LAST_7_DAYS": (7, 1), "LAST_30_DAYS": (30, 1)}
DEFAULT_LIMIT = 100_000
CURRENCIES = {"USD", "EUR", "GBP", "CNY", "JPY"}


class BadRequest(ValueError):
    pass


def _invalid(message: str, field: str):
    return error_response(400, google_error(400, message, [
        {"@type": "type.googleapis.com/google.rpc.BadRequest",
         "fieldViolations": [{"field": field, "description": message}]}]))


def _date(params, prefix: str) -> date:
    try:
        return date(int(params[f"{prefix}.year"]), int(params[f"{prefix}.month"]), int(params[f"{prefix}.day"]))
    except KeyError as exc:
        raise BadRequest(f"{prefix} is required when dateRange is CUSTOM ({exc.args[0]} missing)") from exc
    except ValueError as exc:
        raise BadRequest(f"Invalid {prefix}: {exc}") from exc


def _range(params) -> tuple[date, date]:
    kind = params.get("dateRange", "CUSTOM")
    if kind == "CUSTOM":
        start, end = _date(params, "startDate"), _date(params, "endDate")
        if start > end:
            raise BadRequest("startDate must not be after endDate")
        return start, end
    if kind not in RELATIVE_RANGES:
        raise BadRequest(f"Invalid value at 'date_range' (type.googleapis.com/google.ads.adsense.v2."
                         f"Report.DateRange), \"{kind}\"")
    today = datetime.now(UTC).date()
    back_start, back_end = RELATIVE_RANGES[kind]
    return today - timedelta(days=back_start), today - timedelta(days=back_end)


def _cell(value) -> dict:
    return {"value": str(value)}


def _ymd(day: date) -> dict:
    return {"year": day.year, "month": day.month, "day": day.day}


# POST: the GET as Google also takes it, overridden (see google_get_params).
@api.router.api_route("/v2/accounts/{account}/reports:generate", methods=["GET", "POST"])
async def generate_report(account: str, request: Request):
    if bearer_token(request) is None:
        return error_response(401, google_error(
            401, "Request is missing required authentication credential. Expected OAuth 2 access "
                 "token, login cookie or other valid authentication credential."))
    if not ACCOUNT.match(account):
        return error_response(404, google_error(404, f"Account accounts/{account} not found."))
    params = await google_get_params(request)
    if params is None:  # a POST without X-HTTP-Method-Override: GET
        return error_response(404, google_error(404, "Method not found."))
    try:
        start, end = _range(params)
        dimensions = params.getlist("dimensions")
        metrics = params.getlist("metrics")
        if dimensions != ["DATE"]:
            raise BadRequest("The sandbox serves dimensions=DATE reports only")
        if not metrics:
            raise BadRequest("At least one metric is required")
        unknown = [m for m in metrics if m not in METRIC_TYPES]
        if unknown:
            raise BadRequest(f"Invalid value at 'metrics' (type.googleapis.com/google.ads.adsense.v2."
                             f"Report.Metric), \"{unknown[0]}\"")
        currency = params.get("currencyCode", "USD")
        if currency not in CURRENCIES:
            raise BadRequest(f"Invalid currency code: {currency}")
        limit = int(params.get("limit", DEFAULT_LIMIT))
    except BadRequest as exc:
        return _invalid(str(exc), "report")
    except ValueError:
        return _invalid("Invalid value for limit", "limit")

    name = f"accounts/{account}"
    revisions = Counter(r["day"] for r in request.app.state.sandbox.collection(REVISIONS).items())
    rows, totals = [], {m: Decimal(0) if m == "ESTIMATED_EARNINGS" else 0 for m in metrics}
    day = start
    while day <= end:
        figures = demo_stats.adsense_day(name, day, revisions[day.isoformat()])
        values = {"ESTIMATED_EARNINGS": figures.estimated_earnings, "PAGE_VIEWS": figures.page_views,
                  "CLICKS": figures.clicks}
        rows.append({"cells": [_cell(day.isoformat())] + [_cell(values[m]) for m in metrics]})
        for m in metrics:
            totals[m] += values[m]
        day += timedelta(days=1)
    days = len(rows)
    headers = [{"name": "DATE", "type": "DIMENSION"}]
    headers += [{"name": m, "type": METRIC_TYPES[m], **({"currencyCode": currency}
                                                       if METRIC_TYPES[m] == "METRIC_CURRENCY" else {})}
                for m in metrics]
    averages = [(totals[m] / days).quantize(Decimal("0.01")) if m == "ESTIMATED_EARNINGS"
                else round(totals[m] / days) for m in metrics]
    return {
        "headers": headers,
        "rows": malformed_records(request, rows[:limit], required=("cells",)),
        "totals": {"cells": [{}] + [_cell(totals[m]) for m in metrics]},
        "averages": {"cells": [{}] + [_cell(a) for a in averages]},
        "startDate": _ymd(start),
        "endDate": _ymd(end),
        "totalMatchedRows": str(days),
    }


class Revision(BaseModel):
    days: list[date] = Field(min_length=1)


@api.control.post("/adsense/revisions")
def revise_days(revision: Revision, request: Request) -> dict:
    """AdSense revises these days' estimates once more."""
    store = request.app.state.sandbox.collection(REVISIONS)
    for day in revision.days:
        store.append({"day": day.isoformat()})
    counts = Counter(r["day"] for r in store.items())
    return {"revisions": {d.isoformat(): counts[d.isoformat()] for d in revision.days}}


@api.control.get("/adsense/revisions")
def list_revisions(request: Request) -> dict:
    return {"revisions": dict(Counter(r["day"] for r in request.app.state.sandbox.collection(REVISIONS).items()))}


@api.control.delete("/adsense/revisions")
def clear_revisions(request: Request) -> dict:
    request.app.state.sandbox.collection(REVISIONS).clear()
    return {"ok": True}

