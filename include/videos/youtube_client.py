"""YouTube Analytics API v2 (`GET /v2/reports`): daily statistics per video.

One report per batch of at most 500 video ids (`filters=video==id1,id2,...`: the documented
maximum of values for the video filter), `dimensions=day,video`, paged with `maxResults` and
the 1-based `startIndex` until a short page. Rows are matched to columns by the answer's
`columnHeaders` (the documented way: never assume the column order) and validated; a
malformed row is logged with its video id, counted in the BatchReport and skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from include.common.http import ApiClient, ApiError
from include.common.validation import BatchReport, validate_records

log = logging.getLogger(__name__)

REPORTS_PATH = "v2/reports"
MAX_FILTER_IDS = 500
METRICS = ("views", "likes", "comments", "shares", "estimatedMinutesWatched")
DIMENSIONS = ("day", "video")
DEFAULT_PAGE_SIZE = 5_000


class VideoDayStats(BaseModel):
    """One report row: a video's numbers of one day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    day: date
    video: str = Field(min_length=1)
    views: StrictInt = Field(ge=0)
    likes: StrictInt = Field(ge=0)
    comments: StrictInt = Field(ge=0)
    shares: StrictInt = Field(ge=0)
    estimatedMinutesWatched: StrictInt = Field(ge=0)  # the API's column name


def _as_record(row: Any, columns: Sequence[str]) -> Any:
    """A row (list of cells) as a dict keyed by column; a short row lacks the last keys and a
    long one carries `unexpected_cells`, so validation rejects both."""
    if not isinstance(row, list):
        return row
    record: dict[str, Any] = dict(zip(columns, row, strict=False))
    if len(row) > len(columns):
        record["unexpected_cells"] = row[len(columns):]
    return record


class YouTubeAnalyticsClient:
    """Reports of one channel (`ids`, e.g. `channel==MINE`) through an ApiClient that carries
    the OAuth bearer token."""

    def __init__(self, api: ApiClient, *, ids: str = "channel==MINE", page_size: int = DEFAULT_PAGE_SIZE):
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        self.api, self.ids, self.page_size = api, ids, page_size

    def daily_stats(self, video_ids: Sequence[str], start: date, end: date,
                    report: BatchReport) -> Iterator[VideoDayStats]:
        """The valid rows of `video_ids` (at most 500) for the days start..end, page by page;
        every fetched row is counted in `report`."""
        if not video_ids:
            return
        if len(video_ids) > MAX_FILTER_IDS:
            raise ValueError(f"{len(video_ids)} video ids in one report; the API takes at most {MAX_FILTER_IDS}")
        if start > end:
            raise ValueError(f"start {start} is after end {end}")
        params: dict[str, Any] = {
            "ids": self.ids,
            "startDate": start.isoformat(),
            "endDate": end.isoformat(),
            "metrics": ",".join(METRICS),
            "dimensions": ",".join(DIMENSIONS),
            "filters": "video==" + ",".join(video_ids),
            "sort": "day,video",
            "maxResults": self.page_size,
        }
        # A report has at most one row per (video, day): more pages than that means the API
        # ignores startIndex, and paging would never end.
        max_pages = len(video_ids) * ((end - start).days + 1) // self.page_size + 1
        for page_no in range(max_pages):
            params["startIndex"] = page_no * self.page_size + 1
            page = self.api.get(REPORTS_PATH, params=params)
            columns = self._columns(page)
            rows = page.get("rows") or []  # Google omits an empty list
            if not isinstance(rows, list):
                raise ApiError(f"report rows are not a list: {str(rows)[:200]}")
            valid, _ = validate_records([_as_record(r, columns) for r in rows], VideoDayStats,
                                        id_field="video", report=report)
            yield from valid
            if len(rows) < self.page_size:
                return
        raise ApiError(f"report of {len(video_ids)} videos x {(end - start).days + 1} days is still "
                       f"full after {max_pages} pages of {self.page_size}: paging does not advance")

    @staticmethod
    def _columns(page: Any) -> list[str]:
        headers = page.get("columnHeaders") if isinstance(page, dict) else None
        if not isinstance(headers, list) or not all(isinstance(h, dict) and isinstance(h.get("name"), str)
                                                    for h in headers):
            raise ApiError(f"report without columnHeaders: {str(page)[:200]}")
        columns = [h["name"] for h in headers]
        missing = [c for c in (*DIMENSIONS, *METRICS) if c not in columns]
        if missing:  # the shape changed: every row would be malformed, say why once instead
            raise ApiError(f"report columns {columns} lack {missing}")
        return columns
