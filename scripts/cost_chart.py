"""Draw docs/cost-breakeven.svg: monthly cost of the four inference paths against request volume.

Every point comes from :func:`shared.pricing.monthly_cost`, the model the code uses (auto-stop's
savings, scheduled scaling's estimate), with the workload and deployment given below; the
break-even volumes printed on the chart come from :func:`shared.pricing.break_even_requests`.
The SVG is written by hand (no plotting library), so the same model always gives the same bytes
and a test can compare the committed file with a fresh rendering.

    python -m scripts.cost_chart            # rewrite docs/cost-breakeven.svg
    python -m scripts.cost_chart --check    # exit 1 if the committed chart is out of date
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from html import escape
from pathlib import Path

from shared.pricing import (
    PRICE_DATE,
    PRICE_REGION,
    CostPath,
    Deployment,
    Workload,
    break_even_requests,
    monthly_cost,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
OUTPUT = REPO_ROOT / "docs" / "cost-breakeven.svg"

SCENARIOS = (
    ("Business-hours traffic (10 h x 22 days)", Workload(requests_per_month=0)),
    (
        "Round-the-clock traffic (24 h x 30 days)",
        Workload(requests_per_month=0, active_days=30, active_hours_per_day=24),
    ),
)
"""Both: 100 KiB in and out per request, 200 ms of model time."""
DEPLOYMENT = Deployment()
"""ml.m5.large, 2 workers per instance at 70 % target utilization, serverless with 2048 MB."""

PANEL_WIDTH, HEIGHT = 560, 560
LEFT, RIGHT, TOP, BOTTOM = 80, 20, 80, 150
WIDTH = PANEL_WIDTH * len(SCENARIOS)
X_RANGE = (2, 8)  # log10 of requests per month
Y_RANGE = (-2, 4)  # log10 of USD per month
SAMPLES = 121
COLOURS = {
    CostPath.REALTIME_ENDPOINT: "#d62728",
    CostPath.INFERENCE_COMPONENTS: "#9467bd",
    CostPath.SERVERLESS_INFERENCE: "#1f77b4",
    CostPath.BATCH_TRANSFORM: "#2ca02c",
}
DASHES = {CostPath.INFERENCE_COMPONENTS: ' stroke-dasharray="7 4"'}
LABELS = {
    CostPath.REALTIME_ENDPOINT: "Realtime endpoint (runs 24/7, 1 instance minimum)",
    CostPath.INFERENCE_COMPONENTS: "Inference components (0 instances when idle)",
    CostPath.SERVERLESS_INFERENCE: "Serverless Inference (per request)",
    CostPath.BATCH_TRANSFORM: "Batch Transform (one job per active day)",
}


def _x(offset: float, log_requests: float) -> float:
    low, high = X_RANGE
    return offset + LEFT + (log_requests - low) / (high - low) * (PANEL_WIDTH - LEFT - RIGHT)


def _y(usd: float) -> float:
    low, high = Y_RANGE
    value = min(max(math.log10(max(usd, 10**low)), low), high)
    return HEIGHT - BOTTOM - (value - low) / (high - low) * (HEIGHT - TOP - BOTTOM)


def _sized(workload: Workload, requests: float) -> Workload:
    return Workload(
        requests,
        workload.payload_bytes,
        workload.duration_ms,
        workload.active_days,
        workload.active_hours_per_day,
    )


def _polyline(offset: float, workload: Workload, path: CostPath) -> str:
    low, high = X_RANGE
    points = []
    for index in range(SAMPLES):
        log_requests = low + (high - low) * index / (SAMPLES - 1)
        cost = monthly_cost(path, _sized(workload, 10**log_requests), DEPLOYMENT)
        points.append(f"{_x(offset, log_requests):.1f},{_y(cost):.1f}")
    return (
        f'<polyline fill="none" stroke="{COLOURS[path]}" stroke-width="2.5"{DASHES.get(path, "")} '
        f'points="{" ".join(points)}"/>'
    )


def _axes(offset: float, title: str) -> list[str]:
    right = offset + PANEL_WIDTH - RIGHT
    parts = [
        f'<text x="{offset + LEFT}" y="{TOP - 12}" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<rect x="{offset + LEFT}" y="{TOP}" width="{PANEL_WIDTH - LEFT - RIGHT}" '
        f'height="{HEIGHT - TOP - BOTTOM}" fill="#ffffff" stroke="#444444"/>',
    ]
    for exponent in range(X_RANGE[0], X_RANGE[1] + 1):
        x = _x(offset, exponent)
        parts.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM}" stroke="#dddddd"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">10^{exponent}</text>'
        )
    for exponent in range(Y_RANGE[0], Y_RANGE[1] + 1):
        y = _y(10**exponent)
        label = f"${10**exponent:,.2f}" if exponent < 0 else f"${10**exponent:,}"
        parts.append(f'<line x1="{offset + LEFT}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#dddddd"/>')
        parts.append(
            f'<text x="{offset + LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>'
        )
    parts.append(
        f'<text x="{offset + (LEFT + PANEL_WIDTH - RIGHT) / 2:.0f}" y="{HEIGHT - BOTTOM + 40}" '
        'text-anchor="middle">requests per month (log scale)</text>'
    )
    parts.append(
        f'<text transform="translate({offset + 20},{(TOP + HEIGHT - BOTTOM) / 2:.0f}) rotate(-90)" '
        'text-anchor="middle">USD per month (log scale)</text>'
    )
    return parts


def break_evens(workload: Workload) -> list[tuple[str, float]]:
    """Where Serverless Inference stops being cheaper than an instance-backed path."""
    marks = []
    for other in (CostPath.INFERENCE_COMPONENTS, CostPath.REALTIME_ENDPOINT):
        volume = break_even_requests(CostPath.SERVERLESS_INFERENCE, other, workload, DEPLOYMENT)
        if volume is not None:
            marks.append((f"Serverless = {LABELS[other].split(' (')[0]}", volume))
    return marks


def _panel(offset: float, title: str, workload: Workload) -> list[str]:
    parts = _axes(offset, title)
    parts += [_polyline(offset, workload, path) for path in COLOURS]
    marks = break_evens(workload)
    for index, (label, volume) in enumerate(marks):
        x = _x(offset, math.log10(volume))
        y = _y(monthly_cost(CostPath.SERVERLESS_INFERENCE, _sized(workload, volume), DEPLOYMENT))
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#000000"/>')
        parts.append(
            f'<text x="{offset + LEFT + 8}" y="{TOP + 18 + 16 * index}">{escape(label)} at '
            f"{volume:,.0f} req/month</text>"
        )
    if not marks:
        parts.append(f'<text x="{offset + LEFT + 8}" y="{TOP + 18}">Serverless never costs more here</text>')
    return parts


def render() -> str:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fafafa"/>',
        f'<text x="{LEFT}" y="26" font-size="17" font-weight="bold">Monthly cost of the four inference '
        "paths, from shared/pricing.py</text>",
        f'<text x="{LEFT}" y="46" fill="#555555">{escape(DEPLOYMENT.instance_type)}, '
        f"{SCENARIOS[0][1].duration_ms:.0f} ms per request, {SCENARIOS[0][1].payload_bytes // 1024} KiB "
        f"per request, serverless {DEPLOYMENT.serverless_memory_mb} MB; {PRICE_REGION} list prices "
        f"({PRICE_DATE}); generated by scripts/cost_chart.py</text>",
    ]
    for index, (title, workload) in enumerate(SCENARIOS):
        parts += _panel(index * PANEL_WIDTH, title, workload)
    for index, path in enumerate(COLOURS):
        x = LEFT + (index % 2) * PANEL_WIDTH
        y = HEIGHT - BOTTOM + 75 + 22 * (index // 2)
        parts.append(
            f'<line x1="{x}" y1="{y}" x2="{x + 28}" y2="{y}" stroke="{COLOURS[path]}" '
            f'stroke-width="2.5"{DASHES.get(path, "")}/>'
        )
        parts.append(f'<text x="{x + 36}" y="{y + 4}">{escape(LABELS[path])}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.cost_chart", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed chart is out of date")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    chart = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != chart:
            print(f"{args.output} is out of date: run python -m scripts.cost_chart", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.write_text(chart, encoding="utf-8")
    print(f"wrote {args.output}")
    for title, workload in SCENARIOS:
        for label, volume in break_evens(workload):
            print(f"  {title}: {label}: {volume:,.0f} requests/month")
    return 0


if __name__ == "__main__":
    sys.exit(main())
