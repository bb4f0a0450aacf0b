"""
# social_process_media_upload

Manual, one upload per run (`--conf '{"media_id": 42}'`): reads the upload's original file,
tells image from video by its content, and writes the variants to
`<media_root>/variants/<media_id>/`:

- **image** (Pillow): EXIF orientation applied, colours converted to sRGB, all metadata
  stripped (EXIF with GPS, XMP, ICC); `w<width>.jpg` (quality 82, progressive) and
  `w<width>.webp` (quality 80) for each width of `social_image_widths` not wider than the
  original (an image narrower than all keeps its own width), and a center-cropped square
  `thumb.jpg` of `social_thumbnail_size`.
- **video** (ffmpeg of the imageio-ffmpeg wheel): `poster.jpg` from about 1 s in (the first
  frame of shorter clips), a square `thumb.jpg`, and `h264.mp4` (libx264 crf 28 veryfast,
  at most 1280 wide, even dimensions, AAC audio when present, +faststart, no metadata).

The upload moves pending -> processing -> ready (kind, width, height, processed_at). A
corrupt or unsupported file, a missing file or a path outside the media root ends as
`failed` with `failure_reason` and the run fails at once, without retries.

- **Owner:** social
- **Reads:** connection `social_db` (`social.media_uploads`); the original under the media
  root; variables `social_media_root` (default `<repo>/.state/media`), `social_image_widths`
  (JSON list, default `[320, 640, 1280]`), `social_thumbnail_size` (default 256)
- **Writes:** `<media_root>/variants/<media_id>/`, `social.media_variants`,
  `social.media_uploads` (status, kind, width, height, size_bytes, failure_reason, processed_at)
- **Triage:** safe to clear and re-run: the variants are rendered into a staging folder and
  swapped in, and their rows are deleted and inserted in one transaction, so a rerun replaces
  them (and drops stale ones). A `failed` upload is the file's fault: read `failure_reason`,
  fix or replace the file, then trigger again. A retrying run (database down, disk full,
  media root missing) leaves the upload `processing` until a try succeeds.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from include.orchestration.defaults import dag_settings
from include.orchestration.params import id_param

# Uploads are independent and guarded by a per-upload lock, so runs for different uploads
# go in parallel (the shared default of one active run would queue every upload behind one).
MAX_PARALLEL_UPLOADS = 16


@dag(schedule=None,
     params={"media_id": id_param("id in social.media_uploads")},
     **dag_settings("social", queue="media", cron=None, execution_timeout=timedelta(minutes=30),
                    max_active_runs=MAX_PARALLEL_UPLOADS),
     doc_md=__doc__)
def social_process_media_upload():
    @task
    def process_upload() -> dict:
        from pathlib import Path

        from airflow.sdk import get_current_context

        from include.orchestration import connections, variables
        from include.social.media.model import MediaSettings
        from include.social.media.process import process_upload as process
        from include.social.media.storage import default_media_root

        # A corrupt file or an unknown id (UnprocessableMedia, MediaNotFound) is permanent:
        # the error policy fails the task at once; a busy upload (MediaBusy) is retried.
        media_id = get_current_context()["params"]["media_id"]
        settings = MediaSettings(
            widths=variables.get_list("social_image_widths", [320, 640, 1280], item=int, min_items=1),
            thumbnail_size=variables.get_int("social_thumbnail_size", 256, minimum=16, maximum=4096),
        )
        media_root = Path(variables.get_str("social_media_root", str(default_media_root())))
        return process(connections.app_db("social"), media_id, media_root, settings)

    process_upload()


social_process_media_upload()
