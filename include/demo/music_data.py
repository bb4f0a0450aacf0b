"""The made-up music catalogue: song charts, their rankings, song metadata and audience series,
each a pure function of its key (hashes, no state, no clock of its own), so the sandbox's
Soundcharts and ACRCloud stand-ins and the demo seed serve the very same data in any process.

- `CHARTS`: four song charts (Spotify weekly global, Spotify daily US, Shazam daily US, Apple
  Music monthly global), shaped like Soundcharts' `related.chart` objects.
- `ranking_dates(slug, today)`: a chart's ranking dates from its first one up to `today`
  (weekly charts on Thursdays, daily every day, monthly on the 1st), newest first.
- `ranking(slug, day)`: the chart's positions of that day. Songs come from one pool of
  `POOL_SIZE` songs, each scored per chart and day (popularity x rise after release x decay
  x the chart's country x a slowly drifting noise), so charts overlap and evolve instead of
  being reshuffled: a song climbs after its release, stays for weeks and falls out.
  `oldPosition`/`positionEvolution`/`entryState` compare with the chart's previous date;
  `timeOnChart` counts consecutive dates on the chart, at most `STREAK_LOOKBACK` back.
- `song(uuid)`: Soundcharts' song object (`GET /api/v2.25/song/{uuid}`'s `object`).
- `audience(uuid, platform, day)`: the song's cumulative plays on a platform up to that day
  (None before its release), nondecreasing day by day; `platform_id(uuid, platform)` is the
  song's id on that platform (the Spotify track id ACRCloud results also carry).
"""

from __future__ import annotations

import hashlib
import math
import random
import uuid as uuid_lib
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

POOL_SIZE = 3000
ARTIST_POOL = 700
RELEASE_FROM = date(2014, 1, 1)
RELEASE_TO = date(2026, 10, 1)
STREAK_LOOKBACK = 60  # periods walked back for timeOnChart / entryState
NOISE_PERIOD_DAYS = 14  # chart noise drifts linearly between fortnightly draws
AUDIENCE_PLATFORMS = ("spotify", "apple-music", "deezer", "youtube", "shazam", "tiktok", "soundcloud")

_ADJECTIVES = ("Midnight", "Golden", "Electric", "Silent", "Broken", "Neon", "Wild", "Velvet", "Paper",
               "Crystal", "Lonely", "Burning", "Summer", "Frozen", "Secret", "Endless", "Sweet", "Dark",
               "Falling", "Blue", "Restless", "Holy", "Lucky", "Distant", "Stolen", "Easy", "Heavy")
_NOUNS = ("Echo", "Heart", "Skyline", "River", "Dreams", "Fire", "Satellite", "Ocean", "Roses", "Highway",
          "Mirror", "Thunder", "Letters", "Lights", "Paradise", "Shadows", "Gravity", "Tides", "Kiss",
          "Avenue", "Horizon", "Signal", "Waves", "Memories", "Rain", "Stars", "Promises", "Motion")
_FIRST = ("Ava", "Leo", "Mia", "Noah", "Zoe", "Kai", "Lena", "Omar", "Ines", "Theo", "Yuna", "Rafa", "Nina",
          "Jude", "Sasha", "Milo", "Aria", "Enzo", "Lila", "Ezra", "Maya", "Nico", "Iris", "Tariq")
_LAST = ("Stone", "Rivers", "Vega", "Moreau", "Kim", "Okafor", "Lind", "Costa", "Hart", "Sato", "Reyes",
         "Blake", "Novak", "Silva", "Ward", "Fischer", "Diaz", "Quinn", "Marlowe", "Ito", "Keller")
_BANDS = ("The {n}s", "{a} {n}", "{n} Club", "{a} Youth", "{n} Theory")
_GENRES = (("pop", ("dance pop", "electropop", "indie pop")), ("hip hop", ("trap", "rap", "drill")),
           ("r&b", ("contemporary r&b", "neo soul")), ("latin", ("reggaeton", "latin pop")),
           ("electronic", ("house", "edm", "techno")), ("rock", ("alternative rock", "indie rock")),
           ("country", ("country pop",)), ("k-pop", ("k-pop",)))
_LABELS = (("Universal Music", "major"), ("Sony Music", "major"), ("Warner Music", "major"),
           ("XL Recordings", "independent"), ("Sub Pop", "independent"), ("Domino", "independent"),
           ("Self-released", "independent"))
_HOMES = ("US", "US", "US", "GB", "FR", "DE", "BR", "MX", "KR", "JP", "CA", "ES")
_ISRC_REGISTRANTS = ("UM7", "SM1", "WB2", "AT3", "XL4", "SP5", "DM6", "QZ8")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class Chart(NamedTuple):
    slug: str
    name: str
    platform: str
    frequency: str  # daily | weekly | monthly
    country_code: str
    country_name: str
    max_results: int
    first_date: date
    metric_type: str | None  # None: the chart publishes positions only (metric null)
    metric_scale: int  # metric of a song scoring 1.0


CHARTS: dict[str, Chart] = {c.slug: c for c in (
    Chart("global-28", "Top 200 Global", "spotify", "weekly", "WW", "World", 200, date(2019, 1, 3),
          "streams", 60_000_000),
    Chart("us-daily", "Top 200 United States", "spotify", "daily", "US", "United States", 200,
          date(2023, 1, 1), "streams", 2_500_000),
    Chart("shazam-top-200-us", "Shazam Top 200 United States", "shazam", "daily", "US", "United States",
          200, date(2024, 1, 1), None, 0),
    Chart("apple-music-top-100-global", "Top 100 Global", "apple-music", "monthly", "WW", "World", 100,
          date(2021, 1, 1), None, 0),
)}
TIME_ON_CHART_UNIT = {"daily": "day", "weekly": "week", "monthly": "month"}


class UnknownChartError(KeyError):
    pass


class _Song(NamedTuple):
    index: int
    uuid: str
    released: int  # ordinal of the release day
    popularity: float
    half_life: float  # days
    home: str
    global_appeal: float


def _digest(*parts: object, size: int = 8) -> bytes:
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=size).digest()


def _unit(*parts: object) -> float:
    """A uniform number in [0, 1) from a hash of `parts`."""
    return int.from_bytes(_digest(*parts), "big") / 2**64


def _rng(*parts: object) -> random.Random:
    return random.Random(int.from_bytes(_digest(*parts, size=16), "big"))


def iso(day: date) -> str:
    """Soundcharts' ATOM datetime of a day: 2024-01-18T00:00:00+00:00."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC).isoformat()


def today_utc() -> date:
    return datetime.now(UTC).date()


# --- the song pool ---------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _pool() -> tuple[_Song, ...]:
    span = (RELEASE_TO - RELEASE_FROM).days
    songs = []
    for i in range(POOL_SIZE):
        u = _digest("song", i, size=16)
        songs.append(_Song(
            index=i,
            uuid=str(uuid_lib.UUID(bytes=u, version=4)),
            released=RELEASE_FROM.toordinal() + int(_unit("song", i, "released") * span),
            popularity=_unit("song", i, "popularity") ** 3,  # few hits, a long tail
            half_life=20 + 300 * _unit("song", i, "half-life"),
            home=_HOMES[int(_unit("song", i, "home") * len(_HOMES))],
            global_appeal=_unit("song", i, "appeal"),
        ))
    return tuple(songs)


@lru_cache(maxsize=1)
def _by_uuid() -> dict[str, _Song]:
    return {s.uuid: s for s in _pool()}


def song_uuids() -> list[str]:
    """Every song uuid of the pool, in pool order."""
    return [s.uuid for s in _pool()]


def release_day(song_uuid: str) -> date | None:
    s = _by_uuid().get(song_uuid)
    return None if s is None else date.fromordinal(s.released)


def _artist(index: int) -> dict:
    rng = _rng("artist", index)
    if rng.random() < 0.3:
        name = rng.choice(_BANDS).format(a=rng.choice(_ADJECTIVES), n=rng.choice(_NOUNS))
    else:
        name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    slug = "-".join(name.lower().replace("the ", "").split()) + f"-{index}"
    return {"uuid": str(uuid_lib.UUID(bytes=_digest("artist", index, size=16), version=4)), "slug": slug,
            "name": name, "appUrl": f"https://app.soundcharts.com/app/artist/{slug}/overview",
            "imageUrl": f"https://assets.soundcharts.com/artist/{slug}.jpg"}


def _artist_indices(s: _Song) -> list[int]:
    rng = _rng("song-artists", s.index)
    main = int(rng.random() * ARTIST_POOL)
    if rng.random() < 0.25:  # a featuring
        return [main, (main + 1 + int(rng.random() * (ARTIST_POOL - 1))) % ARTIST_POOL]
    return [main]


def _title(s: _Song) -> str:
    rng = _rng("song-title", s.index)
    title = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
    return title if rng.random() < 0.85 else f"{title} (Remix)"


def _credit_name(artists: list[dict]) -> str:
    return artists[0]["name"] if len(artists) == 1 else f"{artists[0]['name']} feat. {artists[1]['name']}"


def platform_id(song_uuid: str, platform: str) -> str:
    """The song's id on a platform: a 22-character base62 id (like Spotify's) for every platform."""
    raw = int.from_bytes(_digest("platform-id", song_uuid, platform, size=17), "big")
    chars = []
    for _ in range(22):
        raw, r = divmod(raw, 62)
        chars.append(_BASE62[r])
    return "".join(chars)


def isrc(song_uuid: str) -> str:
    s = _by_uuid()[song_uuid]
    rng = _rng("isrc", s.index)
    country = s.home
    year = date.fromordinal(s.released).year % 100
    return f"{country}{rng.choice(_ISRC_REGISTRANTS)}{year:02d}{s.index:05d}"


def _summary(s: _Song) -> dict:
    artists = [_artist(i) for i in _artist_indices(s)]
    return {"uuid": s.uuid, "name": _title(s), "creditName": _credit_name(artists),
            "imageUrl": f"https://assets.soundcharts.com/song/{s.uuid}.jpg"}


def song_summary(song_uuid: str) -> dict | None:
    """The `song` of a ranking item: uuid, name, creditName, imageUrl."""
    s = _by_uuid().get(song_uuid)
    return None if s is None else _summary(s)


def song(song_uuid: str) -> dict | None:
    """Soundcharts' song object (APIS.md 1.6), or None for a uuid outside the pool."""
    s = _by_uuid().get(song_uuid)
    if s is None:
        return None
    rng = _rng("song-meta", s.index)
    artists = [_artist(i) for i in _artist_indices(s)]
    root, subs = _GENRES[int(rng.random() * len(_GENRES))]
    label, label_type = _LABELS[int(rng.random() * len(_LABELS))]
    code = isrc(s.uuid)
    released = date.fromordinal(s.released)
    country_names = {"US": "United States", "GB": "United Kingdom", "FR": "France", "DE": "Germany",
                     "BR": "Brazil", "MX": "Mexico", "KR": "South Korea", "JP": "Japan", "ES": "Spain"}
    person = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    return {
        "uuid": s.uuid,
        "name": _title(s),
        "isrc": {"value": code, "countryCode": code[:2], "countryName": country_names.get(code[:2], code[:2])},
        "iswcs": [],
        "creditName": _credit_name(artists),
        "artists": artists,
        "releaseDate": iso(released),
        "copyright": f"(P) {released.year} {label}",
        "appUrl": f"https://app.soundcharts.com/app/song/{s.uuid}/overview",
        "imageUrl": f"https://assets.soundcharts.com/song/{s.uuid}.jpg",
        "duration": 120 + int(rng.random() * 180),  # seconds
        "explicit": rng.random() < 0.3,
        "genres": [{"root": root, "sub": list(subs[:1 + int(rng.random() * len(subs))])}],
        "composers": [person], "producers": [f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"],
        "labels": [{"name": label, "type": label_type}],
        "audio": {"acousticness": round(rng.random() * 0.6, 3), "danceability": round(0.3 + rng.random() * 0.6, 3),
                  "energy": round(0.2 + rng.random() * 0.75, 3), "instrumentalness": round(rng.random() * 0.05, 3),
                  "key": int(rng.random() * 12), "liveness": round(0.05 + rng.random() * 0.3, 3),
                  "loudness": round(-14 + rng.random() * 11, 2), "mode": int(rng.random() * 2),
                  "speechiness": round(0.03 + rng.random() * 0.3, 3), "tempo": round(70 + rng.random() * 110, 1),
                  "timeSignature": 4, "valence": round(rng.random(), 3)},
    }


# --- charts ---------------------------------------------------------------------------------

def chart(slug: str) -> Chart:
    try:
        return CHARTS[slug]
    except KeyError:
        raise UnknownChartError(slug) from None


def chart_object(slug: str) -> dict:
    """The chart as Soundcharts' `related.chart` / by-platform item."""
    c = chart(slug)
    metric = None if c.metric_type is None else {"type": c.metric_type, "description": f"Number of {c.metric_type}"}
    return {"name": c.name, "type": "song", "slug": c.slug, "platform": c.platform, "frequency": c.frequency,
            "countryCode": c.country_code, "countryName": c.country_name, "cityName": None,
            "maxResultsCount": c.max_results, "webUrl": f"https://app.soundcharts.com/app/market/charts/{c.slug}",
            "metric": metric}


def _step_back(c: Chart, day: date) -> date:
    if c.frequency == "daily":
        return day - timedelta(days=1)
    if c.frequency == "weekly":
        return day - timedelta(days=7)
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


def _latest_on_or_before(c: Chart, today: date) -> date | None:
    if today < c.first_date:
        return None
    if c.frequency == "daily":
        return today
    if c.frequency == "weekly":
        return today - timedelta(days=(today - c.first_date).days % 7)
    return today.replace(day=1)


def is_ranking_date(slug: str, day: date, today: date | None = None) -> bool:
    c = chart(slug)
    latest = _latest_on_or_before(c, today or today_utc())
    if latest is None or not c.first_date <= day <= latest:
        return False
    if c.frequency == "weekly":
        return (day - c.first_date).days % 7 == 0
    return c.frequency == "daily" or day.day == 1


def latest_ranking_date(slug: str, today: date | None = None) -> date | None:
    return _latest_on_or_before(chart(slug), today or today_utc())


def ranking_dates(slug: str, today: date | None = None) -> list[date]:
    """Every ranking date of the chart up to `today` (default: today, UTC), newest first."""
    c = chart(slug)
    day = _latest_on_or_before(c, today or today_utc())
    out = []
    while day is not None and day >= c.first_date:
        out.append(day)
        day = _step_back(c, day)
    return out


def _country_factor(c: Chart, s: _Song) -> float:
    if c.country_code == "WW":
        return 0.4 + s.global_appeal
    return 1.4 if s.home == c.country_code else 0.15 + 0.8 * s.global_appeal


@lru_cache(maxsize=256)
def _noise(key: str, period: int) -> tuple[float, ...]:
    """POOL_SIZE uniforms for one noise period (32 per 64-byte digest)."""
    out: list[float] = []
    block = 0
    while len(out) < POOL_SIZE:
        d = _digest("noise", key, period, block, size=64)
        out.extend(int.from_bytes(d[i:i + 2], "big") / 65536 for i in range(0, 64, 2))
        block += 1
    return tuple(out[:POOL_SIZE])


def _scores(c: Chart, day: date) -> list[tuple[float, int]]:
    ordinal = day.toordinal()
    period, offset = divmod(ordinal, NOISE_PERIOD_DAYS)
    frac = offset / NOISE_PERIOD_DAYS
    key = f"{c.platform}/{c.country_code}"
    now, nxt = _noise(key, period), _noise(key, period + 1)
    # Shazam is discovery: songs rise and fade faster there.
    life = 0.5 if c.platform == "shazam" else 1.0
    out = []
    for s in _pool():
        age = ordinal - s.released
        if age < 0:
            continue
        rise = 1 - math.exp(-(age + 1) / 10)
        decay = 0.5 ** (age / (s.half_life * life))
        drift = 0.4 + 1.2 * (now[s.index] * (1 - frac) + nxt[s.index] * frac)
        out.append((s.popularity * rise * decay * _country_factor(c, s) * drift, s.index))
    return out


@lru_cache(maxsize=4096)
def _top(slug: str, day: date) -> tuple[tuple[int, float], ...]:
    """(song index, score) of the chart's positions that day, best first."""
    c = CHARTS[slug]
    ranked = sorted(_scores(c, day), key=lambda t: (-t[0], t[1]))[:c.max_results]
    return tuple((index, score) for score, index in ranked)


@lru_cache(maxsize=4096)
def _positions(slug: str, day: date) -> dict[int, int]:
    return {index: pos for pos, (index, _) in enumerate(_top(slug, day), start=1)}


def ranking(slug: str, day: date) -> list[dict]:
    """The chart's items at `day` (APIS.md 1.4 `items`), position 1 first. The caller checks
    `is_ranking_date`: any day gets a ranking here."""
    c = chart(slug)
    prev_days = []
    d = day
    for _ in range(STREAK_LOOKBACK):
        d = _step_back(c, d)
        if d < c.first_date:
            break
        prev_days.append(d)
    prev = _positions(slug, prev_days[0]) if prev_days else {}
    pool = _pool()
    items = []
    for pos, (index, score) in enumerate(_top(slug, day), start=1):
        streak = 1
        for back in prev_days:
            if index not in _positions(slug, back):
                break
            streak += 1
        old = prev.get(index, 0)
        if old == 0:
            seen_before = any(index in _positions(slug, back) for back in prev_days[1:])
            state = "RE_ENTRY" if seen_before else "NEW"
        else:
            state = "UP" if old > pos else "DOWN" if old < pos else "STABLE"
        entry = day
        for back in prev_days[:streak - 1]:
            entry = back
        items.append({
            "song": _summary(pool[index]),
            "position": pos,
            "positionEvolution": old - pos if old else 0,
            "metric": None if c.metric_type is None else max(1, round(c.metric_scale * score)),
            "entryState": state,
            "entryDate": iso(entry),
            "rankDate": iso(day),
            "oldPosition": old,
            "timeOnChart": streak,
            "timeOnChartUnit": TIME_ON_CHART_UNIT[c.frequency],
        })
    return items


def charts_by_platform(platform: str, country_code: str | None = None) -> list[dict]:
    return [chart_object(c.slug) for c in CHARTS.values()
            if c.platform == platform and (not country_code or c.country_code == country_code.upper())]


# --- audience -------------------------------------------------------------------------------

def audience(song_uuid: str, platform: str, day: date) -> int | None:
    """Cumulative plays of the song on the platform up to `day`, None before its release.

    A saturating launch curve plus a steady catalogue slope, and a daily jitter smaller than
    the slope, so the series never decreases."""
    s = _by_uuid().get(song_uuid)
    if s is None or platform not in AUDIENCE_PLATFORMS:
        return None
    age = day.toordinal() - s.released
    if age < 0:
        return None
    reach = 0.2 + 1.6 * _unit(song_uuid, platform, "reach")
    total = 2e8 * s.popularity * reach + 5e4
    tau = s.half_life
    slope = total / (20 * tau) + 10
    jitter = 0.9 * slope * _unit(song_uuid, platform, "jitter", day.toordinal())
    return int(total * (1 - math.exp(-(age + 1) / tau)) + slope * age + jitter)
