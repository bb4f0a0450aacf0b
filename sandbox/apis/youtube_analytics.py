"""YouTube Analytics API v2 reports.query: GET /v2/reports (stands in for
https://youtubeanalytics.googleapis.com/v2/reports).

Speaks the documented request and answer: `ids=channel==MINE` (or `channel==UC...`),
`startDate`/`endDate` (YYYY-MM-DD, inclusive), `metrics`, `dimensions` (`day` and/or
`video`), `filters=video==id1,id2,...` (at most 500 ids, the documented limit for the video,
playlist and channel filters), `sort` (`-` for descending), `maxResults` and the 1-based
`startIndex`; OAuth bearer auth; the answer is a `youtubeAnalytics#resultTable` with
`columnHeaders` and `rows`; errors in Google's format.

The figures come from include/demo/videos_stats.py, the generator the demo seed uses, so a
video's numbers of a day are the same here and in the demo. A video has no rows before its
publish day. The sandbox knows no channel's catalogue, so it needs the video filter.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from fastapi import Request

from include.demo import videos_stats as demo_stats
from sandbox.errors import error_response, google_error
from sandbox.malformed import malformed_records
from sandbox.registry import SandboxApi
from sandbox.request_parsing import bearer_token, google_get_params

api = SandboxApi(name="youtube_analytics", error_body=google_error)

MAX_FILTER_IDS = 500  # "The parameter value can specify up to 500 IDs" (dimensions reference)
MAX_DAYS = 400  # a sandbox bound on one report's range, to keep answers small
METRICS = {  # metric -> DayStats field
    "views": "views", "likes": "likes", "comments": "comments", "shares": "shares",
    "estimatedMinutesWatched": "watch_minutes",
}
DIMENSIONS = ("day", "video")
IDS = re.compile(r"^channel==(MINE|UC[\w-]{22})$")


class BadQuery(ValueError):
    pass


def _bad_request(message: str):
    return error_response(400, google_error(400, message, [
        {"@type": "type.googleapis.com/google.rpc.BadRequest",
         "fieldViolations": [{"description": message}]}]))


def _day(params, name: str) -> date:
    raw = params.get(name)
    if not raw:
        raise BadQuery(f"Required parameter: {name}")
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise BadQuery(f"Invalid value '{raw}' for parameter {name}: expected YYYY-MM-DD") from exc


def _names(raw: str | None, allowed, what: str) -> list[str]:
    names = [n.strip() for n in (raw or "").split(",") if n.strip()]
    for name in names:
        if name not in allowed:
            raise BadQuery(f"Unknown identifier ({name}) given in field parameters.{what}.")
    if len(set(names)) != len(names):
        raise BadQuery(f"Duplicate identifier given in field parameters.{what}.")
    return names


def _video_filter(raw: str | None) -> list[str]:
    if not raw:
        raise BadQuery("The sandbox serves reports of listed videos only: set filters=video==id1,id2,...")
    videos = None
    for clause in raw.split(";"):
        dimension, sep, values = clause.partition("==")
        if not sep or dimension != "video":
            raise BadQuery(f"Invalid filter '{clause}': the sandbox supports video==id1,id2,... only")
        videos = [v for v in values.split(",") if v]
    if not videos:
        raise BadQuery("The video filter lists no video id.")
    if len(videos) > MAX_FILTER_IDS:
        raise BadQuery(f"The video filter lists {len(videos)} ids; the maximum is {MAX_FILTER_IDS}.")
    return list(dict.fromkeys(videos))


def _positive(params, name: str, default: int | None) -> int | None:
    raw = params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise BadQuery(f"Invalid value '{raw}' for parameter {name}: expected a positive integer")
    return int(raw)


def _rows(videos: list[str], start: date, end: date, dims: list[str], metrics: list[str]) -> list[list]:
    """Metric sums grouped by the dimensions (rows only where a video has data)."""
    groups: dict[tuple, list[int]] = {}
    day = start
    while day <= end:
        for video in videos:
            stats = demo_stats.daily_stats(video, day)
            if stats is None:
                continue
            key = tuple(day.isoformat() if d == "day" else video for d in dims)
            sums = groups.setdefault(key, [0] * len(metrics))
            for i, metric in enumerate(metrics):
                sums[i] += getattr(stats, METRICS[metric])
        day += timedelta(days=1)
    return [[*key, *sums] for key, sums in groups.items()]


def _sorted(rows: list[list], columns: list[str], sort: list[str]) -> list[list]:
    for key in reversed(sort):  # stable sorts, last key first
        name = key.lstrip("-")
        if name not in columns:
            raise BadQuery(f"Sort key ({name}) is not among the query's dimensions or metrics.")
        index = columns.index(name)
        rows.sort(key=lambda r: r[index], reverse=key.startswith("-"))
    return rows


# POST: the GET as Google also takes it, overridden (see google_get_params).
@api.router.api_route("/v2/reports", methods=["GET", "POST"])
async def query_report(request: Request):
    if bearer_token(request) is None:
        return error_response(401, google_error(
            401, "Request is missing required authentication credential. Expected OAuth 2 access "
                 "token, login cookie or other valid authentication credential."))
    params = await google_get_params(request)
    if params is None:  # a POST without X-HTTP-Method-Override: GET
        return error_response(404, google_error(404, "Method not found."))
    try:
        if not IDS.match(params.get("ids", "")):
            raise BadQuery("Invalid value for parameter ids: expected channel==MINE or channel==<channel id>")
        start, end = _day(params, "startDate"), _day(params, "endDate")
        if start > end:
            raise BadQuery("The query's startDate is after its endDate.")
        if (end - start).days >= MAX_DAYS:
            raise BadQuery(f"The sandbox serves at most {MAX_DAYS} days per report.")
        metrics = _names(params.get("metrics"), METRICS, "metrics")
        if not metrics:
            raise BadQuery("Required parameter: metrics")
        dims = _names(params.get("dimensions"), DIMENSIONS, "dimensions")
        videos = _video_filter(params.get("filters"))
        columns = dims + metrics
        sort = [s.strip() for s in params.get("sort", "").split(",") if s.strip()] or dims
        rows = _sorted(_rows(videos, start, end, dims, metrics), columns, sort)
        first = _positive(params, "startIndex", 1)
        limit = _positive(params, "maxResults", None)
    except BadQuery as exc:
        return _bad_request(str(exc))
    page = rows[first - 1:] if limit is None else rows[first - 1:first - 1 + limit]
    headers = [{"name": d, "columnType": "DIMENSION", "dataType": "STRING"} for d in dims]
    headers += [{"name": m, "columnType": "METRIC", "dataType": "INTEGER"} for m in metrics]
    return {"kind": "youtubeAnalytics#resultTable", "columnHeaders": headers,
            "rows": malformed_records(request, page)}
