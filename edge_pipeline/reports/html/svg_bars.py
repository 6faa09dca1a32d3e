"""Horizontal bars of params, MACs and size for each model the run produced, teacher first."""

from __future__ import annotations

from edge_pipeline.reports.html.svg_canvas import PALETTE, empty_chart, esc, short_number, svg_open, text
from edge_pipeline.reports.json_report import own_model

WIDTH = 960
LABEL_WIDTH, VALUE_WIDTH, ROW_HEIGHT, TOP = 400, 140, 22, 28


def stage_entries(artifacts: list[dict]) -> list[dict]:
    """Teacher to final student: each model's FP32 artifact (its exported ONNX, else what distill or
    prune saved), then its INT8 artifact for the first target.

    Every target quantizes the same models, so repeating the chain per target would only repeat the
    bars; the first target stands for them (the full per-target figures are in the table).
    """
    shaping = [a for a in artifacts if a.get("stage") in ("distill", "prune", "export")]
    primary = next((a["target"] for a in artifacts if a.get("target") and a.get("precision") == "int8"), None)
    entries = []
    models = list(dict.fromkeys(a.get("model") for a in shaping))
    reference = own_model(shaping)
    for model in sorted(models, key=lambda name: name != reference):  # the recipe's model is the ratios' reference
        own = [a for a in shaping if a.get("model") == model]
        exported = [a for a in own if a.get("stage") == "export"]
        entries.append(_entry((exported or own)[-1]))
        entries += [
            _entry(a)
            for a in artifacts
            if a.get("model") == model and a.get("target") == primary and a.get("precision") == "int8"
            and a.get("kind") == "onnx"
        ][:1]
    return entries


def _entry(artifact: dict) -> dict:
    meta = artifact.get("meta") or {}
    where = f" @{artifact['target']}" if artifact.get("target") else ""
    return {
        "label": f"{artifact.get('model', '?')} {artifact.get('precision', '')}{where}",
        "params": meta.get("params"),
        "macs": meta.get("macs", meta.get("macs_torch")),
        "size_bytes": artifact.get("size_bytes"),
    }


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
        parts.append(f'<rect class="mark bar" data-mark="1" x="{LABEL_WIDTH}" y="{y + 3}" width="{length:.1f}" '
                     f'height="{ROW_HEIGHT - 6}" fill="{color}"><title>{esc(tip)}</title></rect>')
        ratio = f" ({value / reference:.2f}×)" if reference else ""
        parts.append(text(LABEL_WIDTH + length + 6, y + 14, f"{short_number(value)}{unit}{ratio}", "start",
                          "bar-value"))
    parts.append("</svg>")
    return "".join(parts)
