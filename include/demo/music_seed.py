"""Music demo data: the sandbox catalogue's charts (include/demo/music_data.py, which the
Soundcharts stand-in serves), each with a sync schedule that is due, and the tracks on their
latest rankings (a few hundred; half never fetched, half with metadata a year old, so
`music_fetch_track_metadata` has work), plus one uploaded song: a generated tone WAV for
`music_analyze_song` (include/demo/music_songs.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg

from include.demo import music_data, music_songs
from include.music.audio_sample import default_upload_root

DUE_SINCE = datetime(2026, 1, 1, tzinfo=UTC)  # every demo schedule is due from the first run
STALE = datetime(2025, 1, 1, tzinfo=UTC)


def seed(conn: psycopg.Connection, scale: int, *, today: date | None = None) -> dict[str, int]:
    today = today or datetime.now(UTC).date()
    conn.execute("TRUNCATE music.charts, music.tracks, music.chart_rankings, music.track_audience, music.songs "
                 "RESTART IDENTITY CASCADE")
    charts = list(music_data.CHARTS.values())
    conn.execute("""
        INSERT INTO music.charts (slug, name, platform, country_code, frequency, max_positions)
        SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::int[])""",
                 ([c.slug for c in charts], [c.name for c in charts], [c.platform for c in charts],
                  [c.country_code for c in charts], [c.frequency for c in charts], [c.max_results for c in charts]))
    schedules = conn.execute("""
        INSERT INTO music.chart_sync_schedules (chart_id, frequency, next_sync_at)
        SELECT id, frequency, %s FROM music.charts""", (DUE_SINCE,)).rowcount
    songs: dict[str, dict] = {}
    for c in charts:
        latest = music_data.latest_ranking_date(c.slug, today)
        if latest is None:
            continue
        for item in music_data.ranking(c.slug, latest)[:200 * scale]:
            songs.setdefault(item["song"]["uuid"], item["song"])
    uuids = sorted(songs)
    tracks = conn.execute("""
        INSERT INTO music.tracks (uuid, title, artist, metadata_updated_at)
        SELECT u, t, a, CASE WHEN n %% 2 = 0 THEN NULL ELSE %s::timestamptz END
          FROM unnest(%s::uuid[], %s::text[], %s::text[]) WITH ORDINALITY AS s(u, t, a, n)""",
                          (STALE, uuids, [songs[u]["name"] for u in uuids],
                           [songs[u]["creditName"] for u in uuids])).rowcount
    music_songs.seed_demo_song(conn, default_upload_root())  # the variable music_upload_root's default
    return {"charts": len(charts), "chart_sync_schedules": schedules, "tracks": tracks, "songs": 1}

