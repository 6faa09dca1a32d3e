"""Accuracy versus p50 latency, one point per (artifact, runtime variant), Pareto front marked."""

from __future__ import annotations

from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.reports.html.pareto import pareto_front
from edge_pipeline.reports.html.svg_canvas import (
    PALETTE,
    LinearScale,
    empty_chart,
    marker,
    nice_ticks,
    padded_domain,
    svg_open,
    text,
    x_axis,
    y_axis,
)

WIDTH, HEIGHT = 960, 440
LEFT, RIGHT, TOP, BOTTOM = 70, 230, 34, 60
PRECISION_SHAPES = {"fp32": "circle", "fp16": "diamond", "bf16": "diamond", "int8": "square"}


def point_label(row: BenchmarkRow) -> str:
    # A backend's plain reference mode goes unnamed; other modes (a bf16 hint, a simulation) are named.
    plain = row.reference_variant and not row.simulated
    variant = "" if plain else f":{row.runtime_variant}"
    return f"{row.model} {row.precision}{variant}"


MAX_LABELLED_POINTS = 12


def accuracy_latency_chart(rows: list[BenchmarkRow], title: str) -> str:
    scored = [r for r in rows if r.accuracy is not None]
    if not scored:
        return empty_chart("accuracy-latency", WIDTH, f"{title}: no accuracy measured (no labelled eval set)")
    points = [(r.latency_ms.p50, r.accuracy) for r in scored if r.accuracy is not None]
    front = pareto_front(points)
    x_lo, x_hi = padded_domain([p[0] for p in points], floor=0.0)
    # Room on the right so the slowest points can carry their labels on the usual side.
    x = LinearScale(x_lo, x_hi + (x_hi - x_lo) * 0.2, LEFT, WIDTH - RIGHT)
    y = LinearScale(*padded_domain([p[1] for p in points]), HEIGHT - BOTTOM, TOP)
    targets = sorted({r.target for r in scored})
    colors = {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(targets)}
    parts = [svg_open(WIDTH, HEIGHT, "accuracy-latency", title), text(0, 16, title, "start", "chart-title")]
    parts.append(y_axis(y, LEFT, nice_ticks(y.lo, y.hi), "top-1 accuracy %", grid_to=WIDTH - RIGHT,
                        fmt=lambda v: f"{v:g}"))
    parts.append(x_axis(x, HEIGHT - BOTTOM, nice_ticks(x.lo, x.hi), "p50 latency, ms (lower is better)",
                        fmt=lambda v: f"{v:g}"))
    parts.append(_front_line([points[i] for i in front], x, y))
    placed: list[tuple[float, float, float]] = []
    for index, (row, (lat, acc)) in enumerate(zip(scored, points, strict=True)):
        on_front = index in front
        tip = (f"{row.artifact_id} [{row.runtime_variant}]: {lat:.3f} ms, {acc:.2f}%"
               + (" (Pareto front)" if on_front else ""))
        if on_front:
            parts.append(f'<circle class="front-ring" cx="{x(lat):.1f}" cy="{y(acc):.1f}" r="10"/>')
        parts.append(marker(PRECISION_SHAPES.get(row.precision, "triangle"), x(lat), y(acc), 5.5, colors[row.target],
                            tip))
        if on_front or len(scored) <= MAX_LABELLED_POINTS:
            # Many runs put dozens of points here: naming only the front keeps the chart readable;
            # every point still names itself on hover, and the table below lists them all.
            parts.append(_point_text(x(lat), y(acc), point_label(row), placed))
    parts.append(_legend(colors, scored))
    parts.append("</svg>")
    return "".join(parts)


def _point_text(px: float, py: float, label: str, placed: list[tuple[float, float, float]]) -> str:
    """Label beside its point; near the right edge it goes left (clear of the legend), and it moves
    down a line while it would overlap a label already placed."""
    width = 6.2 * len(label)
    left_side = px > WIDTH - RIGHT - 110
    x0 = px - 9 - width if left_side else px + 9
    y = py - 8
    if _collides(x0, width, y, placed):
        y = py + 19  # below the point, clear of its marker and ring
    while _collides(x0, width, y, placed):
        y += 13
    placed.append((x0, x0 + width, y))
    return text(x0, y, label, "start", "point-label")


def _collides(x0: float, width: float, y: float, placed: list[tuple[float, float, float]]) -> bool:
    return any(x0 < bx1 and x0 + width > bx0 and abs(y - by) < 12 for bx0, bx1, by in placed)


def _front_line(front_points: list[tuple[float, float]], x: LinearScale, y: LinearScale) -> str:
    if len(front_points) < 2:
        return ""
    # Steps, not diagonals: between two front points nothing better is known to exist.
    coords = []
    for (lat, acc), (next_lat, _) in zip(front_points, front_points[1:] + [(None, None)], strict=True):
        coords.append(f"{x(lat):.1f},{y(acc):.1f}")
        if next_lat is not None:
            coords.append(f"{x(next_lat):.1f},{y(acc):.1f}")
    return f'<polyline class="front-line" points="{" ".join(coords)}"/>'


def _legend(colors: dict[str, str], rows: list[BenchmarkRow]) -> str:
    left = WIDTH - RIGHT + 16
    parts, line = [text(left, TOP + 4, "target", "start", "legend-title")], TOP + 28
    for target, color in colors.items():
        parts.append(f'<rect x="{left}" y="{line - 9}" width="10" height="10" fill="{color}"/>')
        parts.append(text(left + 16, line, target, "start", "legend"))
        line += 18
    line += 8
    parts.append(text(left, line, "precision", "start", "legend-title"))
    for precision in sorted({r.precision for r in rows}):
        line += 18
        parts.append(marker(PRECISION_SHAPES.get(precision, "triangle"), left + 5, line - 4, 5, "#555", precision,
                            "legend-mark"))
        parts.append(text(left + 16, line, precision, "start", "legend"))
    line += 26
    parts.append(f'<circle class="front-ring" cx="{left + 5}" cy="{line - 4}" r="7"/>')
    parts.append(text(left + 16, line, "Pareto front", "start", "legend"))
    return f'<g class="legend">{"".join(parts)}</g>'
