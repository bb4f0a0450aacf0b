"""The made-up ad accounts: campaigns and daily campaign stats on Meta, TikTok and Google Ads,
each a pure function of its key (hashes, no state, no clock of its own), so the sandbox's ads
stand-ins and the demo seed serve the very same numbers in any process.

- `DEMO_ACCOUNTS`: six accounts (two per platform), with names, currencies and the demo token
  each is seeded with. Any other well-formed account id works too (`account()`): its name,
  currency and campaigns are drawn from its id.
- `campaigns(platform, account_id)`: 4 to 6 campaigns per account; ids in the platform's format
  (Meta 18 digits `1202...`, TikTok 16 digits `17...`, Google an int64). Campaign 0 and 1 run
  since 2023-01-01; the others start (and campaign 3 may stop) on days drawn from their id.
- `day_stats(platform, account_id, campaign_id, day, today)`: one campaign-day: spend,
  impressions, clicks, conversions, revenue, or None when the campaign did not deliver that
  day (not started / stopped / after `today`). Spend follows a base budget x day-of-week
  seasonality (weekends lower) x a slow 91-day wave x bounded noise; CPA and ROAS each get
  one bounded wobble of their own (a sine of a few days' period plus a little noise), so a
  robust z-score (median / MAD over a trailing 28 days) of CPA or ROAS stays under 3 on
  every unplanted day (tests/include/demo/test_ads_data.py checks it).
- `account_stats(platform, account_id, start, end, today)`: every delivered campaign-day of
  the account in [start, end], ordered by (day, campaign id).

Money (`spend`, `revenue`) is a Decimal in the account's currency: 2 decimals on Meta and
TikTok (served as decimal strings), 6 on Google (served as `costMicros`, an int64 string of
spend x 10^6; `conversionsValue` a double with 2 decimals). Conversions are whole numbers on
Meta and TikTok, 2-decimal fractions on Google (fractional attribution).
Revenue is None for the TikTok campaigns without purchase tracking (`has_revenue` False:
campaign 2 of every TikTok account); TikTok serves it as `"-"`.

Planted anomalies (`PLANTED`, `planted_anomalies(today)`), the ones the detector must find:
- CPA spike: Meta account `101000000000001` (Northwind Outdoor), its campaign 0
  (`campaigns("meta", "101000000000001")[0]`), on today - 1 (yesterday): spend, impressions
  and clicks normal, conversions 8% of normal (at least 1), revenue kept at its normal value
  (so ROAS is not anomalous that day: only CPA is).
- ROAS drop: Google Ads customer `1010000001` (Northwind Outdoor), its campaign 0, on
  today - 3: spend and conversions normal, revenue 12% of normal (only ROAS is anomalous).
Because the planted days are relative to `today`, a day's numbers change once it stops being
yesterday (or today - 3): platforms revise recent days too.
"""

from __future__ import annotations

import hashlib
import math
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache
from typing import NamedTuple

PLATFORMS = ("meta", "tiktok", "google")
CAMPAIGNS_SINCE = date(2023, 1, 1)
LATE_START_FROM = date(2024, 1, 1)
# Spend multiplier per weekday, Monday first: lower at the weekend.
DOW_FACTOR = (1.00, 1.04, 1.06, 1.03, 0.97, 0.82, 0.78)
SPEND_NOISE = 0.10  # +-10 %, uniform
VOLUME_NOISE = 0.08  # impressions and clicks
CPA_NOISE = 0.10
ROAS_NOISE = 0.08
CPA_SPIKE_CONVERSIONS = Decimal("0.08")  # planted: conversions x this
ROAS_DROP_REVENUE = Decimal("0.12")  # planted: revenue x this

CENT = Decimal("0.01")
MICRO = Decimal("0.000001")

_BRANDS = ("Acme", "Harbor", "Summit", "Pioneer", "Maple", "Orbit", "Juniper", "Cobalt", "Lumen", "Atlas")
_TRADES = ("Outdoor", "Bakery", "Fitness", "Books", "Garden", "Optics", "Travel", "Pets", "Audio", "Home")
_GOALS = ("Prospecting", "Retargeting", "Brand", "Black Friday", "Spring Sale", "Lookalike", "Video Views",
          "Catalog Sales", "Search - Generic", "Always On", "App Installs", "New Arrivals")
_CURRENCIES = ("USD", "USD", "EUR", "GBP")


class Account(NamedTuple):
    platform: str
    account_id: str  # digits: Meta ad account id without `act_`, TikTok advertiser id, Google customer id
    name: str
    currency: str
    demo_token: str  # the access token (Google: refresh token) the demo seed stores

    @property
    def external_id(self) -> str:
        """The id as ads.ad_accounts.external_account_id stores it (`act_<id>` on Meta)."""
        return f"act_{self.account_id}" if self.platform == "meta" else self.account_id


class Campaign(NamedTuple):
    platform: str
    account_id: str
    campaign_id: str
    name: str
    status: str  # ACTIVE (Meta/TikTok enable) / ENABLED (Google): every demo campaign serves
    start: date
    stop: date | None  # last delivered day, None: still running
    has_revenue: bool  # False: no purchase value is tracked (TikTok answers "-")


class DayStats(NamedTuple):
    platform: str
    account_id: str
    campaign_id: str
    day: date
    spend: Decimal
    impressions: int
    clicks: int
    conversions: Decimal
    revenue: Decimal | None


class PlantedAnomaly(NamedTuple):
    platform: str
    account_id: str
    campaign_index: int
    metric: str  # cpa | roas
    days_ago: int  # the anomalous day is today - days_ago


DEMO_ACCOUNTS: tuple[Account, ...] = (
    Account("meta", "101000000000001", "Northwind Outdoor", "USD", "system-northwind-meta"),
    Account("meta", "101000000000002", "Bluebird Cafe", "EUR", "expiring-bluebird-meta"),
    Account("tiktok", "7100000000000000001", "Northwind Outdoor", "USD", "act.northwind-tiktok"),
    Account("tiktok", "7100000000000000002", "Kestrel Games", "GBP", "act.kestrel-tiktok"),
    Account("google", "1010000001", "Northwind Outdoor", "USD", "demo-northwind-google"),
    Account("google", "1010000002", "Bluebird Cafe", "EUR", "demo-bluebird-google"),
)

PLANTED: tuple[PlantedAnomaly, ...] = (
    PlantedAnomaly("meta", "101000000000001", 0, "cpa", 1),
    PlantedAnomaly("google", "1010000001", 0, "roas", 3),
)


class PlantedDay(NamedTuple):
    platform: str
    account_id: str
    campaign_id: str
    metric: str
    day: date


def _digest(*parts: object) -> int:
    text = "ads|" + "|".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _unit(*parts: object) -> float:
    """A uniform number in [0, 1) drawn from the key."""
    return _digest(*parts) / 2**64


def _noise(width: float, *parts: object) -> float:
    """A bounded multiplicative noise factor in [1 - width, 1 + width)."""
    return 1 + width * (2 * _unit(*parts) - 1)


def _wobble(width: float, *parts: object, day: date) -> float:
    """A bounded multiplicative factor in (1 - width, 1 + width): mostly a sine of a period
    (5.3 to 9.7 days) and phase drawn from the key, plus a little hash noise. Any few weeks of
    it spread evenly over its range, so a robust z-score never mistakes it for an outlier."""
    period = 5.3 + 4.4 * _unit(*parts, "period")
    phase = 2 * math.pi * _unit(*parts, "phase")
    sine = math.sin(2 * math.pi * day.toordinal() / period + phase)
    return 1 + width * (0.75 * sine + 0.25 * (2 * _unit(*parts, day) - 1))


def _check(platform: str, account_id: str) -> None:
    if platform not in PLATFORMS:
        raise ValueError(f"unknown ads platform {platform!r}; one of {PLATFORMS}")
    if not account_id.isdigit():
        raise ValueError(f"ad account id {account_id!r} must be digits (Meta: without act_)")


def account(platform: str, account_id: str) -> Account:
    """The account of that id: a demo account, or one drawn from the id."""
    _check(platform, account_id)
    for demo in DEMO_ACCOUNTS:
        if demo.platform == platform and demo.account_id == account_id:
            return demo
    name = f"{_BRANDS[_digest(platform, account_id, 'b') % len(_BRANDS)]} " \
           f"{_TRADES[_digest(platform, account_id, 't') % len(_TRADES)]}"
    currency = _CURRENCIES[_digest(platform, account_id, 'c') % len(_CURRENCIES)]
    return Account(platform, account_id, name, currency, "")


def demo_accounts(platform: str | None = None) -> list[Account]:
    return [a for a in DEMO_ACCOUNTS if platform in (None, a.platform)]


def _campaign_id(platform: str, account_id: str, index: int) -> str:
    draw = _digest(platform, account_id, index, "id")
    if platform == "meta":
        return f"1202{draw % 10**14:014d}"
    if platform == "tiktok":
        return f"17{draw % 10**14:014d}"
    return str(10**10 + draw % (9 * 10**10))  # google: 11 digits, fits int64


@lru_cache(maxsize=4096)
def _campaigns(platform: str, account_id: str) -> tuple[Campaign, ...]:
    count = 4 + _digest(platform, account_id, "count") % 3
    out = []
    for index in range(count):
        goal = _GOALS[_digest(platform, account_id, index, "goal") % len(_GOALS)]
        if index < 2:
            start = CAMPAIGNS_SINCE
        else:
            start = LATE_START_FROM + timedelta(days=_digest(platform, account_id, index, "start") % 900)
        stop = None
        if index == 3 and _digest(platform, account_id, "stop") % 2:
            stop = start + timedelta(days=60 + _digest(platform, account_id, index, "stop") % 300)
        out.append(Campaign(
            platform=platform, account_id=account_id,
            campaign_id=_campaign_id(platform, account_id, index),
            name=f"{goal} {index + 1:02d}",
            status="ENABLED" if platform == "google" else "ACTIVE",
            start=start, stop=stop,
            has_revenue=not (platform == "tiktok" and index == 2),
        ))
    ids = [c.campaign_id for c in out]
    if len(set(ids)) != len(ids):  # a hash collision would silently merge two campaigns' rows
        raise AssertionError(f"campaign id collision in {platform} {account_id}")
    return tuple(out)


def campaigns(platform: str, account_id: str) -> list[Campaign]:
    _check(platform, account_id)
    return list(_campaigns(platform, account_id))


def campaign(platform: str, account_id: str, campaign_id: str) -> Campaign:
    for found in campaigns(platform, account_id):
        if found.campaign_id == campaign_id:
            return found
    raise KeyError(f"no campaign {campaign_id} in {platform} account {account_id}")


def planted_anomalies(today: date) -> list[PlantedDay]:
    """The planted anomalies with their concrete campaign ids and days for `today`."""
    return [PlantedDay(p.platform, p.account_id, campaigns(p.platform, p.account_id)[p.campaign_index].campaign_id,
                       p.metric, today - timedelta(days=p.days_ago)) for p in PLANTED]


def _planted(c: Campaign, day: date, today: date) -> str | None:
    for p in PLANTED:
        if (p.platform == c.platform and p.account_id == c.account_id
                and campaigns(p.platform, p.account_id)[p.campaign_index].campaign_id == c.campaign_id
                and day == today - timedelta(days=p.days_ago)):
            return p.metric
    return None


def _q(value: float | Decimal, step: Decimal) -> Decimal:
    return Decimal(str(value)).quantize(step, rounding=ROUND_HALF_EVEN)


def _day_stats(c: Campaign, day: date, today: date) -> DayStats | None:
    if day > today or day < c.start or (c.stop is not None and day > c.stop):
        return None
    key = (c.platform, c.account_id, c.campaign_id)
    base = 300 + 1700 * _unit(*key, "budget")  # currency units a day
    cpm = 4 + 14 * _unit(*key, "cpm")
    ctr = 0.008 + 0.017 * _unit(*key, "ctr")
    cpa = base / (25 + 40 * _unit(*key, "cpa"))  # 25 to 65 conversions on an average day
    roas = 1.5 + 4 * _unit(*key, "roas")
    phase = 2 * math.pi * _unit(*key, "phase")
    wave = 1 + 0.12 * math.sin(2 * math.pi * day.toordinal() / 91 + phase)
    spend_f = base * DOW_FACTOR[day.weekday()] * wave * _noise(SPEND_NOISE, *key, day, "spend")
    money = MICRO if c.platform == "google" else CENT
    spend = _q(spend_f, money)
    impressions = max(1, round(spend_f / cpm * 1000 * _noise(VOLUME_NOISE, *key, day, "imp")))
    clicks = round(impressions * ctr * _noise(VOLUME_NOISE, *key, day, "clk"))
    conversions_f = spend_f / (cpa * _wobble(CPA_NOISE, *key, "cpa", day=day))
    step = CENT if c.platform == "google" else Decimal(1)
    conversions = _q(conversions_f, step)
    revenue = _q(spend_f * roas * _wobble(ROAS_NOISE, *key, "roas", day=day), CENT) if c.has_revenue else None
    planted = _planted(c, day, today)
    if planted == "cpa":
        conversions = max(step, _q(conversions * CPA_SPIKE_CONVERSIONS, step))
    elif planted == "roas" and revenue is not None:
        revenue = _q(revenue * ROAS_DROP_REVENUE, CENT)
    return DayStats(c.platform, c.account_id, c.campaign_id, day, spend, impressions, clicks, conversions, revenue)


def day_stats(platform: str, account_id: str, campaign_id: str, day: date, today: date) -> DayStats | None:
    """One campaign-day, or None when the campaign did not deliver that day."""
    return _day_stats(campaign(platform, account_id, campaign_id), day, today)


def account_stats(platform: str, account_id: str, start: date, end: date, today: date) -> list[DayStats]:
    """Every delivered campaign-day of the account in [start, end], by (day, campaign id)."""
    return list(_account_stats(platform, account_id, start, end, today))


@lru_cache(maxsize=64)
def _account_stats(platform: str, account_id: str, start: date, end: date, today: date) -> tuple[DayStats, ...]:
    # Pure in its key (hashes, no clock): the sandbox's stand-ins page through the same range
    # several requests in a row, and compute it once.
    cs = sorted(campaigns(platform, account_id), key=lambda c: c.campaign_id)
    out, day = [], start
    while day <= end:
        for c in cs:
            stats = _day_stats(c, day, today)
            if stats is not None:
                out.append(stats)
        day += timedelta(days=1)
    return tuple(out)


def google_micros(amount: Decimal) -> int:
    """A Google Ads money amount in micros (exact: Google spends carry 6 decimals)."""
    micros = amount * 1_000_000
    if micros != micros.to_integral_value():
        raise ValueError(f"{amount} has more than 6 decimals")
    return int(micros)
