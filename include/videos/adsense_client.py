"""AdSense Management API v2 (`GET /v2/accounts/{account}/reports:generate`): earnings,
page views and clicks per day.

`dateRange=CUSTOM` with `startDate.year/month/day` and `endDate.*`, `dimensions=DATE`, the
metrics repeated (`metrics=ESTIMATED_EARNINGS&metrics=PAGE_VIEWS&metrics=CLICKS`). The
answer's cells are strings (`rows[].cells[].value`) matched to columns by `headers`; money
is parsed straight from the string into a Decimal (never through float). A malformed row is
logged, counted in the BatchReport and skipped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from include.common.http import ApiClient, ApiError
from include.common.validation import BatchReport, validate_records

METRICS = ("ESTIMATED_EARNINGS", "PAGE_VIEWS", "CLICKS")
ACCOUNT = re.compile(r"^(?:accounts/)?(pub-\d{1,20})$")
CENT = Decimal("0.01")


def account_name(account_id: str) -> str:
    """`accounts/pub-123` for `pub-123` or `accounts/pub-123` (the API's resource name)."""
    match = ACCOUNT.match(account_id.strip())
    if not match:
        raise ValueError(f"AdSense account id must look like pub-1234567890123456, got {account_id!r}")
    return f"accounts/{match.group(1)}"


def _money(value: Any) -> Decimal:
    """A decimal string as an exact Decimal with at most 2 places; anything else is an error."""
    if not isinstance(value, str):
        raise ValueError(f"money must arrive as a string, got {type(value).__name__}")
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal number: {value!r}") from exc
    if not amount.is_finite() or amount != amount.quantize(CENT):
        raise ValueError(f"not an amount in cents: {value!r}")
    return amount.quantize(CENT)


def _count(value: Any, what: str = "") -> int:
    if not isinstance(value, str) or not value.isdigit():
        if what:  # a field of the report itself, not of a row: the whole answer is unusable
            raise ApiError(f"report field {what} is not a count: {value!r}")
        raise ValueError(f"not a count: {value!r}")
    return int(value)


class DailyEarnings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    day: date
    estimated_earnings: Annotated[Decimal, BeforeValidator(_money)] = Field(ge=0)
    page_views: Annotated[int, BeforeValidator(_count)]
    clicks: Annotated[int, BeforeValidator(_count)]


COLUMN_FIELDS = {"DATE": "day", "ESTIMATED_EARNINGS": "estimated_earnings", "PAGE_VIEWS": "page_views",
                 "CLICKS": "clicks"}


def _as_record(row: Any, columns: Sequence[str]) -> dict[str, Any]:
    """A row's cells as a dict of model fields; a row without cells becomes an empty record
    (then reported as malformed, with its position)."""
    cells = row.get("cells") if isinstance(row, dict) else None
    if not isinstance(cells, list):
        return {}
    record = {COLUMN_FIELDS[c]: (cell.get("value") if isinstance(cell, dict) else cell)
              for c, cell in zip(columns, cells, strict=False)}
    if len(cells) != len(columns):
        record["cell_count"] = len(cells)  # extra="forbid" rejects it
    return record


@dataclass(frozen=True)
class EarningsReport:
    currency: str  # of ESTIMATED_EARNINGS, from its header
    rows: list[DailyEarnings]


class AdSenseClient:
    def __init__(self, api: ApiClient, *, currency_code: str | None = None):
        self.api, self.currency_code = api, currency_code

    def daily_earnings(self, account_id: str, start: date, end: date, report: BatchReport) -> EarningsReport:
        """The valid days of start..end (inclusive) for the account; every row is counted in
        `report`."""
        if start > end:
            raise ValueError(f"start {start} is after end {end}")
        params: dict[str, Any] = {
            "dateRange": "CUSTOM",
            "startDate.year": start.year, "startDate.month": start.month, "startDate.day": start.day,
            "endDate.year": end.year, "endDate.month": end.month, "endDate.day": end.day,
            "dimensions": "DATE",
            "metrics": list(METRICS),  # requests repeats the key: metrics=A&metrics=B
        }
        if self.currency_code:
            params["currencyCode"] = self.currency_code
        page = self.api.get(f"v2/{account_name(account_id)}/reports:generate", params=params)
        columns, currency = self._columns(page)
        rows = page.get("rows") or []  # Google omits an empty list
        if not isinstance(rows, list):
            raise ApiError(f"report rows are not a list: {str(rows)[:200]}")
        matched = _count(str(page.get("totalMatchedRows") or "0"), what="totalMatchedRows")
        if matched > len(rows):  # the API cut the report at its row limit: don't store half a range
            raise ApiError(f"report of {start}..{end} returned {len(rows)} of {matched} rows")
        valid, _ = validate_records([_as_record(r, columns) for r in rows], DailyEarnings, id_field="day",
                                    report=report)
        return EarningsReport(currency=currency, rows=valid)

    @staticmethod
    def _columns(page: Any) -> tuple[list[str], str]:
        headers = page.get("headers") if isinstance(page, dict) else None
        if not isinstance(headers, list) or not all(isinstance(h, dict) for h in headers):
            raise ApiError(f"report without headers: {str(page)[:200]}")
        columns = [h.get("name") for h in headers]
        if not all(isinstance(c, str) for c in columns) or sorted(columns) != sorted(COLUMN_FIELDS):
            raise ApiError(f"report columns {columns}, expected {sorted(COLUMN_FIELDS)}")
        money = next(h for h in headers if h.get("name") == "ESTIMATED_EARNINGS")
        currency = money.get("currencyCode")
        if not currency:
            raise ApiError("ESTIMATED_EARNINGS header has no currencyCode")
        return columns, currency
