"""Horizontal bars of params, MACs and size for each model the run produced, teacher first."""

from __future__ import annotations

from edge_pipeline.reports.svg_canvas import PALETTE, empty_chart, esc, short_number, svg_open, text

WIDTH = 960
LABEL_WIDTH, VALUE_WIDTH, ROW_HEIGHT, TOP = 400, 140, 22, 28


def stage_entries(artifacts: list[dict]) -> list[dict]:
    """One entry per distinct artifact file: the teacher's first (the reference for the ratios), then
    what each stage made, in pipeline order."""
    entries, seen = [], set()
    teacher_first = sorted(artifacts, key=lambda a: a.get("model") != "teacher")  # stable: keeps pipeline order
    for artifact in teacher_first:
        if artifact.get("sha256") in seen:
            continue
        seen.add(artifact.get("sha256"))
        meta = artifact.get("meta") or {}
        where = f" @{artifact['target']}" if artifact.get("target") else ""
        entries.append({
            "label": f"{artifact.get('stage', '?')}: {artifact.get('model', '?')} {artifact.get('precision', '')}{where}",
            "params": meta.get("params"),
            "macs": meta.get("macs"),
            "size_bytes": artifact.get("size_bytes"),
        })
    return entries


def metric_bars(entries: list[dict], metric: str, title: str, unit: str = "") -> str:
    name = f"stage-{metric}"
    values = [e[metric] for e in entries if e.get(metric)]
    if not values:
        return empty_chart(name, WIDTH, f"{title}: not recorded for any artifact")
    largest = max(values)
    reference = next((e[metric] for e in entries if e.get(metric)), None)
    bar_span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    height = TOP + ROW_HEIGHT * len(entries) + 10
    parts = [svg_open(WIDTH, height, name, title), text(0, 16, title, "start", "chart-title")]
    for index, entry in enumerate(entries):
        y = TOP + index * ROW_HEIGHT
        parts.append(text(LABEL_WIDTH - 8, y + 14, entry["label"], "end", "bar-label"))
        value = entry.get(metric)
        if not value:
            parts.append(text(LABEL_WIDTH, y + 14, "not recorded", "start", "muted"))
            continue
        length = max(bar_span * value / largest, 1.0)
        color = PALETTE[index % len(PALETTE)]
        tip = f"{entry['label']}: {short_number(value)}{unit}"
        parts.append(f'<rect class="mark bar" data-mark="1" x="{LABEL_WIDTH}" y="{y + 3}" width="{length:.1f}" height="{ROW_HEIGHT - 6}" fill="{color}"><title>{esc(tip)}</title></rect>')
        ratio = f" ({value / reference:.2f}×)" if reference else ""
        parts.append(text(LABEL_WIDTH + length + 6, y + 14, f"{short_number(value)}{unit}{ratio}", "start", "bar-value"))
    parts.append("</svg>")
    return "".join(parts)
