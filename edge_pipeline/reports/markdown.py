"""report.md: the results table, with ratios against the FP32 teacher baseline."""

from __future__ import annotations

from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.reports.divergence import render_divergence_markdown
from edge_pipeline.reports.fidelity import render_fidelity_markdown, render_metric_markdown
from edge_pipeline.reports.mobile import render_mobile_markdown
from edge_pipeline.reports.precision import render_precision_markdown
from edge_pipeline.reports.report_rows import report_rows

HEADER = (
    "| target | model | precision | runtime | batch | threads | rounds | p50 ms | p90 ms | p99 ms | throughput/s "
    "| speedup | accuracy % | Δacc | top-1 agree % | size KiB | size ratio | MACs M | params M | peak MiB |"
)


def _fmt(value, pattern: str, missing: str = "–") -> str:
    return missing if value is None else pattern.format(value)


def table_order(row: BenchmarkRow) -> tuple:
    """Per target and configuration, slowest first, so the fastest artifact ends each block."""
    return (row.target, row.batch_size, row.threads, -row.latency_ms.p50)


def render_markdown(report: dict) -> str:
    lines = [f"# edge_pipeline report: {report['recipe']}", "", f"Baseline: {report['baseline']}.", ""]
    lines += [HEADER, "|" + "---|" * (HEADER.count("|") - 1)]
    rows = report_rows(report)
    lines += [_table_line(row) for row in sorted(rows, key=table_order)]
    lines += render_fidelity_markdown(rows)
    lines += render_metric_markdown(rows)
    lines += render_precision_markdown(report.get("precision", []))
    lines += render_divergence_markdown(report.get("divergence", []))
    if report.get("mobile"):
        lines += render_mobile_markdown(report["mobile"])
    for note in report.get("notes", []):
        lines += ["", f"- {note}"]
    return "\n".join(lines) + "\n"


def _table_line(row: BenchmarkRow) -> str:
    latency = row.latency_ms
    cells = [
        row.target,
        row.model,
        row.artifact_id.rsplit("/", 1)[-1],  # precision plus format, e.g. int8-ort-fixed
        f"{row.backend}:{row.runtime_variant}" + (" (host)" if row.measured_on == "host" else ""),
        str(row.batch_size),
        str(row.threads),
        str(len(row.round_p50_ms) or 1),  # fresh processes pooled into the percentiles
        f"{latency.p50:.3f}",
        f"{latency.p90:.3f}",
        f"{latency.p99:.3f}",
        f"{row.throughput_per_s:.0f}",
        _fmt(row.speedup_vs_baseline, "{:.2f}×"),
        _fmt(row.accuracy, "{:.2f}"),
        _fmt(row.accuracy_delta_vs_baseline, "{:+.2f}"),
        _fmt(row.top1_agreement, "{:.2f}"),
        f"{row.size_bytes / 1024:.0f}",
        _fmt(row.size_ratio_vs_baseline, "{:.2f}"),
        _fmt(row.macs and row.macs / 1e6, "{:.1f}"),
        _fmt(row.params and row.params / 1e6, "{:.3f}"),
        f"{row.peak_memory_bytes / 2**20:.1f}",
    ]
    return "| " + " | ".join(cells) + " |"
