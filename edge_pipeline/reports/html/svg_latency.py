"""Latency spread per benchmark row, compact: one line per row with a p5–p95 bar, a p25–p75 box and
a p50 tick on a log millisecond axis, rows grouped by target (one chart per batch/threads setting).

Forty box plots with jittered dots in one column were unreadable; a row of 18 px still shows the
spread and any long tail, and the log axis keeps 0.2 ms and 30 ms rows on one page.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.reports.html.svg_canvas import (
    LogScale,
    empty_chart,
    esc,
    log_domain,
    log_ticks,
    svg_open,
    text,
    tick_format,
    x_axis,
)
from edge_pipeline.reports.row_status import headline_eligible, row_warnings, short_label, target_order, timing_kind

WIDTH = 960
LABEL_WIDTH, RIGHT, ROW_HEIGHT, GROUP_HEIGHT, TOP, BOTTOM = 300, 150, 18, 24, 30, 46
MUTED, DEFAULT = "#aaa", "#1f77b4"


def row_label(row: BenchmarkRow) -> str:
    return f"{row.artifact_id} [{row.runtime_variant}] b{row.batch_size} t{row.threads}"


@dataclass(frozen=True)
class Spread:
    """What one row's line is drawn from, in milliseconds; ``from_samples`` False: only the stored
    summary was there, so p5/p25/p75/p95 are stood in for by min/p50/p50/p90."""

    p5: float
    p25: float
    p50: float
    p75: float
    p95: float
    n: int
    from_samples: bool


def spread(row: BenchmarkRow) -> Spread:
    samples = np.asarray(row.samples_ms, dtype=np.float64)
    if samples.size:
        p5, p25, p50, p75, p95 = (float(v) for v in np.percentile(samples, [5, 25, 50, 75, 95]))
        return Spread(p5, p25, p50, p75, p95, int(samples.size), True)
    s = row.latency_ms
    return Spread(s.min or s.p50, s.p50, s.p50, s.p50, s.p90, s.n, False)


def latency_distribution_chart(rows: list[BenchmarkRow], title: str = "Latency spread",
                               colors: dict[str, str] | None = None) -> str:
    """``colors``: model name -> colour, as in the accuracy panels; host-timed and simulated rows grey."""
    if not rows:
        return empty_chart("latency-distribution", WIDTH, "No benchmark rows: nothing was timed")
    groups = _groups(rows)
    spreads = {id(r): spread(r) for r in rows}
    scale = LogScale(*log_domain([v for s in spreads.values() for v in (s.p5, s.p95)], pad=1.1),
                     LABEL_WIDTH, WIDTH - RIGHT)
    height = TOP + GROUP_HEIGHT * len(groups) + ROW_HEIGHT * len(rows) + BOTTOM
    ticks = log_ticks(scale.lo, scale.hi)
    parts = [svg_open(WIDTH, height, "latency-distribution", title), text(0, 16, title, "start", "chart-title")]
    parts += [f'<line class="grid" x1="{scale(t):.1f}" y1="{TOP}" x2="{scale(t):.1f}" y2="{height - BOTTOM}"/>'
              for t in ticks]
    y = TOP
    for target, own in groups:
        parts.append(_group_heading(target, own, y))
        y += GROUP_HEIGHT
        for row in own:
            parts.append(_row_marks(row, spreads[id(row)], scale, y, (colors or {}).get(row.model, DEFAULT)))
            y += ROW_HEIGHT
    parts.append(x_axis(scale, height - BOTTOM, ticks, "latency per call, ms (log scale)", fmt=tick_format))
    parts.append("</svg>")
    return "".join(parts)


def _groups(rows: list[BenchmarkRow]) -> list[tuple[str, list[BenchmarkRow]]]:
    """Per target (real timings first), its rows fastest first."""
    return [(t, sorted((r for r in rows if r.target == t), key=lambda r: r.latency_ms.p50))
            for t in target_order(rows)]


def _group_heading(target: str, rows: list[BenchmarkRow], top: float) -> str:
    kinds = sorted({timing_kind(r) for r in rows if not headline_eligible(r)} - {"target"})
    caveat = f"  ({' / '.join(k + '-timed' if k == 'host' else k for k in kinds)}: grey, not device numbers)" \
        if kinds else ""
    return text(0, top + 17, target, "start", "group-title") + (
        text(8 * len(target) + 8, top + 17, caveat, "start", "caveat") if caveat else "")


def _row_marks(row: BenchmarkRow, s: Spread, scale: LogScale, top: float, color: str) -> str:
    middle = top + ROW_HEIGHT / 2
    eligible = headline_eligible(row)
    color = color if eligible else MUTED
    tip = (f"{row_label(row)}: p50 {s.p50:.3f} ms, p25–p75 {s.p25:.3f}–{s.p75:.3f}, p5–p95 {s.p5:.3f}–{s.p95:.3f}, "
           f"n={s.n}" + ("" if s.from_samples else " (no raw timings: min to p90 shown)"))
    label_class = "bar-label" if eligible else "bar-label muted-label"
    warnings = row_warnings(row)
    # A row whose timing is suspect says so where it is drawn; the results table spells it out.
    label = ("⚠ " if warnings else "") + short_label(row)
    title = f"<title>{esc('; '.join(warnings))}</title>" if warnings else ""
    box_left, box_right = scale(s.p25), scale(s.p75)
    return "".join([
        f'<text x="{LABEL_WIDTH - 8:.1f}" y="{middle + 4:.1f}" text-anchor="end" class="{label_class}">'
        f"{esc(label)}{title}</text>",
        f'<line class="spread" x1="{scale(s.p5):.1f}" y1="{middle:.1f}" x2="{scale(s.p95):.1f}" '
        f'y2="{middle:.1f}" stroke="{color}"/>',
        f'<rect class="mark box" data-mark="1" x="{box_left:.1f}" y="{middle - 4:.1f}" '
        f'width="{max(box_right - box_left, 2.0):.1f}" height="8" fill="{color}"><title>{esc(tip)}</title></rect>',
        f'<line class="median" x1="{scale(s.p50):.1f}" y1="{middle - 7:.1f}" x2="{scale(s.p50):.1f}" '
        f'y2="{middle + 7:.1f}"/>',
        text(WIDTH - RIGHT + 10, middle + 4, f"{s.p50:.3f} ms  (p95 {s.p95:.3g})", "start", "tick-label"),
    ])
