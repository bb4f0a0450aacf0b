"""Soundcharts API (stands in for https://customer.api.soundcharts.com): song charts, their
rankings, song metadata and song audience, with the data of include/demo/music_data.py (the
generator the demo seed uses), so a chart of a day is the same here and in the demo.

Speaks what the official SDK (`soundcharts` 1.3.3, api_util.py) relies on: `x-app-id` and
`x-api-key` on every call (any non-empty pair, or exactly SANDBOX_SOUNDCHARTS_APP_ID /
SANDBOX_SOUNDCHARTS_API_KEY when set), `offset`/`limit` paging (limit 1..100, default 100:
the SDK steps its parallel pages by 100 when it sends no limit) with `page {offset, limit,
next, previous, total}` where `next`/`previous` are relative `/api/...` paths, errors as
`{"errors": [{"key", "code", "message"}]}`, `x-quota-remaining` on every answer, and a
throttled call as the SDK retries it: 429, a message containing "maximum request count",
and `x-ratelimit-reset` (seconds) besides `Retry-After`.

"today" is the UTC date of the request, or SANDBOX_MUSIC_TODAY (YYYY-MM-DD) when set.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from include.demo import music_data
from sandbox.registry import SandboxApi

MAX_LIMIT = 100
MAX_AUDIENCE_DAYS = 90  # the documented cap of artist audience periods, applied to songs too
FIRST_QUOTA = 1_000_000
RATE_LIMIT_MESSAGE = "You have reached the maximum request count for your plan (sandbox fault switch status_429)."


def soundcharts_error(code: int, message: str, key: str = "request") -> dict:
    return {"errors": [{"key": key, "code": code, "message": message}]}


def _error(code: int, message: str, key: str = "request", headers: dict | None = None) -> JSONResponse:
    return JSONResponse(soundcharts_error(code, message, key), status_code=code, headers=headers)


def _fault(status: int, retry_after: int) -> Response:
    if status == 429:
        return _error(429, RATE_LIMIT_MESSAGE, "rate_limit",
                      {"Retry-After": str(retry_after), "x-ratelimit-reset": str(retry_after)})
    return _error(503, "Service unavailable (sandbox fault switch status_5xx).", "server")


api = SandboxApi(name="soundcharts", error_body=soundcharts_error, fault_response=_fault)


class _Quota:
    """The per-process quota behind `x-quota-remaining`: each 200 answer but /team/usage uses one."""

    def __init__(self, total: int):
        self.total = total
        self.used = 0
        self._lock = threading.Lock()

    def spend(self) -> int:
        with self._lock:
            self.used += 1
            return self.remaining()

    def remaining(self) -> int:
        return max(0, self.total - self.used)


QUOTA = _Quota(int(os.environ.get("SANDBOX_SOUNDCHARTS_QUOTA", FIRST_QUOTA)))
_GuardedRoute = api.router.route_class


class _QuotaRoute(_GuardedRoute):
    """The API's guarded route plus the quota header on every answer (faults included)."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def with_quota(request: Request) -> Response:
            response = await handler(request)
            counts = response.status_code == 200 and not request.url.path.endswith("/team/usage")
            response.headers["x-quota-remaining"] = str(QUOTA.spend() if counts else QUOTA.remaining())
            return response

        return with_quota


api.router.route_class = _QuotaRoute  # set before the routes below are added


class BadRequest(ValueError):
    pass


def _unauthorized(request: Request) -> JSONResponse | None:
    app_id, key = request.headers.get("x-app-id", ""), request.headers.get("x-api-key", "")
    want_id, want_key = os.environ.get("SANDBOX_SOUNDCHARTS_APP_ID"), os.environ.get("SANDBOX_SOUNDCHARTS_API_KEY")
    if not app_id or not key:
        return _error(401, "Missing authentication: send the x-app-id and x-api-key headers.", "authentication")
    if (want_id and app_id != want_id) or (want_key and key != want_key):
        return _error(401, "Invalid x-app-id / x-api-key.", "authentication")
    return None


def _today() -> date:
    raw = os.environ.get("SANDBOX_MUSIC_TODAY")
    return date.fromisoformat(raw) if raw else datetime.now(UTC).date()


def _int(request: Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"Invalid value '{raw}' for {name}: expected an integer") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise BadRequest(f"Invalid value {value} for {name}: must be {bound}")
    return value


def _paged(request: Request, path: str, records: Sequence, extra: dict | None = None,
           corruptions: Sequence[Callable[[dict], None]] = ()) -> dict:
    """One page of `records` with Soundcharts' `page` block (next/previous keep the query);
    the `malformed_fraction` switch corrupts records of the page with `corruptions`."""
    offset = _int(request, "offset", 0, 0, None)
    limit = _int(request, "limit", MAX_LIMIT, 1, MAX_LIMIT)
    total = len(records)

    def link(at: int) -> str:
        query = {k: v for k, v in request.query_params.items() if k not in ("offset", "limit")}
        return f"{path}?{urlencode({**query, 'offset': at, 'limit': limit})}"

    page = {"offset": offset, "limit": limit,
            "next": link(offset + limit) if offset + limit < total else None,
            "previous": link(max(0, offset - limit)) if offset > 0 else None,
            "total": total}
    items = list(records[offset:offset + limit])
    if corruptions:
        items = _malformed(request, items, corruptions)
    return {**(extra or {}), "items": items, "page": page, "errors": []}


# --- malformed records: corrupted the way a client must catch -----------------------------------

def _malformed(request: Request, records: list, corruptions: Sequence[Callable[[dict], None]]) -> list:
    """Corrupt about `malformed_fraction` of the records, picked by a hash of each record (the
    same record is bad on every page and retry), each with one of `corruptions`."""
    fraction = getattr(request.state, "malformed_fraction", 0.0)
    if fraction <= 0:
        return records
    out, count = [], 0
    for record in records:
        text = "soundcharts" + json.dumps(record, sort_keys=True, default=str)
        digest = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
        if digest / 2**64 < fraction:
            bad = copy.deepcopy(record)
            corruptions[digest % len(corruptions)](bad)
            out.append(bad)
            count += 1
        else:
            out.append(record)
    request.state.malformed_count = getattr(request.state, "malformed_count", 0) + count
    return out


def _set(key: str, value) -> Callable[[dict], None]:
    return lambda r: r.__setitem__(key, value)


RANKING_CORRUPTIONS = (
    lambda r: r["song"].pop("uuid"),  # no song uuid
    lambda r: r.__setitem__("position", str(r["position"])),  # position as a string
    _set("position", None),
    _set("metric", "n/a"),
    lambda r: r.__setitem__("song", r["song"]["uuid"]),  # song as a bare string
    _set("rankDate", "not-a-date"),
)
def _bad_plot_value(record: dict) -> None:
    record["plots"] = [{**p, "value": "n/a"} for p in record["plots"]] or [{"value": "n/a"}]


AUDIENCE_CORRUPTIONS = (
    lambda r: r.pop("date"),
    _set("date", "yesterday"),
    _bad_plot_value,
    _set("plots", None),
)
SONG_CORRUPTIONS = (
    lambda r: r.pop("uuid"),
    _set("duration", "3:35"),
    lambda r: r.__setitem__("artists", r["creditName"]),  # a string, not a list
    _set("releaseDate", "not-a-date"),
    _set("isrc", 12345),
)


# --- routes -----------------------------------------------------------------------------------

def _chart_or_404(slug: str) -> music_data.Chart | JSONResponse:
    try:
        return music_data.chart(slug)
    except music_data.UnknownChartError:
        return _error(404, f"Chart '{slug}' not found", "chart")


def _ranking_day(slug: str, raw: str) -> date:
    """The day of a ranking datetime (ISO 8601 with an offset; any offset naming 00:00 UTC)."""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"Invalid datetime '{raw}': expected ISO 8601 like 2024-01-18T00:00:00+00:00 "
                         f"(URL-encode '+' as %2B)") from None
    if moment.tzinfo is None:
        raise BadRequest(f"Invalid datetime '{raw}': the offset is required (e.g. +00:00)")
    utc = moment.astimezone(UTC)
    if (utc.hour, utc.minute, utc.second, utc.microsecond) != (0, 0, 0, 0):
        raise LookupError(raw)
    return utc.date()


@api.router.get("/api/v2.14/chart/song/{slug}/ranking/{when}")
async def song_ranking(slug: str, when: str, request: Request):
    if (denied := _unauthorized(request)) is not None:
        return denied
    found = _chart_or_404(slug)
    if isinstance(found, JSONResponse):
        return found
    today = _today()
    try:
        if when == "latest":
            day = music_data.latest_ranking_date(slug, today)
            if day is None:
                raise LookupError(when)
        else:
            day = _ranking_day(slug, when)
            if not music_data.is_ranking_date(slug, day, today):
                raise LookupError(when)
        items = music_data.ranking(slug, day)
        related = {"related": {"chart": music_data.chart_object(slug), "date": music_data.iso(day)}}
        path = f"/api/v2.14/chart/song/{slug}/ranking/{when if when == 'latest' else music_data.iso(day)}"
        return _paged(request, path, items, related, RANKING_CORRUPTIONS)
    except BadRequest as exc:
        return _error(400, str(exc))
    except LookupError:
        return _error(404, f"No ranking of chart '{slug}' at '{when}'", "ranking")


@api.router.get("/api/v2/chart/song/{slug}/available-rankings")
async def available_rankings(slug: str, request: Request):
    if (denied := _unauthorized(request)) is not None:
        return denied
    found = _chart_or_404(slug)
    if isinstance(found, JSONResponse):
        return found
    dates = [music_data.iso(d) for d in music_data.ranking_dates(slug, _today())]  # newest first
    try:
        return _paged(request, f"/api/v2/chart/song/{slug}/available-rankings", dates)
    except BadRequest as exc:
        return _error(400, str(exc))


@api.router.get("/api/v2/chart/song/by-platform/{platform}")
async def charts_by_platform(platform: str, request: Request):
    if (denied := _unauthorized(request)) is not None:
        return denied
    charts = music_data.charts_by_platform(platform, request.query_params.get("countryCode"))
    try:
        return _paged(request, f"/api/v2/chart/song/by-platform/{platform}", charts)
    except BadRequest as exc:
        return _error(400, str(exc))


@api.router.get("/api/v2.25/song/{song_uuid}")
async def song_metadata(song_uuid: str, request: Request):
    if (denied := _unauthorized(request)) is not None:
        return denied
    song = music_data.song(song_uuid)
    if song is None:
        return _error(404, f"Song '{song_uuid}' not found", "song")
    [song] = _malformed(request, [song], SONG_CORRUPTIONS)
    return {"type": "song", "object": song, "errors": []}


def _day_param(request: Request, name: str) -> date | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"Invalid value '{raw}' for {name}: expected YYYY-MM-DD") from None


@api.router.get("/api/v2/song/{song_uuid}/audience/{platform}")
async def song_audience(song_uuid: str, platform: str, request: Request):
    if (denied := _unauthorized(request)) is not None:
        return denied
    summary = music_data.song_summary(song_uuid)
    if summary is None:
        return _error(404, f"Song '{song_uuid}' not found", "song")
    if platform not in music_data.AUDIENCE_PLATFORMS:
        return _error(400, f"Invalid platform '{platform}'; one of {', '.join(music_data.AUDIENCE_PLATFORMS)}",
                      "platform")
    today = _today()
    try:
        start, end = _day_param(request, "startDate"), _day_param(request, "endDate")
        sort = request.query_params.get("sort", "asc")
        if sort not in ("asc", "desc"):
            raise BadRequest(f"Invalid value '{sort}' for sort: asc or desc")
        if end is None:
            end = today if start is None else min(today, start + timedelta(days=MAX_AUDIENCE_DAYS - 1))
        if start is None:
            start = end - timedelta(days=MAX_AUDIENCE_DAYS - 1)
        if start > end:
            raise BadRequest("startDate is after endDate")
        if (end - start).days >= MAX_AUDIENCE_DAYS:
            raise BadRequest(f"The period cannot exceed {MAX_AUDIENCE_DAYS} days")
        identifier = music_data.platform_id(song_uuid, platform)
        wanted = request.query_params.get("identifier")
        items, day = [], start
        while day <= min(end, today):
            value = music_data.audience(song_uuid, platform, day)
            if value is not None:
                plots = [{"identifier": identifier, "value": value}] if wanted in (None, "", identifier) else []
                items.append({"date": music_data.iso(day), "plots": plots})
            day += timedelta(days=1)
        if sort == "desc":
            items.reverse()
        related = {"related": {"song": summary, "platform": platform, "identifiers": [identifier]}}
        return _paged(request, f"/api/v2/song/{song_uuid}/audience/{platform}", items, related,
                      AUDIENCE_CORRUPTIONS)
    except BadRequest as exc:
        return _error(400, str(exc))


@api.router.get("/api/v2/team/usage")
async def team_usage(request: Request):
    if (denied := _unauthorized(request)) is not None:
        return denied
    return {"object": {"quota": QUOTA.total, "used": QUOTA.used, "remaining": QUOTA.remaining()}, "errors": []}
