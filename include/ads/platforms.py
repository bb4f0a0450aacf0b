"""What the three ad platforms' clients share: the daily campaign row they all return, exact
money parsing, the revoked-token error, and per-account credentials on a shared ApiClient.

Money is exact: Meta and TikTok send decimal strings (parsed straight into Decimal), Google
Ads sends int64 micro strings (divided by 10^6 as Decimal). A value the platform reports as
unavailable (TikTok's "-") is None, never zero. Every amount fits NUMERIC(18, 6).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from include.common.http import ApiClient, ApiError

PLATFORMS = ("meta", "tiktok", "google")
SCALE = Decimal("0.000001")  # NUMERIC(18, 6)
MAX_AMOUNT = Decimal("999999999999.999999")
MICROS = Decimal(1_000_000)


class TokenRevoked(ApiError):
    """The account's token is expired, revoked or invalid (Meta 190, TikTok 40102/40105,
    Google 401 UNAUTHENTICATED / invalid_grant). Permanent: the user must reconnect the
    account, retrying cannot help; the caller marks the account `needs_reauth`."""

    def __init__(self, platform: str, message: str, *, code: Any = None, status: int | None = None,
                 method: str = "", url: str = ""):
        self.platform, self.code = platform, code
        super().__init__(f"{platform} token rejected ({code}): {message}", status=status, method=method, url=url)


def decimal_amount(value: Any) -> Decimal:
    """A decimal string as an exact Decimal of at most 6 places; floats are refused (they drift)."""
    if not isinstance(value, str):
        raise ValueError(f"amount must arrive as a string, got {type(value).__name__} {value!r}")
    try:
        amount = Decimal(value.strip())
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal number: {value!r}") from exc
    if not amount.is_finite() or amount != amount.quantize(SCALE) or abs(amount) > MAX_AMOUNT:
        raise ValueError(f"not an amount of at most 6 decimal places: {value!r}")
    return amount.quantize(SCALE)


def micros_amount(value: Any) -> Decimal:
    """Google's int64 micros string ("1230000") as the exact amount (1.230000)."""
    if not isinstance(value, str) or not value.strip().lstrip("-").isdigit():
        raise ValueError(f"micros must be an int64 string, got {value!r}")
    return decimal_amount(str(Decimal(int(value)) / MICROS))


def number_amount(value: Any) -> Decimal:
    """A JSON number (Google's doubles: conversions, conversionsValue) as a Decimal of its
    shortest repr, at most 6 places; a decimal string is taken as is."""
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, (int, float)):
        value = repr(float(value)) if isinstance(value, float) else str(value)
    return decimal_amount(value)


def count(value: Any) -> int:
    """A non-negative integer count sent as a digit string (or a JSON integer)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if not isinstance(value, str) or not value.strip().isdigit():
        raise ValueError(f"not a count: {value!r}")
    return int(value)


class CampaignDay(BaseModel):
    """One campaign's figures of one day, in the account's currency."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    campaign_id: str = Field(pattern=r"^\d{1,30}$")  # every platform's campaign ids are digit strings
    campaign_name: str = ""
    day: date
    spend: Decimal = Field(ge=0)
    impressions: int = Field(ge=0)
    clicks: int = Field(ge=0)
    conversions: Decimal = Field(ge=0)
    revenue: Decimal | None = Field(default=None, ge=0)  # None: the platform reported no value


def _optional_amount(value: Any) -> Decimal | None:
    return None if value is None else decimal_amount(value)


def _optional_number(value: Any) -> Decimal | None:
    return None if value is None else number_amount(value)


class StringMetricsDay(CampaignDay):
    """Meta's and TikTok's rows: every metric a decimal or digit string (no floats)."""

    spend: Annotated[Decimal, BeforeValidator(decimal_amount)] = Field(ge=0)
    impressions: Annotated[int, BeforeValidator(count)] = Field(ge=0)
    clicks: Annotated[int, BeforeValidator(count)] = Field(ge=0)
    conversions: Annotated[Decimal, BeforeValidator(decimal_amount)] = Field(ge=0)
    revenue: Annotated[Decimal | None, BeforeValidator(_optional_amount)] = Field(default=None, ge=0)


class MicrosMetricsDay(CampaignDay):
    """Google Ads rows: cost in int64 micro strings, counts int64 strings, conversions and
    their value doubles (JSON numbers)."""

    spend: Annotated[Decimal, BeforeValidator(micros_amount)] = Field(ge=0)
    impressions: Annotated[int, BeforeValidator(count)] = Field(ge=0)
    clicks: Annotated[int, BeforeValidator(count)] = Field(ge=0)
    conversions: Annotated[Decimal, BeforeValidator(number_amount)] = Field(ge=0)
    revenue: Annotated[Decimal | None, BeforeValidator(_optional_number)] = Field(default=None, ge=0)


def date_chunks(start: date, end: date, days: int) -> list[tuple[date, date]]:
    """start..end (inclusive) cut into spans of at most `days` days (TikTok's 30-day limit)."""
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    spans, low = [], start
    while low <= end:
        high = min(end, low + timedelta(days=days - 1))
        spans.append((low, high))
        low = high + timedelta(days=1)
    return spans


@contextmanager
def credentials(api: ApiClient, headers: Mapping[str, str]) -> Iterator[ApiClient]:
    """The client with one account's auth headers for the duration of the block (the paging
    helpers send only the session's headers). One client per thread, so this is safe."""
    saved = {k: api.session.headers.get(k) for k in headers}
    api.session.headers.update(headers)
    try:
        yield api
    finally:
        for key, value in saved.items():
            if value is None:
                api.session.headers.pop(key, None)
            else:
                api.session.headers[key] = value


def json_body(response: Any) -> Any:
    """The parsed body of a response, or None when it is not JSON (the hooks read it)."""
    try:
        return response.json()
    except ValueError:
        return None
