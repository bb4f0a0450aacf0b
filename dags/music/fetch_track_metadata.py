"""
# music_fetch_track_metadata

When new tracks land (the asset `music_tracks`, emitted by `music_process_chart_syncs`), and
daily at 03:00 in any case: fetches the metadata (title, artist, album, release date, genres,
ISRC, duration) of the tracks that are new (never fetched) or whose metadata is older than
`music_metadata_max_age_days` (default 30) before the run's reference time (`run_after`),
new ones first, then the stalest, from Soundcharts (`GET /api/v2.25/song/{uuid}`), one
request per track, `music_metadata_batch_size` (default 25) tracks per committed batch with
one set-based UPDATE writing only what changed plus the timestamp. A malformed song object
and an unknown uuid (404) are counted, logged with the uuid and skipped, and stamped like the
others, so they are tried again only when stale (not in every run); more than 5 % malformed
in a run fails it (an API change). At 2 requests a minute a backlog takes several runs: the
soft limit (27 of 30 minutes) stops between batches, and the next run continues with what is
still due. A run with nothing due succeeds with zeros. Result
`{tracks, updated, malformed, not_found, batches}`.

- **Owner:** music
- **Reads:** `music.tracks`; connection `soundcharts_api` (shared limit `soundcharts`,
  variable `rate_limits`; pool `soundcharts`); variables `music_metadata_max_age_days`,
  `music_metadata_batch_size`
- **Writes:** `music.tracks` metadata columns and `metadata_updated_at`
- **Triage:** safe to clear and re-run: a finished batch's tracks are stamped and no longer
  due, so a rerun fetches only what is left; a TooManyMalformed failure left its last batch
  unstamped (the retry asks again): look at the logged uuids before clearing.
"""

from datetime import timedelta

from airflow.sdk import AssetOrTimeSchedule, dag, task

from include.orchestration.assets import MUSIC_TRACKS
from include.orchestration.defaults import dag_settings
from include.orchestration.schedules import interval_timetable

CRON = "0 3 * * *"
API_CONN_ID = "soundcharts_api"


@dag(schedule=AssetOrTimeSchedule(timetable=interval_timetable("music", CRON), assets=[MUSIC_TRACKS]),
     **dag_settings("music", queue="default", cron=CRON, execution_timeout=timedelta(minutes=30)), doc_md=__doc__)
def music_fetch_track_metadata():
    @task(pool="soundcharts")
    def fetch_metadata() -> dict:
        from airflow.sdk import get_current_context

        from include.common.db import connect
        from include.music.soundcharts_client import SoundchartsClient
        from include.music.track_metadata import fetch_track_metadata
        from include.orchestration import clients, connections, variables
        from include.orchestration.budget import soft_limit

        max_age = variables.get_int("music_metadata_max_age_days", 30, minimum=1, maximum=3650)
        batch_size = variables.get_int("music_metadata_batch_size", 25, minimum=1, maximum=500)
        as_of = get_current_context()["dag_run"].run_after
        api, _ = clients.api(API_CONN_ID)
        with soft_limit() as budget, SoundchartsClient(api) as client, connect(connections.app_db("music")) as conn:
            return fetch_track_metadata(conn, client, as_of, max_age_days=max_age, batch_size=batch_size,
                                        budget=budget)

    fetch_metadata()


music_fetch_track_metadata()
