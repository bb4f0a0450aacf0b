"""Charts for emails, as PNG bytes: the shared way to put a chart in a report email.

Big mail clients (Gmail, Outlook) strip inline SVG, so a chart is a PNG sent as an inline MIME
part (`include.common.email.inline_png` gives it a Content-ID; the template shows it with
`<img src="cid:...">`) and its numbers go in the text part too.

matplotlib is imported inside the functions (it costs ~0.3 s and is only needed by the report
jobs). Each chart is drawn on its own `Figure` with an explicit Agg canvas: no pyplot, no
global backend switch, nothing shared between threads. Output is deterministic for the same
input and matplotlib version: DejaVu Sans (bundled with matplotlib, so present everywhere),
no timestamp or software name in the PNG metadata. Charts are drawn at 2x their CSS size so
they stay sharp on high-density screens; keep the `<img>` width/height at the CSS size.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, timedelta

BAR_COLOUR = "#3e7bfa"
GRID_COLOUR = "#e4e7eb"
MUTED = "#7b8794"
SCALE = 2  # pixels per CSS pixel
FONT = "DejaVu Sans"


def _fmt_int(value: float) -> str:
    return f"{value:,.0f}"


def _figure(width_px: int, height_px: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if width_px < 40 or height_px < 16:
        raise ValueError(f"a chart needs at least 40 x 16 px, got {width_px} x {height_px}")
    dpi = 100
    fig = Figure(figsize=(width_px * SCALE / dpi, height_px * SCALE / dpi), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    out = io.BytesIO()
    # Software=None: no "matplotlib version x" chunk, so equal input gives equal bytes.
    fig.savefig(out, format="png", dpi=fig.dpi, facecolor="white", metadata={"Software": None},
                pil_kwargs={"optimize": True})
    return out.getvalue()


def bar_chart_png(values: Sequence[float | None], first_day: date, *, title: str, unit: str = "views",
                  width_px: int = 560, height_px: int = 180) -> bytes:
    """Daily bars of `values` (one per day from `first_day`; None = no data, no bar), scaled
    to the largest, with the peak and the first and last day labelled. `title` is drawn at
    the top left; `unit` names the peak ("max 1,350 views/day")."""
    from matplotlib import rc_context

    if not values:
        raise ValueError("a bar chart needs at least one value")
    if any(v is not None and v < 0 for v in values):
        raise ValueError("a bar chart of daily counts takes no negative values")
    known = [v for v in values if v is not None]
    peak = max(known, default=0)
    last_day = first_day + timedelta(days=len(values) - 1)
    with rc_context({"font.family": FONT, "font.size": 9 * SCALE}):
        fig = _figure(width_px, height_px)
        ax = fig.add_axes((0.01, 0.16, 0.98, 0.64))
        xs = range(len(values))
        ax.bar(xs, [v or 0 for v in values], width=0.72, color=BAR_COLOUR, linewidth=0)
        ax.set_xlim(-0.6, len(values) - 0.4)
        ax.set_ylim(0, peak * 1.04 if peak > 0 else 1)
        ax.axhline(0, color=GRID_COLOUR, linewidth=SCALE)
        ax.set_axis_off()
        fig.text(0.01, 0.97, title, ha="left", va="top", color="#1f2933", fontsize=10 * SCALE)
        fig.text(0.99, 0.97, f"max {_fmt_int(peak)} {unit}/day", ha="right", va="top", color=MUTED)
        fig.text(0.01, 0.03, first_day.isoformat(), ha="left", va="bottom", color=MUTED)
        fig.text(0.99, 0.03, last_day.isoformat(), ha="right", va="bottom", color=MUTED)
        return _png(fig)


def sparkline_png(values: Sequence[float | None], *, width_px: int = 120, height_px: int = 28) -> bytes:
    """A line through `values`, scaled between their min and max (a flat series is drawn
    across the middle); None breaks the line, a lone point is a dot."""
    from matplotlib import rc_context

    if not values:
        raise ValueError("a sparkline needs at least one value")
    known = [v for v in values if v is not None]
    low, high = (min(known), max(known)) if known else (0, 0)
    with rc_context({"font.family": FONT}):
        fig = _figure(width_px, height_px)
        ax = fig.add_axes((0.02, 0.1, 0.96, 0.8))
        ys = [float("nan") if v is None else float(v) for v in values]  # NaN breaks the line
        ax.plot(range(len(values)), ys, color=BAR_COLOUR, linewidth=1.5 * SCALE, solid_capstyle="round")
        for i, v in enumerate(values):  # points with no neighbour draw no line segment: a dot
            alone = (i == 0 or values[i - 1] is None) and (i == len(values) - 1 or values[i + 1] is None)
            if v is not None and alone:
                ax.plot([i], [v], marker="o", markersize=2 * SCALE, color=BAR_COLOUR, linewidth=0)
        ax.set_xlim(-0.5, max(len(values) - 0.5, 0.5))
        pad = (high - low) * 0.08 if high > low else 1
        ax.set_ylim(low - pad, high + pad)
        ax.set_axis_off()
        return _png(fig)
