"""Charts for emails, as PNG bytes: the shared way to put a chart in a report email.

Big mail clients (Gmail, Outlook) strip inline SVG, so a chart is a PNG sent as an inline MIME
part (`include.common.email.inline_png` gives it a Content-ID; the template shows it with
`<img src="cid:...">`) and its numbers go in the text part too.

matplotlib is imported inside the functions (it costs ~0.3 s and is only needed by the report
jobs). Each chart is drawn on its own `Figure` with an explicit Agg canvas: no pyplot, no
global backend switch, no rcParams changed (fonts are set per text), so report threads can
draw at once. Output is deterministic for the same
input and matplotlib version: DejaVu Sans (bundled with matplotlib, so present everywhere),
no timestamp or software name in the PNG (Pillow writes it). Charts are drawn at 2x their CSS size so
they stay sharp on high-density screens; keep the `<img>` width/height at the CSS size.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, timedelta

BAR_COLOUR = "#3e7bfa"
GRID_COLOUR = "#e4e7eb"
TEXT_COLOUR = "#1f2933"
MUTED = "#7b8794"
SCALE = 2  # pixels per CSS pixel
FONT = "DejaVu Sans"
PERIOD_NAMES = {1: "day", 7: "week"}  # bar_chart_png's period_days
PNG_COMPRESS_LEVEL = 6  # zlib; `optimize` made the PNG 3% smaller for 4x the encode time


def _fmt_int(value: float) -> str:
    return f"{value:,.0f}"


def _canvas(width_px: int, height_px: int):
    """A white figure of `width_px` x `height_px` CSS pixels on its own Agg canvas. Charts
    draw straight on the figure in figure coordinates (0..1): an Axes (ticks, spines,
    autoscaling) cost more than the whole drawing and none of it shows."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if width_px < 40 or height_px < 16:
        raise ValueError(f"a chart needs at least 40 x 16 px, got {width_px} x {height_px}")
    dpi = 100
    fig = Figure(figsize=(width_px * SCALE / dpi, height_px * SCALE / dpi), dpi=dpi, facecolor="white")
    return fig, FigureCanvasAgg(fig)


def _png(canvas) -> bytes:
    """The canvas as an RGB PNG written by Pillow: no text chunks (no software name, no
    date), so equal input gives equal bytes."""
    from PIL import Image

    canvas.draw()
    image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    out = io.BytesIO()
    image.convert("RGB").save(out, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return out.getvalue()


def bar_chart_png(values: Sequence[float | None], first_day: date, *, title: str, unit: str = "views",
                  width_px: int = 560, height_px: int = 180, period_days: int = 1) -> bytes:
    """Daily bars of `values` (one per day from `first_day`; None = no data, no bar), scaled
    to the largest, with the peak and the first and last day labelled. `title` is drawn at
    the top left; `unit` names the peak ("max 1,350 views/day"). `period_days=7` draws one
    bar per week (each labelled by its first day; the peak reads "/week")."""
    from matplotlib.collections import PolyCollection
    from matplotlib.lines import Line2D

    if not values:
        raise ValueError("a bar chart needs at least one value")
    if any(v is not None and v < 0 for v in values):
        raise ValueError("a bar chart of daily counts takes no negative values")
    if period_days not in PERIOD_NAMES:
        raise ValueError(f"period_days must be one of {sorted(PERIOD_NAMES)}, got {period_days!r}")
    peak = max((v for v in values if v is not None), default=0)
    last_day = first_day + timedelta(days=(len(values) - 1) * period_days)
    left, right, bottom, top = 0.01, 0.99, 0.16, 0.80  # the plot area, in figure coordinates
    slot = (right - left) / len(values)
    bar = slot * 0.72
    bars = []
    for i, value in enumerate(values):
        if value and peak > 0:
            x, height = left + i * slot + (slot - bar) / 2, (top - bottom) * value / peak
            bars.append([(x, bottom), (x + bar, bottom), (x + bar, bottom + height), (x, bottom + height)])
    fig, canvas = _canvas(width_px, height_px)
    fig.add_artist(PolyCollection(bars, facecolors=BAR_COLOUR, linewidths=0, transform=fig.transFigure))
    fig.add_artist(Line2D([left, right], [bottom, bottom], color=GRID_COLOUR, linewidth=SCALE,
                          transform=fig.transFigure))
    label = {"fontfamily": FONT, "fontsize": 9 * SCALE, "color": MUTED}
    fig.text(0.01, 0.97, title, ha="left", va="top", **{**label, "color": TEXT_COLOUR, "fontsize": 10 * SCALE})
    fig.text(0.99, 0.97, f"max {_fmt_int(peak)} {unit}/{PERIOD_NAMES[period_days]}", ha="right", va="top", **label)
    fig.text(0.01, 0.03, first_day.isoformat(), ha="left", va="bottom", **label)
    fig.text(0.99, 0.03, last_day.isoformat(), ha="right", va="bottom", **label)
    return _png(canvas)


def sparkline_png(values: Sequence[float | None], *, width_px: int = 120, height_px: int = 28) -> bytes:
    """A line through `values`, scaled between their min and max (a flat series is drawn
    across the middle); None breaks the line, a lone point is a dot."""
    from matplotlib.lines import Line2D

    if not values:
        raise ValueError("a sparkline needs at least one value")
    known = [v for v in values if v is not None]
    low, high = (min(known), max(known)) if known else (0, 0)
    left, right, bottom, top = 0.03, 0.97, 0.12, 0.88
    step = (right - left) / max(len(values) - 1, 1)

    def y(v: float) -> float:
        return 0.5 if high == low else bottom + (top - bottom) * (v - low) / (high - low)

    segments: list[list[tuple[float, float]]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            segments.append([])
        else:
            segments[-1].append((left + i * step, y(value)))
    fig, canvas = _canvas(width_px, height_px)
    for points in filter(None, segments):
        xs, ys = zip(*points, strict=True)
        lone = len(points) == 1
        fig.add_artist(Line2D(xs, ys, color=BAR_COLOUR, linewidth=1.5 * SCALE, solid_capstyle="round",
                              marker="o" if lone else None, markersize=2 * SCALE, transform=fig.transFigure))
    return _png(canvas)
