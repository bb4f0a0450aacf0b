"""Email charts (include/common/charts.py): PNGs per second, their size, and the cost they add
to a message, against the naive pyplot way.

In this process (so the cold start is measured, as a report task pays it once):

1. the first 30-day bar chart: matplotlib import, font load, first draw;
2. CHARTS 30-day bar charts of varied daily views (a creator's report chart), timed one by
   one: charts/s, p50/p95 ms, the largest PNG (must stay under 60 KB, what a report email
   can afford), and determinism (the same input again must give the same bytes);
3. CHARTS sparklines (120 x 28 px);
4. the naive baseline: the same bar chart through pyplot (`plt.figure` ... `savefig`,
   `plt.close`, default PNG settings), CHARTS // 2 times: charts/s and bytes;
5. the outbox's send-time cost of carrying the chart: `build_message` + serialisation of a
   report-sized message with the chart vs without, per message.

`JOBYARD_BENCH_CHARTS` sets CHARTS (default 300).
"""

from __future__ import annotations

import io
import os
import random
import time
from datetime import date
from types import SimpleNamespace

from bench._harness import main, percentile, rate, say

NAME = "common_charts"
CHARTS = int(os.environ.get("JOBYARD_BENCH_CHARTS", "300"))
MAX_PNG_BYTES = 60 * 1024
FIRST_DAY = date(2026, 5, 12)
TITLE = "Daily views of your videos, 2026-05-12 to 2026-06-10"
MESSAGES = 200


def series(rng: random.Random) -> list[int | None]:
    """30 days of views with a trend, noise, the odd day without stats."""
    base, slope = rng.randint(50, 50_000), rng.uniform(-0.03, 0.05)
    return [None if rng.random() < 0.05 else max(0, round(base * (1 + slope * day) * rng.uniform(0.7, 1.3)))
            for day in range(30)]


def timed(fn, inputs) -> tuple[list[float], list[bytes]]:
    times, outputs = [], []
    for item in inputs:
        started = time.perf_counter()
        outputs.append(fn(item))
        times.append(time.perf_counter() - started)
    return times, outputs


def pyplot_bar(values: list[int | None]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(11.2, 3.6), dpi=100)
    plt.bar(range(len(values)), [v or 0 for v in values], color="#3e7bfa")
    plt.title(TITLE)
    out = io.BytesIO()
    plt.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()


def message_cost(png: bytes) -> dict:
    from include.common.email import WIRE_POLICY, build_message, inline_images_payload, inline_png

    image = inline_png("views-30d", png)
    html = "<p>" + "Your report. " * 300 + f'</p><img src="cid:{image.cid}" width="560" height="180" alt="chart">'
    text = "Your report.\n" * 300
    with_chart = SimpleNamespace(domain="videos", recipient="ada@creators.test", subject="Your videos",
                                 dedupe_key="videos-report:1:2026-06-10", body_text=text, body_html=html,
                                 payload=inline_images_payload((image,), html, "bench"))
    without = SimpleNamespace(**{**vars(with_chart), "payload": None})
    result = {}
    for label, row in (("with_chart", with_chart), ("without_chart", without)):
        started = time.perf_counter()
        for _ in range(MESSAGES):
            wire = build_message(row, "jobyard@localhost").as_bytes(policy=WIRE_POLICY)
        result[label] = {"ms_per_message": (time.perf_counter() - started) * 1000 / MESSAGES, "bytes": len(wire)}
    return result


def run() -> dict:
    failures: list[str] = []
    rng = random.Random(20260610)
    inputs = [series(rng) for _ in range(CHARTS)]

    started = time.perf_counter()
    from include.common.charts import bar_chart_png, sparkline_png

    first = bar_chart_png(inputs[0], FIRST_DAY, title=TITLE)
    cold = time.perf_counter() - started
    say(f"first chart (import + fonts + draw) in {cold:.2f} s")

    bar_times, bars = timed(lambda v: bar_chart_png(v, FIRST_DAY, title=TITLE), inputs)
    total = sum(bar_times)
    say(f"{CHARTS} bar charts in {total:.1f} s")
    largest = max(len(png) for png in bars)
    if largest >= MAX_PNG_BYTES:
        failures.append(f"largest bar chart PNG is {largest:,} bytes, not under {MAX_PNG_BYTES:,}")
    if bars[0] != first or bar_chart_png(inputs[1], FIRST_DAY, title=TITLE) != bars[1]:
        failures.append("bar_chart_png is not deterministic: the same input gave different bytes")

    spark_times, sparks = timed(sparkline_png, inputs)
    naive_inputs = inputs[: max(CHARTS // 2, 1)]
    naive_times, naive = timed(pyplot_bar, naive_inputs)
    cost = message_cost(max(bars, key=len))

    bar_rate, naive_rate = rate(len(bars), total), rate(len(naive), sum(naive_times))
    summary = [
        ["first chart in a fresh process (import + fonts + draw)", round(cold, 2), "s"],
        ["30-day bar chart (1120 x 360 px)", round(bar_rate, 1), "charts/s"],
        ["bar chart p50 / p95", f"{percentile(bar_times, 50) * 1000:.0f} / {percentile(bar_times, 95) * 1000:.0f}",
         "ms"],
        ["bar chart PNG mean / largest", f"{sum(map(len, bars)) / len(bars) / 1024:.1f} / {largest / 1024:.1f}",
         "KB"],
        ["sparkline (240 x 56 px)", round(rate(len(sparks), sum(spark_times)), 1), "charts/s"],
        ["naive pyplot bar chart", round(naive_rate, 1), "charts/s"],
        ["naive pyplot PNG mean", round(sum(map(len, naive)) / len(naive) / 1024, 1), "KB"],
        ["charts.py / naive pyplot speed", round(bar_rate / naive_rate, 2), "x"],
        ["build + serialise a report message, with / without chart",
         f"{cost['with_chart']['ms_per_message']:.2f} / {cost['without_chart']['ms_per_message']:.2f}", "ms"],
    ]
    return {"summary": summary, "failures": failures,
            "details": {"charts": CHARTS, "cold_seconds": cold, "bar_seconds_total": total,
                        "bar_bytes": {"mean": sum(map(len, bars)) / len(bars), "max": largest},
                        "spark_bytes_max": max(map(len, sparks)), "naive_charts": len(naive),
                        "naive_seconds_total": sum(naive_times), "message": cost}}


if __name__ == "__main__":
    main(NAME, run)
