"""The made-up numbers of the video catalogue: per-video daily statistics and AdSense daily
earnings, each a pure function of its key, so the sandbox's YouTube Analytics and AdSense
stand-ins and the demo seed serve the very same figures (a sync over seeded days writes
nothing new).

Shape of a video's views (all from hashes of the video id and the day, no state):
- published on a day derived from the id (`published_on`), no rows before it;
- a launch burst decaying over the first week, a ramp to the video's plateau over the first
  weeks ("growth after publish"), then a slow long-tail decline;
- weekly seasonality (weekends high), +-12% day noise;
- about one video in four has one to three viral spikes (x3..x12, decaying in a few days).
Likes, comments, shares and watch minutes follow views at per-video rates.

AdSense earnings per (account, day): page views with weekly seasonality and growth, clicks
at a CTR, earnings in whole cents; a `revision` number nudges a day's earnings as AdSense
revises its recent estimates (revision 0 is the first estimate, what the demo holds).
"""

from __future__ import annotations

import base64
import hashlib
import math
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

PUBLISH_FROM = date(2025, 1, 1)
PUBLISH_SPAN_DAYS = 3 * 365  # publish days fall in [2025-01-01, 2027-12-31]
WEEKDAY_FACTOR = (0.93, 0.90, 0.92, 0.96, 1.05, 1.22, 1.26)  # Monday .. Sunday
VIDEO_ID_LENGTH = 11  # YouTube ids: 11 characters of base64url
MAX_ID_DRAWS = 10_000


class DayStats(NamedTuple):
    views: int
    likes: int
    comments: int
    shares: int
    watch_minutes: int  # estimatedMinutesWatched


class DayEarnings(NamedTuple):
    estimated_earnings: Decimal  # exact, 2 decimal places
    page_views: int
    clicks: int


class _Profile(NamedTuple):
    published_on: date
    plateau: float  # views per day once settled
    like_rate: float
    comment_rate: float
    share_rate: float
    minutes_per_view: float
    spikes: tuple[tuple[int, float], ...]  # (day ordinal, magnitude)


def _digest(*parts: object, size: int = 8) -> bytes:
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=size).digest()


def _unit(*parts: object) -> float:
    """A uniform number in [0, 1) from a hash of `parts`."""
    return int.from_bytes(_digest(*parts), "big") / 2**64


@lru_cache(maxsize=65_536)
def _profile(video_id: str) -> _Profile:
    published = PUBLISH_FROM + timedelta(days=int(_unit(video_id, "published") * PUBLISH_SPAN_DAYS))
    spikes = []
    if _unit(video_id, "viral") < 0.25:
        for n in range(1 + int(_unit(video_id, "spikes") * 3)):
            offset = 10 + int(_unit(video_id, "spike-day", n) * 500)
            spikes.append(((published + timedelta(days=offset)).toordinal(),
                           3.0 + 9.0 * _unit(video_id, "spike-size", n)))
    return _Profile(
        published_on=published,
        plateau=10 ** (1.7 + 2.6 * _unit(video_id, "plateau")),  # ~50 to ~20,000 views a day
        like_rate=0.02 + 0.05 * _unit(video_id, "likes"),
        comment_rate=0.001 + 0.005 * _unit(video_id, "comments"),
        share_rate=0.001 + 0.006 * _unit(video_id, "shares"),
        minutes_per_view=1.5 + 6.5 * _unit(video_id, "minutes"),
        spikes=tuple(spikes),
    )


def published_on(video_id: str) -> date:
    """The day the video went online: its statistics start that day."""
    return _profile(video_id).published_on


def daily_stats(video_id: str, day: date) -> DayStats | None:
    """The video's statistics of `day`, or None before it was published (no report row)."""
    p = _profile(video_id)
    age = (day - p.published_on).days
    if age < 0:
        return None
    shape = (1 - math.exp(-(age + 1) / 14)) * (1 + age / 365) ** -0.5 + 1.5 * math.exp(-age / 5)
    spike = 1.0 + sum(size * math.exp(-(day.toordinal() - at) / 2.5)
                      for at, size in p.spikes if day.toordinal() >= at)
    noise = _digest(video_id, day.toordinal(), size=10)  # five 16-bit draws for the day
    u = [int.from_bytes(noise[i:i + 2], "big") / 65536 for i in range(0, 10, 2)]
    views = round(p.plateau * shape * WEEKDAY_FACTOR[day.weekday()] * spike * (0.88 + 0.24 * u[0]))
    return DayStats(
        views=views,
        likes=round(views * p.like_rate * (0.85 + 0.3 * u[1])),
        comments=round(views * p.comment_rate * (0.7 + 0.6 * u[2])),
        shares=round(views * p.share_rate * (0.7 + 0.6 * u[3])),
        watch_minutes=round(views * p.minutes_per_view * (0.92 + 0.16 * u[4])),
    )


def draw_video_id(key: str, published_between: tuple[date, date]) -> str:
    """A YouTube-like video id, deterministic for `key`, whose publish day falls in the
    inclusive range (ids are drawn until one does), so demo data and tests can pick ids with
    the history they need."""
    first, last = published_between
    if not PUBLISH_FROM <= first <= last < PUBLISH_FROM + timedelta(days=PUBLISH_SPAN_DAYS):
        raise ValueError(f"publish range {first}..{last} is outside the generator's "
                         f"{PUBLISH_FROM}..{PUBLISH_FROM + timedelta(days=PUBLISH_SPAN_DAYS - 1)}")
    for attempt in range(MAX_ID_DRAWS):
        video_id = base64.urlsafe_b64encode(_digest(key, attempt, size=9)).decode()[:VIDEO_ID_LENGTH]
        if first <= published_on(video_id) <= last:
            return video_id
    raise ValueError(f"no video id for {key!r} published in {first}..{last} after {MAX_ID_DRAWS} draws")


def adsense_day(account: str, day: date, revision: int = 0) -> DayEarnings:
    """The account's AdSense figures of `day` at the given revision of AdSense's estimate."""
    base = 2_000 + 30_000 * _unit(account, "audience")
    growth = 1 + (day - PUBLISH_FROM).days / 730
    u = _digest(account, day.toordinal(), size=6)
    noise = [int.from_bytes(u[i:i + 2], "big") / 65536 for i in range(0, 6, 2)]
    page_views = round(base * growth * WEEKDAY_FACTOR[day.weekday()] * (0.85 + 0.3 * noise[0]))
    clicks = round(page_views * (0.008 + 0.012 * noise[1]))
    cents = clicks * (18 + int(40 * noise[2])) + page_views // 250  # CPC plus a small RPM part
    if revision:
        # Each revision moves the estimate by 1..150 cents up or down, never below zero.
        step = 1 + int(_unit(account, day.toordinal(), "revision", revision) * 150)
        cents = max(0, cents + (step if revision % 2 else -step))
    return DayEarnings(Decimal(cents).scaleb(-2), page_views, clicks)
