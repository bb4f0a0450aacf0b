"""The Soundcharts API (APIS.md §1): chart rankings, their available dates, song metadata and
song audience, on include/common/http.py's ApiClient (key auth headers `x-app-id` /
`x-api-key` come from the connection; the shared 2-per-minute limit from its `rate_limit`).

Each endpoint carries its own version segment. Lists page with `offset`/`limit` (at most 100)
until `page.total`. Ranking items, song objects and audience points are validated one by one:
a malformed one is logged with its id, counted in the caller's BatchReport and skipped; an
answer that is not the documented shape at all is an ApiError naming Soundcharts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from include.common.http import ApiClient, ApiError
from include.common.validation import BatchReport, validate_records

PAGE_LIMIT = 100  # the documented maximum of the ranking and list endpoints


def ranking_date_path(moment: datetime) -> str:
    """A ranking datetime as its path segment: ISO-8601 with offset, `+` as %2B (APIS.md §1.3)."""
    if moment.tzinfo is None:
        raise ValueError(f"a ranking date must be time-zone aware, got {moment!r}")
    return quote(moment.isoformat(timespec="seconds"), safe=":")


def _aware(value: Any) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise ValueError(f"not an ISO-8601 datetime with an offset: {value!r}")
    return moment


class _Song(BaseModel):
    model_config = ConfigDict(extra="ignore")
    uuid: UUID
    name: str = Field(min_length=1)
    creditName: str | None = None


class RankingEntry(BaseModel):
    """One position of a chart at a date (`items[]` of ChartSongRankCollectionResponse)."""

    model_config = ConfigDict(extra="ignore")
    song: _Song
    position: StrictInt = Field(gt=0)
    metric: StrictInt | None = None
    positionEvolution: StrictInt | None = None
    entryState: str | None = None
    timeOnChart: StrictInt | None = None

    @property
    def uuid(self) -> str:
        return str(self.song.uuid)


class SongMetadata(BaseModel):
    """The fields of `GET /api/v2.25/song/{uuid}` that a track keeps."""

    model_config = ConfigDict(extra="ignore")
    uuid: UUID
    name: str = Field(min_length=1)
    creditName: str | None = None
    releaseDate: datetime | None = None
    genres: list[str] = Field(default_factory=list)
    isrc: str | None = None
    duration: StrictInt | None = None
    album: str | None = None

    @field_validator("genres", mode="before")
    @classmethod
    def _roots(cls, value: Any) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(g, dict) and isinstance(g.get("root"), str)
                                                  for g in value):
            raise ValueError("genres must be a list of {root, sub}")
        return [g["root"] for g in value]

    @field_validator("isrc", mode="before")
    @classmethod
    def _isrc(cls, value: Any) -> str | None:
        return value.get("value") if isinstance(value, dict) else value


class _Plot(BaseModel):
    model_config = ConfigDict(extra="ignore")
    identifier: str | None = None
    value: StrictInt = Field(ge=0)


class AudiencePoint(BaseModel):
    """One day of `GET /api/v2/song/{uuid}/audience/{platform}`: `{"date", "plots": [{identifier,
    value}]}` (the official SDK's shape); a song with several ids on the platform has one plot
    each, and its audience is their sum."""

    model_config = ConfigDict(extra="ignore")
    date: datetime
    plots: list[_Plot] = Field(min_length=1)

    @property
    def day(self) -> date:
        return self.date.date()

    @property
    def value(self) -> int:
        return sum(p.value for p in self.plots)


@dataclass(frozen=True)
class Ranking:
    slug: str
    ranking_date: datetime
    entries: list[RankingEntry]


class SoundchartsClient:
    def __init__(self, api: ApiClient, *, page_limit: int = PAGE_LIMIT):
        if not 1 <= page_limit <= PAGE_LIMIT:
            raise ValueError(f"page_limit must be 1..{PAGE_LIMIT}, got {page_limit}")
        self.api, self.page_limit = api, page_limit

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> SoundchartsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def available_rankings(self, slug: str, since: datetime | None = None) -> list[datetime]:
        """The chart's ranking dates (all, or those at or after `since`), oldest first.

        A chart with years of daily rankings lists a thousand dates, ten requests at 2 a
        minute; the API answers newest first (the sandbox and the official SDK's use agree;
        APIS.md calls the order unverified), so paging stops at the first page wholly older
        than `since` — but only while the dates seen so far really came newest first."""
        found: list[datetime] = []
        path = f"api/v2/chart/song/{quote(slug, safe='')}/available-rankings"
        for page in self.api.paginate_offset(path, limit=self.page_limit):
            try:
                dates = [_aware(item) for item in page["items"]]
            except ValueError as exc:
                raise ApiError(f"Soundcharts available-rankings of {slug}: {exc}") from None
            found += dates
            newest_first = all(a >= b for a, b in zip(found, found[1:], strict=False))
            if since is not None and newest_first and dates and dates[0] < since:
                break
        return sorted({d for d in found if since is None or d >= since})

    def ranking(self, slug: str, at: datetime, report: BatchReport) -> Ranking:
        """The chart at `at`, every page; malformed entries are counted in `report` and skipped.
        A position seen twice (the list moved between pages) keeps its first entry."""
        path = f"api/v2.14/chart/song/{quote(slug, safe='')}/ranking/{ranking_date_path(at)}"
        entries: dict[int, RankingEntry] = {}
        for page in self.api.paginate_offset(path, limit=self.page_limit):
            valid, _ = validate_records(page["items"], RankingEntry, id_field="position", report=report)
            for entry in valid:
                entries.setdefault(entry.position, entry)
        return Ranking(slug, at, sorted(entries.values(), key=lambda e: e.position))

    def song(self, uuid: str) -> SongMetadata:
        """One song's metadata; a malformed object is ValueError (the caller counts and skips
        it), an answer without `object` is the API's error."""
        body = self.api.get(f"api/v2.25/song/{quote(str(uuid), safe='')}")
        song = body.get("object") if isinstance(body, dict) else None
        if not isinstance(song, dict):
            raise ApiError(f"Soundcharts song {uuid}: answer has no object: {str(body)[:200]}")
        try:
            return SongMetadata.model_validate(song)
        except ValidationError as exc:
            raise ValueError(f"malformed song {uuid}: {exc.errors()[0]['msg']}") from None

    def audience(self, uuid: str, platform: str, start: date, end: date, report: BatchReport) -> list[AudiencePoint]:
        """The song's daily audience on `platform` for start..end (inclusive)."""
        path = f"api/v2/song/{quote(str(uuid), safe='')}/audience/{quote(platform, safe='')}"
        params = {"startDate": start.isoformat(), "endDate": end.isoformat()}
        points: dict[date, AudiencePoint] = {}
        for page in self.api.paginate_offset(path, params=params, limit=self.page_limit):
            valid, _ = validate_records(page["items"], AudiencePoint, id_field="date", report=report)
            for point in valid:
                if start <= point.day <= end:
                    points.setdefault(point.day, point)
        return [points[d] for d in sorted(points)]
