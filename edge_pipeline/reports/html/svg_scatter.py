"""Accuracy versus p50 latency as small multiples: one panel per target and batch/threads
configuration, on a log latency axis shared by the panels of a configuration.

One crowded chart of every target put 30 of 38 points on the y-axis; per target the points spread
out, and each is numbered with a key table under its panel (no hover needed). Only headline-eligible
rows (real timings on the target's ISA) are filled and may form the Pareto front; host-timed and
simulated rows are drawn hollow and kept off it.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.reports.html.pareto import pareto_front
from edge_pipeline.reports.html.svg_canvas import (
    LinearScale,
    LogScale,
    empty_chart,
    esc,
    log_domain,
    log_ticks,
    marker,
    nice_ticks,
    padded_domain,
    svg_open,
    text,
    tick_format,
    x_axis,
    y_axis,
)
from edge_pipeline.reports.row_status import (
    TIMING_EXPLAINED,
    headline_eligible,
    row_warnings,
    short_label,
    target_order,
    timing_kind,
)

WIDTH, HEIGHT = 440, 290
LEFT, RIGHT, TOP, BOTTOM = 58, 14, 44, 46
PRECISION_SHAPES = {"fp32": "circle", "fp16": "diamond", "bf16": "diamond", "int8": "square"}
EMPTY_MESSAGE = "no accuracy measured (no labelled eval set)"


def shape_of(row: BenchmarkRow) -> str:
    return PRECISION_SHAPES.get(row.precision, "triangle")


@dataclass(frozen=True)
class Axes:
    """The scales every panel of one configuration shares, so panels compare at a glance."""

    x: LogScale
    y: LinearScale


def accuracy_latency_panels(rows: list[BenchmarkRow], colors: dict[str, str]) -> list[str]:
    """One <figure> per (configuration, target), each holding one chart and its key; ``colors`` maps
    model names to colours (the same in every chart of the page)."""
    scored = [r for r in rows if r.accuracy is not None]
    if not scored:
        return [empty_chart("accuracy-latency", WIDTH, f"Accuracy vs latency: {EMPTY_MESSAGE}")]
    figures = []
    for config in sorted({(r.batch_size, r.threads) for r in scored}):
        own = [r for r in scored if (r.batch_size, r.threads) == config]
        axes = Axes(LogScale(*log_domain([r.latency_ms.p50 for r in own]), LEFT, WIDTH - RIGHT),
                    LinearScale(*padded_domain([r.accuracy or 0.0 for r in own], pad=0.15), HEIGHT - BOTTOM, TOP))
        for target in target_order(own):
            panel_rows = sorted((r for r in own if r.target == target), key=lambda r: r.latency_ms.p50)
            figures.append(_figure(panel_rows, axes, colors, f"batch {config[0]}, {config[1]} threads"))
    return figures


def _figure(rows: list[BenchmarkRow], axes: Axes, colors: dict[str, str], config: str) -> str:
    eligible = [r for r in rows if headline_eligible(r)]
    front = {id(eligible[i]) for i in pareto_front([(r.latency_ms.p50, r.accuracy or 0.0) for r in eligible])}
    chart = _panel(rows, axes, colors, front, config)
    return f'<figure class="panel">{chart}{_key_table(rows, colors, front)}</figure>'


def _panel(rows: list[BenchmarkRow], axes: Axes, colors: dict[str, str], front: set[int], config: str) -> str:
    target = rows[0].target
    x, y = axes.x, axes.y
    parts = [svg_open(WIDTH, HEIGHT, "accuracy-latency", f"Accuracy vs latency on {target}, {config}"),
             text(0, 15, target, "start", "chart-title"), text(0, 31, config, "start", "tick-label")]
    caveat = _caveat(rows)
    if caveat:
        parts.append(text(WIDTH - RIGHT, 31, caveat, "end", "caveat"))
    ticks = log_ticks(x.lo, x.hi)
    parts += [f'<line class="grid" x1="{x(t):.1f}" y1="{TOP}" x2="{x(t):.1f}" y2="{HEIGHT - BOTTOM}"/>'
              for t in ticks]
    parts.append(y_axis(y, LEFT, nice_ticks(y.lo, y.hi, 4), "accuracy %", grid_to=WIDTH - RIGHT, fmt=tick_format))
    parts.append(x_axis(x, HEIGHT - BOTTOM, ticks, "p50 latency, ms (log scale; left is faster)", fmt=tick_format))
    on_front = [r for r in rows if id(r) in front]
    parts.append(_front_line([(r.latency_ms.p50, r.accuracy or 0.0) for r in on_front], axes))
    placed: list[tuple[float, float, float, float]] = []
    for number, row in enumerate(rows, start=1):
        parts.append(_point(row, number, axes, colors[row.model], id(row) in front, placed))
    parts.append("</svg>")
    return "".join(parts)


def _caveat(rows: list[BenchmarkRow]) -> str:
    kinds = sorted({timing_kind(r) for r in rows if not headline_eligible(r)} - {"target"})
    if not kinds:
        return ""
    every = all(not headline_eligible(r) for r in rows)
    return ("all " if every else "some ") + " / ".join(f"{k}-timed" if k == "host" else k for k in kinds) + \
        ": hollow, not on the front"


def _point(row: BenchmarkRow, number: int, axes: Axes, color: str, on_front: bool,
           placed: list[tuple[float, float, float, float]]) -> str:
    px, py = axes.x(row.latency_ms.p50), axes.y(row.accuracy or 0.0)
    eligible = headline_eligible(row)
    tip = (f"#{number} {row.artifact_id} [{row.runtime_variant}]: p50 {row.latency_ms.p50:.3f} ms, "
           f"accuracy {row.accuracy:.2f}%" + (" (Pareto front)" if on_front else "")
           + ("" if eligible else f" ({TIMING_EXPLAINED.get(timing_kind(row), 'not headline-eligible')})"))
    ring = f'<circle class="front-ring" cx="{px:.1f}" cy="{py:.1f}" r="10"/>' if on_front else ""
    return ring + marker(shape_of(row), px, py, 5.5, color, tip, hollow=not eligible) + \
        _number_text(px, py, str(number), placed)


def _number_text(px: float, py: float, label: str, placed: list[tuple[float, float, float, float]]) -> str:
    """The point's number beside it: right, left, above or below, whichever is free of numbers placed
    already (and inside the plot); points on the same spot then read '3' and '4' side by side."""
    width, height = 7.0 * len(label) + 2, 12.0
    for dx, dy in ((8, -6), (-8 - width, -6), (-width / 2, -12), (-width / 2, 18), (8, 10), (-8 - width, 10)):
        box = (px + dx, py + dy - height + 2, px + dx + width, py + dy + 2)
        if LEFT <= box[0] and box[2] <= WIDTH - RIGHT and not any(_overlaps(box, other) for other in placed):
            break
    else:
        offset = 8 + (10 * len(placed)) % 30  # nowhere free: fan out so numbers stay legible
        box = (px + offset, py - 4 - height, px + offset + width, py - 4)
    placed.append(box)
    return text(box[0], box[3] - 2, label, "start", "point-label")


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _front_line(points: list[tuple[float, float]], axes: Axes) -> str:
    if len(points) < 2:
        return ""
    # Steps, not diagonals: between two front points nothing better is known to exist.
    coords = []
    for (lat, acc), (next_lat, _) in zip(points, points[1:] + [(0.0, 0.0)], strict=True):
        coords.append(f"{axes.x(lat):.1f},{axes.y(acc):.1f}")
        if next_lat:
            coords.append(f"{axes.x(next_lat):.1f},{axes.y(acc):.1f}")
    return f'<polyline class="front-line" points="{" ".join(coords)}"/>'


def _key_table(rows: list[BenchmarkRow], colors: dict[str, str], front: set[int]) -> str:
    """The panel's points by number: what each is, its figures, and whether it is on the front."""
    lines = []
    for number, row in enumerate(rows, start=1):
        status = _status(row, id(row) in front)
        swatch = f'<span class="swatch" style="background:{colors[row.model]}"></span>'
        lines.append(f"<tr><td>{number}</td><td>{swatch}{esc(short_label(row))}</td>"
                     f"<td>{row.latency_ms.p50:.3f}</td><td>{row.accuracy:.2f}</td><td>{esc(status)}</td></tr>")
    return ('<table class="key"><thead><tr><th>#</th><th>artifact</th><th>p50 ms</th><th>acc %</th><th></th></tr>'
            f'</thead><tbody>{"".join(lines)}</tbody></table>')


def _status(row: BenchmarkRow, on_front: bool) -> str:
    """'Pareto front', 'host-timed' or 'simulated', then the row's measurement warnings."""
    kind = timing_kind(row)
    where = "Pareto front" if on_front else "" if headline_eligible(row) else ("host-timed" if kind == "host" else kind)
    return "; ".join(part for part in [where, *(f"⚠ {w}" for w in row_warnings(row))] if part)


def legend_html(colors: dict[str, str], rows: list[BenchmarkRow]) -> str:
    """One legend for every panel: colour is the model, shape the precision, fill the timing."""
    items = [f'<span class="legend-item"><span class="swatch" style="background:{c}"></span>{esc(m)}</span>'
             for m, c in colors.items()]
    for precision in sorted({r.precision for r in rows}):
        icon = marker(PRECISION_SHAPES.get(precision, "triangle"), 8, 8, 5, "#555", precision)
        items.append(f'<span class="legend-item"><svg class="icon" width="16" height="16">{icon}</svg>'
                     f"{esc(precision)}</span>")
    ring = '<circle class="front-ring" cx="8" cy="8" r="6"/>'
    hollow = marker("circle", 8, 8, 5, "#555", "not headline-eligible", hollow=True)
    items.append(f'<span class="legend-item"><svg class="icon" width="16" height="16">{ring}</svg>Pareto front</span>')
    if not all(headline_eligible(r) for r in rows):  # say what hollow means only where it is drawn
        items.append(f'<span class="legend-item"><svg class="icon" width="16" height="16">{hollow}</svg>'
                     "host-timed or simulated (not comparable; never on the front)</span>")
    return f'<div class="legend-row">{"".join(items)}</div>'
