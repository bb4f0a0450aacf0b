"""Small inline SVG charts for the daily report email: a bar chart of a creator's daily
views and a sparkline per video. Inline SVG, so no image host and no attachment; text in
it is XML-escaped. A day without stats (None) draws no bar and breaks the sparkline.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from xml.sax.saxutils import escape, quoteattr

BAR_COLOUR = "#3e7bfa"
LINE_COLOUR = "#3e7bfa"
MUTED = "#7b8794"


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def bar_chart_svg(values: Sequence[int | None], first_day: date, *, title: str,
                  width: int = 560, height: int = 140) -> str:
    """Bars of `values` (one per day from `first_day`), scaled to the largest, with the
    largest value and the first and last day as labels."""
    if not values:
        raise ValueError("a bar chart needs at least one value")
    top, bottom = 18, 18  # room for the max label and the day labels
    plot = height - top - bottom
    peak = max((v for v in values if v is not None), default=0)
    slot = width / len(values)
    bar = max(slot * 0.7, 1.0)
    last_day = first_day + timedelta(days=len(values) - 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label={quoteattr(title)}>',
        f"<title>{escape(title)}</title>",
        f'<line x1="0" y1="{top + plot}" x2="{width}" y2="{top + plot}" stroke="#e4e7eb" stroke-width="1"/>',
    ]
    for i, value in enumerate(values):
        if not value or peak <= 0:
            continue
        h = max(plot * value / peak, 1.0)
        x = i * slot + (slot - bar) / 2
        day = first_day + timedelta(days=i)
        parts.append(f'<rect x="{_fmt(x)}" y="{_fmt(top + plot - h)}" width="{_fmt(bar)}" height="{_fmt(h)}" '
                     f'fill="{BAR_COLOUR}"><title>{day.isoformat()}: {value:,}</title></rect>')
    parts += [
        f'<text x="0" y="12" font-size="11" fill="{MUTED}" font-family="Helvetica,Arial,sans-serif">'
        f"max {peak:,} views/day</text>",
        f'<text x="0" y="{height - 4}" font-size="11" fill="{MUTED}" '
        f'font-family="Helvetica,Arial,sans-serif">{first_day.isoformat()}</text>',
        f'<text x="{width}" y="{height - 4}" font-size="11" fill="{MUTED}" text-anchor="end" '
        f'font-family="Helvetica,Arial,sans-serif">{last_day.isoformat()}</text>',
        "</svg>",
    ]
    return "".join(parts)


def sparkline_svg(values: Sequence[int | None], *, width: int = 120, height: int = 28) -> str:
    """A line through `values`, scaled between their min and max; None breaks the line."""
    if not values:
        raise ValueError("a sparkline needs at least one value")
    known = [v for v in values if v is not None]
    low, high = (min(known), max(known)) if known else (0, 0)
    span = high - low
    pad = 2
    step = (width - 2 * pad) / max(len(values) - 1, 1)

    def y(v: int) -> float:  # a flat series is drawn across the middle
        return height / 2 if span == 0 else pad + (height - 2 * pad) * (high - v) / span

    segments: list[list[str]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            segments.append([])
        else:
            segments[-1].append(f"{_fmt(pad + i * step)},{_fmt(y(value))}")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="daily views">']
    for points in segments:
        if len(points) == 1:
            x, y0 = points[0].split(",")
            parts.append(f'<circle cx="{x}" cy="{y0}" r="1.5" fill="{LINE_COLOUR}"/>')
        elif points:
            parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{LINE_COLOUR}" '
                         f'stroke-width="1.5"/>')
    parts.append("</svg>")
    return "".join(parts)
