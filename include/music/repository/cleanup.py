"""SQL of the music cleanup (include/music/cleanup.py): bounded range deletes of chart
rankings (per chart, by ranking date, on the primary key) and of audience rows (walking the
primary key). Each function runs at most two short statements and leaves the commit to the
caller."""

from __future__ import annotations

from datetime import date, datetime

import psycopg


def chart_ids(conn: psycopg.Connection) -> list[int]:
    """Every chart (rankings reference music.charts), by id."""
    return [row[0] for row in conn.execute("SELECT id FROM music.charts ORDER BY id")]


def delete_rankings(conn: psycopg.Connection, chart_id: int, after: datetime | None, before: datetime,
                    limit: int) -> tuple[int, datetime | None]:
    """Delete the chart's rankings with `after` <= ranking_date < `before`, at most `limit`
    rows, in whole dates (a date with more positions than `limit` is one batch of its own).
    Returns (deleted, the date the next batch starts at, None when the chart is done).

    Both statements are range scans of the primary key (chart_id, ranking_date, position)
    starting at `after`, so no batch walks the dead entries of the ones before it."""
    bound = conn.execute("""
        SELECT ranking_date FROM music.chart_rankings
         WHERE chart_id = %(chart)s AND ranking_date >= %(after)s AND ranking_date < %(before)s
         ORDER BY ranking_date, position OFFSET %(limit)s LIMIT 1""",
                         {"chart": chart_id, "after": after or "-infinity", "before": before,
                          "limit": limit}).fetchone()
    upto = bound[0] if bound else before
    if bound:
        first = after if after is not None else conn.execute(
            "SELECT min(ranking_date) FROM music.chart_rankings WHERE chart_id = %s AND ranking_date < %s",
            (chart_id, before)).fetchone()[0]
        if upto == first:  # one date with more than `limit` positions: it is the batch, whole
            upto = conn.execute("""
                SELECT min(ranking_date) FROM music.chart_rankings
                 WHERE chart_id = %s AND ranking_date > %s AND ranking_date < %s""",
                                (chart_id, first, before)).fetchone()[0] or before
    deleted = conn.execute("""
        DELETE FROM music.chart_rankings
         WHERE chart_id = %(chart)s AND ranking_date >= %(after)s AND ranking_date < %(upto)s""",
                           {"chart": chart_id, "after": after or "-infinity", "upto": upto}).rowcount
    return deleted, (upto if upto < before else None)


AudienceKey = tuple[int, str, date]


def delete_audience(conn: psycopg.Connection, after: AudienceKey | None, before: date,
                    limit: int) -> tuple[int, AudienceKey | None]:
    """Delete, walking the primary key (track_id, platform, day) from `after` (exclusive), the
    rows with day < `before` among the next `limit` such rows. Returns (deleted, the last key
    of the batch = where the next one starts, None when done). The recent rows between two
    tracks' old ones are only read, once per run."""
    params = {"t": after[0] if after else -(2**63), "p": after[1] if after else "", "d": after[2] if after
              else date.min, "before": before, "limit": limit}
    bound = conn.execute("""
        SELECT track_id, platform, day FROM music.track_audience
         WHERE (track_id, platform, day) > (%(t)s, %(p)s, %(d)s) AND day < %(before)s
         ORDER BY track_id, platform, day OFFSET %(limit)s - 1 LIMIT 1""", params).fetchone()
    upto = "AND (track_id, platform, day) <= (%(ut)s, %(up)s, %(ud)s)" if bound else ""
    if bound:
        params.update(ut=bound[0], up=bound[1], ud=bound[2])
    deleted = conn.execute(f"""
        DELETE FROM music.track_audience
         WHERE (track_id, platform, day) > (%(t)s, %(p)s, %(d)s) {upto} AND day < %(before)s""", params).rowcount
    return deleted, (tuple(bound) if bound else None)
