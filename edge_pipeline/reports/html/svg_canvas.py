"""Minimal SVG building blocks (scales, ticks, axes) for charts embedded in report.html.

Plain strings, no plotting library: the report must render offline in any browser, and the core
install carries only numpy/pydantic/yaml.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


@dataclass(frozen=True)
class LinearScale:
    lo: float
    hi: float
    start: float   # pixel position of lo
    end: float     # pixel position of hi

    def __call__(self, value: float) -> float:
        span = self.hi - self.lo
        fraction = 0.5 if span == 0 else (value - self.lo) / span
        return self.start + fraction * (self.end - self.start)


@dataclass(frozen=True)
class LogScale:
    """Latencies span decades (0.2 ms INT8 next to 30 ms host-timed ARM): on a linear axis the fast
    rows pile up at zero, on a log axis equal ratios get equal room."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        low, high = math.log10(self.lo), math.log10(self.hi)
        fraction = 0.5 if high == low else (math.log10(max(value, self.lo * 1e-3)) - low) / (high - low)
        return self.start + fraction * (self.end - self.start)


def log_domain(values: list[float], pad: float = 1.25) -> tuple[float, float]:
    """A positive range around ``values`` with a ratio of room on each side (non-positives ignored)."""
    positive = [v for v in values if v > 0] or [1.0]
    lo, hi = min(positive) / pad, max(positive) * pad
    if hi / lo < 4:  # under a decade and a half the ticks would be too few to read a value off
        middle = math.sqrt(lo * hi)
        lo, hi = middle / 2, middle * 2
    return lo, hi


def log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks inside [lo, hi]: 1-2-5 per decade, denser when the range is about a decade (so at least
    three values can be read off), only powers of ten when it spans many decades."""
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    decades = math.log10(hi / lo)
    steps: tuple[float, ...] = (1, 1.5, 2, 3, 4, 5, 6, 8) if decades <= 1.2 else (1, 2, 5) if decades <= 4 else (1,)
    ticks = [m * 10.0 ** e for e in range(first, last + 1) for m in steps]
    return [round(t, 12) for t in ticks if lo <= t <= hi]


def tick_format(value: float) -> str:
    return f"{value:g}"


def padded_domain(values: list[float], pad: float = 0.08, floor: float | None = None) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    span = hi - lo or abs(hi) * 0.1 or 1.0
    lo, hi = lo - span * pad, hi + span * pad
    if floor is not None:
        lo = max(lo, floor)
    return lo, hi


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step) * step
    ticks, value = [], first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def short_number(value: float) -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def svg_open(width: int, height: int, name: str, description: str) -> str:
    return (f'<svg class="chart" data-chart="{esc(name)}" xmlns="http://www.w3.org/2000/svg" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="{esc(description)}">'
            f"<title>{esc(description)}</title>")


def text(x: float, y: float, content: object, anchor: str = "start", cls: str = "", extra: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}{extra}>{esc(content)}</text>'


def x_axis(scale: LinearScale | LogScale, y: float, ticks: list[float], label: str, fmt=short_number) -> str:
    parts = [f'<line class="axis" x1="{scale.start:.1f}" y1="{y:.1f}" x2="{scale.end:.1f}" y2="{y:.1f}"/>']
    for tick in ticks:
        x = scale(tick)
        parts.append(f'<line class="tick" x1="{x:.1f}" y1="{y:.1f}" x2="{x:.1f}" y2="{y + 4:.1f}"/>')
        parts.append(text(x, y + 16, fmt(tick), "middle", "tick-label"))
    parts.append(text((scale.start + scale.end) / 2, y + 34, label, "middle", "axis-label"))
    return "".join(parts)


def y_axis(scale: LinearScale, x: float, ticks: list[float], label: str, grid_to: float | None = None,
           fmt=short_number) -> str:
    parts = [f'<line class="axis" x1="{x:.1f}" y1="{scale.start:.1f}" x2="{x:.1f}" y2="{scale.end:.1f}"/>']
    for tick in ticks:
        y = scale(tick)
        if grid_to is not None:
            parts.append(f'<line class="grid" x1="{x:.1f}" y1="{y:.1f}" x2="{grid_to:.1f}" y2="{y:.1f}"/>')
        parts.append(text(x - 6, y + 4, fmt(tick), "end", "tick-label"))
    middle = (scale.start + scale.end) / 2
    parts.append(text(x - 44, middle, label, "middle", "axis-label",
                      f' transform="rotate(-90 {x - 44:.1f} {middle:.1f})"'))
    return "".join(parts)


def marker(shape: str, x: float, y: float, size: float, color: str, tooltip: str, extra_class: str = "",
           hollow: bool = False) -> str:
    """A data mark; every mark carries data-mark so the page can check that charts drew something.
    ``hollow``: outline only, for rows shown but not comparable (host-timed, simulated)."""
    klass = f'mark {extra_class}'.strip()
    paint = f'fill="#fff" stroke="{color}" stroke-width="1.8"' if hollow else f'fill="{color}"'
    tip = f"<title>{esc(tooltip)}</title>"
    if shape == "square":
        return (f'<rect class="{klass}" data-mark="1" x="{x - size:.1f}" y="{y - size:.1f}" width="{2 * size:.1f}" '
                f'height="{2 * size:.1f}" {paint}>{tip}</rect>')
    if shape == "triangle":
        points = (f"{x:.1f},{y - size * 1.2:.1f} {x - size * 1.1:.1f},{y + size * 0.8:.1f} "
                  f"{x + size * 1.1:.1f},{y + size * 0.8:.1f}")
        return f'<polygon class="{klass}" data-mark="1" points="{points}" {paint}>{tip}</polygon>'
    if shape == "diamond":
        points = (f"{x:.1f},{y - size * 1.3:.1f} {x + size * 1.1:.1f},{y:.1f} "
                  f"{x:.1f},{y + size * 1.3:.1f} {x - size * 1.1:.1f},{y:.1f}")
        return f'<polygon class="{klass}" data-mark="1" points="{points}" {paint}>{tip}</polygon>'
    return (f'<circle class="{klass}" data-mark="1" cx="{x:.1f}" cy="{y:.1f}" r="{size:.1f}" '
            f'{paint}>{tip}</circle>')


def empty_chart(name: str, width: int, message: str) -> str:
    """A chart with nothing to plot still renders, and says why."""
    return svg_open(width, 60, name, message) + text(10, 35, message, "start", "empty", ' data-mark="1"') + "</svg>"
