"""Latency distribution per benchmark row: box (p25-p75), whiskers (p1-p99), median with its 95%
interval, and the individual timings as faint dots, on one shared millisecond axis."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.reports.html.svg_canvas import (
    PALETTE,
    LinearScale,
    empty_chart,
    esc,
    nice_ticks,
    padded_domain,
    svg_open,
    text,
    x_axis,
)

WIDTH = 960
LABEL_WIDTH, RIGHT, ROW_HEIGHT, TOP, BOTTOM = 400, 90, 34, 30, 50
MAX_DOTS = 200
AXIS_CAP_OVER_P75 = 3.0


def row_label(row: BenchmarkRow) -> str:
    return f"{row.artifact_id} [{row.runtime_variant}] b{row.batch_size} t{row.threads}"


@dataclass(frozen=True)
class Distribution:
    """What one row's box, whiskers and dots are drawn from, in milliseconds."""

    p1: float
    p25: float
    p50: float
    p75: float
    p99: float
    ci: tuple[float, float]
    samples: np.ndarray


def distribution(row: BenchmarkRow) -> Distribution:
    """Summary points of one row, from its raw timings when present, else from its stored summary."""
    summary = row.latency_ms
    samples = np.asarray(row.samples_ms, dtype=np.float64)
    if samples.size:
        p1, p25, p50, p75, p99 = np.percentile(samples, [1, 25, 50, 75, 99])
    else:
        # A summary without min has it at 0.0 (no latency is zero): start the whisker at the median then.
        p1, p25, p50, p75, p99 = summary.min or summary.p50, summary.p50, summary.p50, summary.p90, summary.p99
    return Distribution(p1, p25, p50, p75, p99, _median_interval(summary.median_ci95, p50), samples)


def _median_interval(interval: tuple[float, float], p50: float) -> tuple[float, float]:
    # (0, 0) is LatencyStats' "not recorded"; the median alone is then the best interval we have.
    return interval if interval[1] > 0 else (p50, p50)


def latency_distribution_chart(rows: list[BenchmarkRow], title: str = "Latency distribution") -> str:
    """One chart per batch/threads configuration, so a batch-8 row does not squash the batch-1 boxes."""
    if not rows:
        return empty_chart("latency-distribution", WIDTH, "No benchmark rows: nothing was timed")
    ordered = sorted(rows, key=lambda r: r.latency_ms.p50)
    stats = [distribution(r) for r in ordered]
    extent = [v for s in stats for v in (s.p1, s.p99)]
    lo, hi = padded_domain(extent, floor=0.0)
    # A busy machine's stalls can put p99 at 50x the median; cap the axis so the boxes stay readable
    # (marks past it are drawn at the edge, the tooltip keeps the true values).
    hi = min(hi, max(s.p75 for s in stats) * AXIS_CAP_OVER_P75)
    scale = LinearScale(lo, hi, LABEL_WIDTH, WIDTH - RIGHT)
    height = TOP + ROW_HEIGHT * len(rows) + BOTTOM
    parts = [svg_open(WIDTH, height, "latency-distribution", title), text(0, 16, title, "start", "chart-title")]
    for tick in nice_ticks(scale.lo, scale.hi, 6):
        parts.append(f'<line class="grid" x1="{scale(tick):.1f}" y1="{TOP}" '
                     f'x2="{scale(tick):.1f}" y2="{height - BOTTOM}"/>')
    rng = np.random.default_rng(0)  # dot jitter only; fixed so the file is reproducible
    for index, (row, stat) in enumerate(zip(ordered, stats, strict=True)):
        parts.append(_row_marks(row, stat, scale, TOP + index * ROW_HEIGHT, PALETTE[index % len(PALETTE)], rng))
    parts.append(x_axis(scale, height - BOTTOM, nice_ticks(scale.lo, scale.hi, 6), "latency per call, ms",
                        fmt=lambda v: f"{v:g}"))
    parts.append("</svg>")
    return "".join(parts)


def _row_marks(row: BenchmarkRow, stat: Distribution, scale: LinearScale, top: float, color: str, rng) -> str:
    middle = top + ROW_HEIGHT / 2
    parts = [text(LABEL_WIDTH - 8, middle + 4, row_label(row), "end", "bar-label")]
    samples = stat.samples
    if samples.size:
        shown = samples if samples.size <= MAX_DOTS else rng.choice(samples, MAX_DOTS, replace=False)
        jitter = rng.uniform(-ROW_HEIGHT * 0.35, ROW_HEIGHT * 0.35, shown.size)
        # Clip far outliers to the axis end so one stall does not squash every box.
        dots = "".join(f'<circle cx="{scale(min(v, scale.hi)):.1f}" cy="{middle + j:.1f}" r="1.3"/>'
                       for v, j in zip(shown, jitter, strict=True))
        parts.append(f'<g class="dots" fill="{color}">{dots}</g>')
    tip = (f"{row_label(row)}: p50 {stat.p50:.3f} ms (95% CI {stat.ci[0]:.3f}-{stat.ci[1]:.3f}), "
           f"p25-p75 {stat.p25:.3f}-{stat.p75:.3f}, p1-p99 {stat.p1:.3f}-{stat.p99:.3f}, n={samples.size}")
    whisker_end = scale(min(stat.p99, scale.hi))
    parts.append(f'<line class="whisker" x1="{scale(stat.p1):.1f}" y1="{middle:.1f}" '
                 f'x2="{whisker_end:.1f}" y2="{middle:.1f}"/>')
    if stat.p99 > scale.hi:
        parts.append(text(whisker_end + 3, middle + 4, f"p99 {stat.p99:.2f}", "start", "tick-label"))
    box_left, box_right = scale(stat.p25), scale(min(stat.p75, scale.hi))
    parts.append(f'<rect class="mark box" data-mark="1" x="{box_left:.1f}" y="{middle - 8:.1f}" '
                 f'width="{max(box_right - box_left, 1.5):.1f}" '
                 f'height="16" stroke="{color}"><title>{esc(tip)}</title></rect>')
    ci_left, ci_right = scale(stat.ci[0]), scale(stat.ci[1])
    parts.append(f'<rect class="median-ci" x="{ci_left:.1f}" y="{middle - 8:.1f}" '
                 f'width="{max(ci_right - ci_left, 1.0):.1f}" height="16"/>')
    parts.append(f'<line class="median" x1="{scale(stat.p50):.1f}" y1="{middle - 10:.1f}" '
                 f'x2="{scale(stat.p50):.1f}" y2="{middle + 10:.1f}"/>')
    return "".join(parts)
