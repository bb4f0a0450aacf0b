"""The report's inline SVG charts: well-formed, bars scaled to the peak, gaps for days
without stats, labels escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date

import pytest

from include.videos.report_chart import bar_chart_svg, sparkline_svg

NS = {"svg": "http://www.w3.org/2000/svg"}


def test_bar_chart_scales_bars_to_the_peak():
    values = [100, None, 400, 0, 200]
    svg = bar_chart_svg(values, date(2026, 5, 28), title="Daily views <yours> & co", width=500, height=140)
    root = ET.fromstring(svg)
    assert root.get("width") == "500" and root.get("aria-label") == "Daily views <yours> & co"
    bars = root.findall("svg:rect", NS)
    assert [bar.find("svg:title", NS).text for bar in bars] == ["2026-05-28: 100", "2026-05-30: 400",
                                                               "2026-06-01: 200"]
    heights = [float(bar.get("height")) for bar in bars]
    plot = 140 - 18 - 18
    assert heights == [plot / 4, plot, plot / 2]
    for bar, height in zip(bars, heights, strict=True):  # bars stand on the baseline
        assert float(bar.get("y")) + height == pytest.approx(18 + plot, abs=0.1)
    labels = [t.text for t in root.findall("svg:text", NS)]
    assert labels == ["max 400 views/day", "2026-05-28", "2026-06-01"]


def test_bar_chart_without_views_draws_no_bars():
    root = ET.fromstring(bar_chart_svg([None, 0, None], date(2026, 6, 1), title="nothing"))
    assert root.findall("svg:rect", NS) == []
    with pytest.raises(ValueError):
        bar_chart_svg([], date(2026, 6, 1), title="empty")


def test_sparkline_breaks_at_missing_days_and_spans_min_to_max():
    root = ET.fromstring(sparkline_svg([10, 20, None, 30, 40, None, 5], width=100, height=20))
    lines = root.findall("svg:polyline", NS)
    dots = root.findall("svg:circle", NS)
    assert len(lines) == 2 and len(dots) == 1  # [10, 20], [30, 40], then the lone 5
    ys = [float(p.split(",")[1]) for line in lines for p in line.get("points").split()] + [float(dots[0].get("cy"))]
    assert max(ys) == 18 and min(ys) == 2  # 5 at the bottom, 40 at the top (2 px padding)


def test_flat_sparkline_is_a_middle_line():
    root = ET.fromstring(sparkline_svg([7, 7, 7], width=60, height=20))
    [line] = root.findall("svg:polyline", NS)
    assert {p.split(",")[1] for p in line.get("points").split()} == {"10"}
