"""Process one upload: detect its kind, render the variants, publish them and record the
outcome (`social.media_uploads` pending -> processing -> ready or failed).

Errors split by what a retry can change: `UnprocessableMedia` (the file's fault) is recorded
as status `failed` with the reason and re-raised for the caller to fail without retrying;
`MediaNotFound` for an unknown id; anything else (database down, disk full, media root
missing) propagates untouched, leaving the upload `processing` for the retry to redo.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import psycopg

from include.common.db import connect
from include.social.media import images, storage, videos
from include.social.media.detect import detect_kind
from include.social.media.errors import MediaBusy, MediaNotFound, UnprocessableMedia
from include.social.media.model import MediaSettings, Rendered
from include.social.repository import media as repo

log = logging.getLogger(__name__)


def process_upload(dsn: str, media_id: int, media_root: Path, settings: MediaSettings | None = None) -> dict:
    """Returns {media_id, kind, variants, bytes_in, bytes_out, duration_seconds}."""
    settings = settings or MediaSettings()
    storage.require_root(media_root)
    # Autocommit: the lock is held across the rendering without an open transaction; the
    # status changes and the variant swap each get an explicit one.
    with connect(dsn, autocommit=True, application_name="social_process_media_upload") as conn:
        if not repo.try_lock(conn, media_id):
            raise MediaBusy(f"media {media_id} is being processed by another run; retry later")
        upload = repo.start_processing(conn, media_id)
        if upload is None:
            raise MediaNotFound(f"no media upload with id {media_id} in social.media_uploads")
        staging = storage.new_staging(media_root, media_id)
        try:
            rendered, bytes_in = _render_or_record_failure(conn, media_id, upload, media_root, staging, settings)
            with conn.transaction():
                repo.record_ready(conn, media_id, kind=rendered.kind, width=rendered.width, height=rendered.height,
                                  size_bytes=bytes_in,
                                  variants=[(storage.variant_path(media_id, v.name), v) for v in rendered.variants])
                storage.publish(media_root, media_id, staging)  # inside: a failed swap rolls the rows back
        finally:
            if staging.exists():  # not published (failure, or an error before the swap)
                shutil.rmtree(staging)
    log.info("media %s: %s %dx%d, %d variants", media_id, rendered.kind, rendered.width, rendered.height,
             len(rendered.variants))
    return {
        "media_id": media_id,
        "kind": rendered.kind,
        "variants": [{"variant": v.name, "width": v.width, "height": v.height, "size_bytes": v.size_bytes}
                     for v in rendered.variants],
        "bytes_in": bytes_in,
        "bytes_out": sum(v.size_bytes for v in rendered.variants),
        "duration_seconds": rendered.duration_seconds,  # videos; the table has no column for it
    }


def _render_or_record_failure(conn: psycopg.Connection, media_id: int, upload: repo.Upload, media_root: Path,
                              staging: Path, settings: MediaSettings) -> tuple[Rendered, int]:
    """The rendered variants (in `staging`) and the original's size; a file that cannot be
    processed is recorded as failed before `UnprocessableMedia` goes up."""
    kind = None
    try:
        source = storage.resolve_original(media_root, upload.original_path)
        kind = detect_kind(source)
        return _render(kind, source, staging, settings), source.stat().st_size
    except UnprocessableMedia as err:
        log.warning("media %s (%s) failed: %s", media_id, upload.original_path, err)
        with conn.transaction():
            repo.record_failure(conn, media_id, kind, str(err))
            storage.remove_variants(media_root, media_id)
        raise


def _render(kind: str, source: Path, out_dir: Path, settings: MediaSettings) -> Rendered:
    if kind == "image":
        return images.render_image(source.read_bytes(), out_dir, settings)
    return videos.render_video(source, out_dir, settings)

