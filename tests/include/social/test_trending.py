"""update_trending against PostgreSQL with hand-built hashtag uses whose scores are known."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from include.social.trending import update_trending

END = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)

# Ages (hours before END) of each tag's uses. Half-life 24 h: a use aged 24 h counts 0.5.
USES = {
    "alpha": [12, 24, 48],              # 2^-0.5 + 0.5 + 0.25
    "bravo": [24, 24, 24],              # 1.5
    "charlie": [24, 24, 24],            # 1.5, a tie with bravo: bravo ranks first by tag
    "delta": [1, 2],                    # highest score but 2 uses < min_uses 3: left out
    "echo": [100, 150, 168, 169],       # 168 h is the window's first instant (in), 169 h is out
    "foxtrot": [0, -1, 24],             # at or after END is outside: 1 use counts
}


def decay(*ages: float) -> float:
    return sum(2 ** (-age / 24) for age in ages)


@pytest.fixture
def conn(social_db):
    with psycopg.connect(social_db) as conn:
        conn.execute("TRUNCATE social.users, social.hashtags CASCADE")
        conn.commit()
        yield conn


def add_uses(conn, uses: dict[str, list[float]], end: datetime = END) -> None:
    """One post per use, by one author, with the tag linked at the post's time."""
    author = conn.execute(
        "INSERT INTO social.users (email, username) VALUES (%s, %s) "
        "ON CONFLICT (email) DO UPDATE SET username = EXCLUDED.username RETURNING id",
        ("trend@example.com", "trend")).fetchone()[0]
    for tag, ages in uses.items():
        tag_id = conn.execute(
            "INSERT INTO social.hashtags (tag) VALUES (%s) ON CONFLICT (tag) DO UPDATE SET tag = EXCLUDED.tag "
            "RETURNING id", (tag,)).fetchone()[0]
        for age in ages:
            at = end - timedelta(hours=age)
            post = conn.execute("INSERT INTO social.posts (author_id, created_at) VALUES (%s, %s) RETURNING id",
                                (author, at)).fetchone()[0]
            conn.execute("INSERT INTO social.post_hashtags (post_id, hashtag_id, created_at) VALUES (%s, %s, %s)",
                         (post, tag_id, at))
    conn.commit()


def ranking(conn, end: datetime) -> list[tuple]:
    return conn.execute(
        "SELECT t.rank, h.tag, t.score, t.uses_7d FROM social.trending_hashtags t "
        "JOIN social.hashtags h ON h.id = t.hashtag_id WHERE t.interval_end = %s ORDER BY t.rank",
        (end,)).fetchall()


def marks(conn) -> dict[str, tuple]:
    rows = conn.execute(
        "SELECT tag, is_trending, trending_rank, trending_score, trending_updated_at, xmin::text::bigint "
        "FROM social.hashtags ORDER BY tag").fetchall()
    return {r[0]: r[1:] for r in rows}


def test_ranks_by_decayed_score_with_min_uses_window_and_tie_by_tag(conn):
    add_uses(conn, USES)
    result = update_trending(conn, END, half_life_hours=24, min_uses=3, top_n=3)

    assert result == {"interval_end": END.isoformat(), "hashtags_scored": 6, "trending": 3,
                      "marked": 3, "unmarked": 0, "marks_moved": True}
    rows = ranking(conn, END)
    assert [(r[0], r[1], r[3]) for r in rows] == [(1, "bravo", 3), (2, "charlie", 3), (3, "alpha", 3)]
    assert [r[2] for r in rows] == pytest.approx([1.5, 1.5, decay(12, 24, 48)], rel=1e-12)
    state = marks(conn)
    assert {tag: m[:3] for tag, m in state.items() if m[0]} == {
        "bravo": (True, 1, pytest.approx(1.5)), "charlie": (True, 2, pytest.approx(1.5)),
        "alpha": (True, 3, pytest.approx(decay(12, 24, 48)))}
    assert all(m[3] == END for m in state.values() if m[0])
    assert all(m[:4] == (False, None, None, None) for tag, m in state.items() if not m[0])


def test_top_n_and_half_life_and_window_edges(conn):
    add_uses(conn, USES)
    update_trending(conn, END, half_life_hours=48, min_uses=3, top_n=10)
    rows = ranking(conn, END)
    half = 48
    expected = {"alpha": sum(2 ** (-a / half) for a in (12, 24, 48)),
                "bravo": 3 * 2 ** (-24 / half), "charlie": 3 * 2 ** (-24 / half),
                "echo": sum(2 ** (-a / half) for a in (100, 150, 168))}
    assert [r[1] for r in rows] == ["bravo", "charlie", "alpha", "echo"]  # 2.121, 2.121, 2.048, ...
    assert {r[1]: r[2] for r in rows} == pytest.approx(expected, rel=1e-12)
    assert {r[1]: r[3] for r in rows}["echo"] == 3, "the 169 h old use is outside the window"


def test_rerun_writes_nothing(conn):
    add_uses(conn, USES)
    update_trending(conn, END, top_n=3)
    before_rows, before_marks = ranking(conn, END), marks(conn)
    again = update_trending(conn, END, top_n=3)
    assert again["marked"] == again["unmarked"] == 0
    assert ranking(conn, END) == before_rows
    assert marks(conn) == before_marks, "no hashtag row rewritten (same xmin)"


def test_next_interval_moves_marks_and_backfill_leaves_them(conn):
    add_uses(conn, USES)
    update_trending(conn, END, top_n=3)
    # An hour later delta gets its third use: it enters at rank 1, alpha drops out.
    add_uses(conn, {"delta": [0.5]}, end=END + HOUR)
    later = update_trending(conn, END + HOUR, top_n=3)
    assert [r[1] for r in ranking(conn, END + HOUR)] == ["delta", "bravo", "charlie"]
    assert later["marked"] == 3 and later["unmarked"] == 1, "all re-scored; alpha unmarked"
    current = marks(conn)
    assert current["alpha"][:4] == (False, None, None, END + HOUR)
    assert {t: m[1] for t, m in current.items() if m[0]} == {"delta": 1, "bravo": 2, "charlie": 3}

    # A backfill of the earlier interval rewrites its own ranking but not the marks.
    backfill = update_trending(conn, END, top_n=3)
    assert backfill == {"interval_end": END.isoformat(), "hashtags_scored": 6, "trending": 3,
                        "marked": 0, "unmarked": 0, "marks_moved": False}
    assert [r[1] for r in ranking(conn, END)] == ["bravo", "charlie", "alpha"]
    assert marks(conn) == current


def test_empty_window_unmarks_previous(conn):
    add_uses(conn, USES)
    update_trending(conn, END, top_n=3)
    week_later = END + timedelta(days=8)
    result = update_trending(conn, week_later, top_n=3)
    assert result == {"interval_end": week_later.isoformat(), "hashtags_scored": 0, "trending": 0,
                      "marked": 0, "unmarked": 3, "marks_moved": True}
    assert not any(m[0] for m in marks(conn).values())


@pytest.mark.parametrize("kwargs, message", [
    ({"half_life_hours": 0}, "half_life_hours"),
    ({"min_uses": 0}, "min_uses"),
    ({"top_n": 0}, "top_n"),
])
def test_bad_settings_are_rejected(conn, kwargs, message):
    with pytest.raises(ValueError, match=message):
        update_trending(conn, END, **kwargs)


def test_naive_interval_end_is_rejected(conn):
    with pytest.raises(ValueError, match="time-zone aware"):
        update_trending(conn, END.replace(tzinfo=None))
