"""Markdown for a CI job summary page: verdict first, then every gate, then the failures spelled out."""

from __future__ import annotations

from edge_pipeline.reports.gates.compare import Comparison
from edge_pipeline.reports.gates.thresholds import FAIL, NOISE, PASS, SKIPPED

STATUS_LABELS = {PASS: "✅ pass", FAIL: "❌ FAIL", NOISE: "〰️ within noise", SKIPPED: "⏭️ skipped"}
GATE_ORDER = {"presence": 0, "latency": 1, "accuracy": 2, "accuracy-absolute": 3, "fidelity": 4, "metric": 5,
              "size": 6, "device-latency": 7}


def render_gate_markdown(comparison: Comparison) -> str:
    limits = comparison.thresholds
    lines = [
        f"## {'✅' if comparison.passed else '❌'} {comparison.headline()}",
        "",
        f"Recipe `{comparison.recipe}`: baseline `{comparison.baseline}` vs new `{comparison.new}`.",
        f"Limits: latency +{limits.max_latency_regression_pct:g}% (p50, {limits.latency_basis}, noise-aware, "
        f"{'also' if limits.latency_across_cpus else 'only'} on the baseline's CPU), "
        f"accuracy -{limits.max_accuracy_drop_pp:g} pp against the run's own FP32 reference and "
        f"-{limits.max_accuracy_drift_pp:g} pp absolute (retraining on another CPU moves it), "
        f"size +{limits.max_size_growth_pct:g}%.",
        "",
    ]
    failed = [r for r in comparison.results if r.status == FAIL]
    if failed:
        lines += ["### Failed gates", ""] + [f"- **{r.gate}** `{r.subject}`: {r.message}" for r in failed] + [""]
    lines += ["### All gates", "", "| gate | artifact / configuration | change | result | detail |",
              "|---|---|---|---|---|"]
    for r in sorted(comparison.results, key=lambda r: (r.subject.split(" ")[0], GATE_ORDER.get(r.gate, 9), r.subject)):
        lines.append(f"| {r.gate} | `{r.subject}` | {r.change or '–'} | {STATUS_LABELS[r.status]} "
                     f"| {_cell(r.message)} |")
    if comparison.notes:
        lines += ["", "### Notes", ""] + [f"- {note}" for note in comparison.notes]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
