"""SQL of media processing: `social.media_uploads` status and `social.media_variants`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg

if TYPE_CHECKING:
    from include.social.media.model import Variant

# A 64-bit advisory lock key per upload, from a hash of a name: bigint ids do not fit the
# two-int form, and a bare id would collide with other jobs' bigint locks on their own ids.
LOCK_KEY = "hashtextextended('social.media_uploads:' || %s::bigint, 0)"


@dataclass(frozen=True)
class Upload:
    id: int
    original_path: str


def try_lock(conn: psycopg.Connection, media_id: int) -> bool:
    """A session-level lock held while the upload is processed (released with the
    connection, so a killed worker does not leave it behind)."""
    return conn.execute(f"SELECT pg_try_advisory_lock({LOCK_KEY})", (media_id,)).fetchone()[0]


def start_processing(conn: psycopg.Connection, media_id: int) -> Upload | None:
    """pending (or ready/failed, on a rerun) -> processing; None for an unknown id."""
    row = conn.execute(
        """
        UPDATE social.media_uploads SET status = 'processing', failure_reason = NULL
         WHERE id = %s
        RETURNING id, original_path
        """,
        (media_id,),
    ).fetchone()
    return Upload(*row) if row else None


def record_failure(conn: psycopg.Connection, media_id: int, kind: str | None, reason: str) -> None:
    """status failed with the reason; variants of an earlier run are dropped with it, since a
    failed upload has nothing to show."""
    conn.execute("DELETE FROM social.media_variants WHERE media_id = %s", (media_id,))
    conn.execute(
        """
        UPDATE social.media_uploads
           SET status = 'failed', failure_reason = %s, kind = %s, width = NULL, height = NULL,
               processed_at = now()
         WHERE id = %s
        """,
        (reason, kind, media_id),
    )


def record_ready(conn: psycopg.Connection, media_id: int, *, kind: str, width: int, height: int,
                 size_bytes: int, variants: list[tuple[str, Variant]]) -> None:
    """Replace the upload's variants (delete-and-insert, one INSERT for all) and mark it
    ready; `variants` pairs each variant with its path relative to the media root. Run it in
    one transaction."""
    conn.execute("DELETE FROM social.media_variants WHERE media_id = %s", (media_id,))
    conn.execute(
        """
        INSERT INTO social.media_variants (media_id, variant, path, format, width, height, size_bytes)
        SELECT %s, v.* FROM unnest(%s::text[], %s::text[], %s::text[], %s::int[], %s::int[], %s::bigint[])
                              AS v(variant, path, format, width, height, size_bytes)
        """,
        (media_id, [v.name for _, v in variants], [p for p, _ in variants], [v.format for _, v in variants],
         [v.width for _, v in variants], [v.height for _, v in variants], [v.size_bytes for _, v in variants]),
    )
    conn.execute(
        """
        UPDATE social.media_uploads
           SET status = 'ready', failure_reason = NULL, kind = %s, width = %s, height = %s,
               size_bytes = %s, processed_at = now()
         WHERE id = %s
        """,
        (kind, width, height, size_bytes, media_id),
    )
