"""report.html: one self-contained page a person reads at a glance (inline SVG, no network, no CDN).

Sections: best artifacts per target, accuracy-vs-latency with the Pareto front (one chart per
batch/threads configuration), params/MACs/size from the teacher through each stage, latency
distributions, the full table with ratios against the FP32 teacher, and the run's notes.
"""

from __future__ import annotations

from pathlib import Path

from edge_pipeline.artifacts.atomic import write_text
from edge_pipeline.artifacts.record import Artifact
from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.reports.gates.run_loading import load_run
from edge_pipeline.reports.html.page import SCRIPT, STYLE
from edge_pipeline.reports.html.pareto import pareto_front
from edge_pipeline.reports.html.svg_bars import metric_bars, stage_entries
from edge_pipeline.reports.html.svg_canvas import esc
from edge_pipeline.reports.html.svg_latency import latency_distribution_chart
from edge_pipeline.reports.html.svg_scatter import accuracy_latency_chart
from edge_pipeline.reports.html.table import (
    divergence_table_html,
    fidelity_table,
    metric_table_html,
    precision_table_html,
    results_table,
)
from edge_pipeline.reports.registry import register_report_writer
from edge_pipeline.reports.report_rows import report_rows

HTML_REPORT_NAME = "report.html"


def render_html(report: dict, artifacts: list[dict]) -> str:
    """The page for one run; ``artifacts`` are manifest-style artifact records in pipeline order."""
    return _page(report, report_rows(report), artifacts)


def _page(report: dict, rows: list[BenchmarkRow], artifacts: list[dict]) -> str:
    charts = _per_config(rows, accuracy_latency_chart, "Accuracy vs latency")
    entries = stage_entries(artifacts)
    bars = [
        metric_bars(entries, "params", "Parameters"),
        metric_bars(entries, "macs", "MACs per sample"),
        metric_bars(entries, "size_bytes", "Artifact size", "B"),
    ]
    distributions = _per_config(rows, latency_distribution_chart, "Latency distribution")
    chart_count = len(charts) + len(bars) + len(distributions)
    title = f"edge_pipeline report: {report.get('recipe', '?')}"
    sections = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="sub">Targets: {esc(", ".join(report.get("targets", [])))}. '
        f'Baseline: {esc(report.get("baseline", "?"))}.</p>',
        "<h2>At a glance</h2>", _glance(rows),
        "<h2>Accuracy vs latency</h2>",
        '<p class="sub">One point per artifact and runtime variant; ringed points form the Pareto front '
        "(nothing else is both faster and more accurate).</p>",
        *charts,
        "<h2>Model size through the stages</h2>",
        '<p class="sub">Ratios are against the first (teacher) entry.</p>',
        *bars,
        "<h2>Latency distribution</h2>",
        '<p class="sub">Box: p25–p75; whiskers: p1–p99; black line: median with its 95% interval shaded; '
        "dots: individual timed calls; anything past the axis end is drawn at the edge "
        "(its p99 written beside it).</p>",
        *distributions,
        "<h2>All results</h2>", results_table(rows),
        fidelity_table(rows),
        metric_table_html(rows),
        precision_table_html(report.get("precision", [])),
        divergence_table_html(report.get("divergence", [])),
        _notes(report.get("notes", [])),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
        f'<body data-charts-expected="{chart_count}">' + "\n".join(sections)
        + f"<script>{SCRIPT}</script></body></html>\n"
    )


def _per_config(rows: list[BenchmarkRow], chart, name: str) -> list[str]:
    """One chart per (batch size, threads): latencies of different configurations are not comparable."""
    configs = sorted({(r.batch_size, r.threads) for r in rows})
    if not configs:
        return [chart([], name)]
    return [chart([r for r in rows if (r.batch_size, r.threads) == c], f"{name}, batch {c[0]}, {c[1]} threads")
            for c in configs]


def _glance(rows: list[BenchmarkRow]) -> str:
    """Per target: the fastest artifact on the Pareto front, its speedup and accuracy change."""
    cards = [_glance_card(target, best_on_front([r for r in rows if r.target == target]))
             for target in sorted({r.target for r in rows})]
    return f'<div class="glance">{"".join(cards) or "<p>No benchmark rows.</p>"}</div>'


def best_on_front(rows: list[BenchmarkRow]) -> BenchmarkRow:
    """The fastest row no other row beats on both latency and accuracy (scored rows preferred)."""
    candidates = [r for r in rows if r.accuracy is not None] or rows
    front = pareto_front([(r.latency_ms.p50, r.accuracy or 0.0) for r in candidates])
    return candidates[front[0]]


def _glance_card(target: str, best: BenchmarkRow) -> str:
    speedup, delta = best.speedup_vs_baseline, best.accuracy_delta_vs_baseline
    return (
        f'<div class="card"><div class="muted">{esc(target)}</div><b>{esc(best.model)} {esc(best.precision)}</b> '
        f'[{esc(best.runtime_variant)}], batch {best.batch_size}<br>'
        f'p50 {best.latency_ms.p50:.3f} ms' + (f", {speedup:.2f}× vs FP32 teacher" if speedup else "")
        + (f'<br>accuracy {best.accuracy:.2f}% ({delta:+.2f} pp)' if delta is not None else "")
        + f'<br>size {best.size_bytes / 1024:.0f} KiB</div>'
    )


def _notes(notes: list[str]) -> str:
    if not notes:
        return ""
    return "<h2>Notes</h2><ul class=\"notes\">" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>"


def render_bundle_html(bundle: Path) -> str:
    """Re-render the page of a finished bundle from its report.json and manifest.json."""
    run = load_run(bundle)  # a bad report or row is a ReportInputError naming the file and the row
    artifacts = run.manifest.get("artifacts", []) if run.manifest else []
    return _page(run.report, run.rows, artifacts)


@register_report_writer
def write_html_report(report: dict, artifacts: list[Artifact], bundle_dir: Path) -> None:
    records = [artifact.model_dump(mode="json") for artifact in artifacts]
    write_text(Path(bundle_dir) / HTML_REPORT_NAME, render_html(report, records))
