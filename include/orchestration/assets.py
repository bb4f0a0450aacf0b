"""The assets that connect DAGs across domains' jobs ("run after that data landed"), each
defined once here so producers and consumers name the same thing."""

from __future__ import annotations

from airflow.sdk import Asset

# videos.daily_stats was refreshed (by videos_analytics_sync); the event's extra names the days.
VIDEOS_STATS = Asset("videos_stats")

# music.tracks gained new tracks (by music_process_chart_syncs); music_fetch_track_metadata follows.
MUSIC_TRACKS = Asset("music_tracks")

# ads.campaign_daily_stats was refreshed (by ads_fetch_ad_data); the event's extra names the days and counts.
ADS_STATS = Asset("ads_stats")
