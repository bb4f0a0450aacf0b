"""PNG charts for emails (include/common/charts.py) and how they ride in a message: inline
images checked against the HTML at enqueue, sent as a multipart/related inside the
multipart/alternative, with a Content-ID the HTML's cid: link names."""

from __future__ import annotations

import base64
import email
import io
from datetime import date
from email import policy
from types import SimpleNamespace

import pytest
from PIL import Image

from include.common.charts import bar_chart_png, sparkline_png
from include.common.email import (
    INLINE_IMAGES_KEY,
    InlineImage,
    build_message,
    inline_images_of,
    inline_images_payload,
    inline_png,
)

MAX_PNG_BYTES = 60 * 1024  # what a report email can afford per chart
THIRTY_DAYS = [500] * 22 + [900, 1100, None, 950, 1050, 0, 1000, 1250]


def pixels(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image.convert("RGB")


def blue_columns(image: Image.Image) -> list[int]:
    """x positions (at the chart's bottom band) painted in the bar colour."""
    y = int(image.height * 0.75)
    return [x for x in range(image.width) if _is_bar_blue(image.getpixel((x, y)))]


def _is_bar_blue(rgb: tuple[int, int, int]) -> bool:
    r, g, b = rgb
    return b > 200 and r < 120 and 90 < g < 160


def test_bar_chart_is_a_small_deterministic_png_at_twice_the_css_size():
    png = bar_chart_png(THIRTY_DAYS, date(2026, 5, 12), title="Daily views, 2026-05-12 to 2026-06-10")
    assert len(png) < MAX_PNG_BYTES, len(png)
    assert bar_chart_png(THIRTY_DAYS, date(2026, 5, 12), title="Daily views, 2026-05-12 to 2026-06-10") == png
    assert b"matplotlib" not in png.lower()  # no software/version chunk
    image = pixels(png)
    assert image.size == (1120, 360)
    # a day with no data (None) and a day with 0 views draw no bar: 28 bars of 30 slots
    columns = blue_columns(image)
    runs = sum(1 for i, x in enumerate(columns) if i == 0 or x != columns[i - 1] + 1)
    assert runs == 28
    assert bar_chart_png(THIRTY_DAYS, date(2026, 5, 13), title="Daily views, 2026-05-12 to 2026-06-10") != png


def test_bar_chart_rejects_what_it_cannot_draw():
    with pytest.raises(ValueError, match="at least one value"):
        bar_chart_png([], date(2026, 6, 1), title="empty")
    with pytest.raises(ValueError, match="negative"):
        bar_chart_png([3, -1], date(2026, 6, 1), title="refunds")
    nothing = pixels(bar_chart_png([None, 0, None], date(2026, 6, 1), title="nothing yet"))
    assert blue_columns(nothing) == []


def test_sparkline_breaks_at_missing_days():
    png = sparkline_png([10, 20, None, 30, 40, None, 5], width_px=100, height_px=20)
    assert len(png) < MAX_PNG_BYTES
    image = pixels(png)
    assert image.size == (200, 40)
    blue = {x for x in range(image.width) for y in range(image.height) if _is_bar_blue(image.getpixel((x, y)))}
    gaps = [x for x in range(min(blue), max(blue)) if x not in blue]
    assert len(gaps) > 10  # two breaks (the None days), not one unbroken line
    flat = pixels(sparkline_png([7, 7, 7], width_px=60, height_px=20))
    rows = {y for x in range(flat.width) for y in range(flat.height) if _is_bar_blue(flat.getpixel((x, y)))}
    assert abs((min(rows) + max(rows)) / 2 - flat.height / 2) <= 2  # drawn across the middle


def test_inline_png_names_its_content():
    png = sparkline_png([1, 2, 3])
    image = inline_png("views-30d", png)
    assert image.mime == "image/png" and image.data == png
    assert image.cid.startswith("views-30d.") and image.cid.endswith("@jobyard")
    assert inline_png("views-30d", png) == image
    assert inline_png("views-30d", sparkline_png([3, 2, 1])).cid != image.cid
    with pytest.raises(ValueError, match="not a PNG"):
        inline_png("chart", b"GIF89a...")
    with pytest.raises(ValueError, match="name"):
        inline_png("Chart One", png)


def test_payload_must_match_the_html_cid_links():
    image = inline_png("chart", sparkline_png([1, 2, 3]))
    html = f'<p>chart</p><img src="cid:{image.cid}" alt="x">'
    payload = inline_images_payload((image,), html, "msg")
    assert base64.b64decode(payload[INLINE_IMAGES_KEY][image.cid]["data"]) == image.data
    assert inline_images_of(payload) == [image]
    assert inline_images_of(None) == [] and inline_images_of({"data": {"k": "v"}}) == []
    with pytest.raises(ValueError, match="not referenced"):
        inline_images_payload((image,), "<p>no image</p>", "msg")
    with pytest.raises(ValueError, match="without an image"):
        inline_images_payload((image,), html + '<img src="cid:other@jobyard">', "msg")
    with pytest.raises(ValueError, match="HTML body"):
        inline_images_payload((image,), None, "msg")
    with pytest.raises(ValueError, match="more than"):
        big = InlineImage("big@jobyard", "image/png", b"\x89PNG\r\n\x1a\n" + bytes(600_000))
        inline_images_payload((big,), '<img src="cid:big@jobyard">', "msg")
    with pytest.raises(ValueError, match="malformed"):
        inline_images_of({INLINE_IMAGES_KEY: {"x@jobyard": {"mime": "image/png", "data": "not base64!"}}})


def test_message_with_an_inline_image_is_related_inside_alternative():
    image = inline_png("views-30d", bar_chart_png([1, 5, 3], date(2026, 6, 1), title="t"))
    html = f'<p>Hi</p><img src="cid:{image.cid}" alt="chart">'
    row = SimpleNamespace(domain="videos", recipient="ada@creators.test", subject="Your videos", dedupe_key="k:1",
                          body_text="Hi\n2026-06-01  1\n", body_html=html,
                          payload=inline_images_payload((image,), html, "k:1"))
    parsed = email.message_from_bytes(build_message(row, "jobyard@localhost").as_bytes(), policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    text, related = parsed.get_payload()
    assert text.get_content_type() == "text/plain" and "2026-06-01  1" in text.get_content()
    assert related.get_content_type() == "multipart/related" and related.get_param("type") == "text/html"
    body, png = related.get_payload()
    assert body.get_content_type() == "text/html" and f"cid:{image.cid}" in body.get_content()
    assert png.get_content_type() == "image/png" and png["Content-ID"] == f"<{image.cid}>"
    assert png.get_content_disposition() == "inline" and png.get_content() == image.data
    assert parsed.get_body(preferencelist=("html",)).get_content() == body.get_content()

    plain = SimpleNamespace(**{**vars(row), "payload": None})
    parsed = email.message_from_bytes(build_message(plain, "jobyard@localhost").as_bytes(), policy=policy.default)
    assert [p.get_content_type() for p in parsed.get_payload()] == ["text/plain", "text/html"]
