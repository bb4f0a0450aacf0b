"""
# music_analyze_song

Manual, one uploaded song per run (`--conf '{"song_id": 42}'`, optional `"force": true`):
cuts a 10-15 s sample (mono 16-bit WAV) from the middle of the song's file with ffmpeg,
identifies it with ACRCloud (`POST /v1/identify`, HMAC-SHA1 signed), stores the result in
`music.song_analyses` (matched or not, the best candidate's title, artists, album, ISRC and
score, the raw answer, the sample's start and length) and emails the uploader once (outbox
key `song-analysis:<song_id>`, template `music/song_analysis`), then delivers the email. The
song moves uploaded -> analyzing -> analyzed; "no result" from ACRCloud is an analysis with
`matched = false`, not a failure.

A song already analysed is kept: a second trigger calls nothing and says so
(`{"analysed": false, "reason": "already analysed on <date>"}`); `force` identifies it again
and replaces the analysis, but never emails twice. The identify task runs in the pool
`acrcloud` (1 slot) and takes a token of the shared ACRCloud limit (1 request/minute,
variable `rate_limits`) before each request, so songs queue instead of holding worker slots.

- **Owner:** music
- **Reads:** connection `music_db` (`music.songs`, `music.song_analyses`), the song's file
  under the variable `music_upload_root` (default `<state folder>/music`), `acrcloud_api`
  (host, login = access key, password = access secret, extra `sample_seconds` 10..15),
  `redis_default` (rate limit); `platform_db` and `smtp_default` (delivery)
- **Writes:** `music.song_analyses` (one row per song), `music.songs.status`, `platform.outbox`
- **Triage:** safe to clear and re-run: the analysis is an upsert per song and the email's
  outbox key is unique. A missing or undecodable file, an unknown `song_id` and ACRCloud's
  refusals (bad key or signature: code 3001/3014) fail at once without retries; the song is
  `failed` with `song_analyses.error` saying why: fix the file or the connection and trigger
  again. ACRCloud's limits (3003/3015) and 5xx are retried; the song stays `analyzing` meanwhile.
"""

from datetime import timedelta

from airflow.sdk import Param, dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.notify import deliver_notifications
from include.orchestration.params import id_param

# Runs for different songs may be triggered together; the acrcloud pool (1 slot) and the
# shared limit serialise their requests, and a per-song lock keeps two runs off one song.
MAX_QUEUED_SONGS = 16


@dag(schedule=None,
     **dag_settings("music", queue="media", cron=None, execution_timeout=timedelta(minutes=15),
                    max_active_runs=MAX_QUEUED_SONGS),
     params={"song_id": id_param("id of the song in music.songs"),
             "force": Param(False, type="boolean",
                            description="identify an already analysed song again (its email is not re-sent)")},
     doc_md=__doc__)
def music_analyze_song():
    @task(pool="acrcloud")
    def identify_song() -> dict:
        from pathlib import Path

        from airflow.sdk import get_current_context

        from include.music.acrcloud_client import AcrCloudClient
        from include.music.audio_sample import default_upload_root
        from include.music.song_analysis import analyze_song
        from include.orchestration import clients, connections, variables
        from include.orchestration.clients import AcrCloudSettings

        params = get_current_context()["params"]
        upload_root = Path(variables.get_str("music_upload_root", str(default_upload_root())))
        api, settings = clients.api("acrcloud_api", AcrCloudSettings)
        with api:
            client = AcrCloudClient(api, settings.access_key, settings.access_secret)
            # UnknownSong, UnreadableAudio and ACRCloud's refusals are permanent (the task fails
            # at once); its limits, 5xx and a busy song are transient (retried).
            return analyze_song(connections.outbox_db("music"), params["song_id"], upload_root, client,
                                sample_seconds=settings.sample_seconds, force=params["force"])

    deliver_notifications(upstream=identify_song())


music_analyze_song()
