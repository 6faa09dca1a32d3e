"""report.html: one self-contained page a person reads at a glance (inline SVG, no network, no CDN).

Top to bottom: measurement warnings, where and how the run was measured, the headline artifact per
target (headline-eligible rows only), accuracy vs latency as one panel per target, the latency spread
of every row, params/MACs/size through the stages, each artifact's quantization settings and checks,
the full table (the same columns as report.md), fidelity, and the run's notes folded in a <details>.
"""

from __future__ import annotations

from pathlib import Path

from edge_pipeline.artifacts.atomic import write_text
from edge_pipeline.artifacts.record import Artifact
from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.reports.device_rows import report_device_rows
from edge_pipeline.reports.failed_targets import EXPLANATION, HEADING, failed_targets, failure_line
from edge_pipeline.reports.gates.run_loading import load_run
from edge_pipeline.reports.html.page import SCRIPT, STYLE
from edge_pipeline.reports.html.recommended import recommended_cards
from edge_pipeline.reports.html.svg_bars import metric_bars, stage_entries
from edge_pipeline.reports.html.svg_canvas import PALETTE, esc
from edge_pipeline.reports.html.svg_latency import latency_distribution_chart
from edge_pipeline.reports.html.svg_scatter import accuracy_latency_panels, legend_html
from edge_pipeline.reports.html.table import (
    artifact_checks_html,
    device_rows_table,
    divergence_table_html,
    fidelity_table,
    metric_table_html,
    precision_table_html,
    results_table,
)
from edge_pipeline.reports.markdown import DEVICE_ROWS_NOTE
from edge_pipeline.reports.notes import note_lines
from edge_pipeline.reports.registry import register_report_writer
from edge_pipeline.reports.report_rows import report_rows
from edge_pipeline.reports.row_status import glance, glance_facts, short_label
from edge_pipeline.reports.run_info import has_run_info, measurement_warnings, run_info_items
from edge_pipeline.reports.tables import runtime_clock_note

HTML_REPORT_NAME = "report.html"


def render_html(report: dict, artifacts: list[dict], manifest: dict | None = None) -> str:
    """The page for one run; ``artifacts`` are manifest-style artifact records in pipeline order;
    ``manifest`` (a finished bundle's) stands in for run info a report predating it lacks."""
    return _page(report, report_rows(report), artifacts, manifest)


def model_colors(rows: list[BenchmarkRow], artifacts: list[dict]) -> dict[str, str]:
    """One colour per model, teacher first, the same in every chart of the page."""
    models = list(dict.fromkeys([r.model for r in rows] + [str(a.get("model")) for a in artifacts if a.get("model")]))
    ordered = sorted(models, key=lambda m: (m != "teacher", models.index(m)))
    return {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(ordered)}


def _page(report: dict, rows: list[BenchmarkRow], artifacts: list[dict], manifest: dict | None = None) -> str:
    colors = model_colors(rows, artifacts)
    panels = accuracy_latency_panels(rows, colors)
    entries = stage_entries(artifacts)
    bars = [
        metric_bars(entries, "params", "Parameters"),
        metric_bars(entries, "macs", "MACs per sample"),
        metric_bars(entries, "size_bytes", "Artifact size", "B"),
    ]
    spreads = _per_config(rows, lambda own, name: latency_distribution_chart(own, name, colors), "Latency spread")
    chart_count = len(panels) + len(bars) + len(spreads)
    title = f"edge_pipeline report: {report.get('recipe', '?')}"
    sections = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="sub">Targets: {esc(", ".join(report.get("targets", [])))}. '
        f'Baseline: {esc(report.get("baseline", "?"))}.</p>',
        _warnings(measurement_warnings(report)),
        _failed_targets(report),
        _run_info(report, manifest),
        recommended_cards(report),
        "<h2>At a glance</h2>",
        '<p class="sub">Per target, the fastest artifact nobody beats on both speed and accuracy, among rows timed '
        "for real on the target's ISA; host-timed and simulated rows never headline.</p>",
        _glance(rows),
        "<h2>Accuracy vs latency</h2>",
        '<p class="sub">One panel per target (same axes within a batch/threads setting; latency on a log scale). '
        "Numbers name the points in the table under each panel; ringed points form the Pareto front of the "
        "target's real timings (nothing else is both faster and more accurate).</p>",
        legend_html(colors, [r for r in rows if r.accuracy is not None]),
        f'<div class="panels">{"".join(panels)}</div>',
        "<h2>Latency spread</h2>",
        '<p class="sub">One line per row: thin bar p5–p95, box p25–p75, black tick the median (its value on the '
        "right); log scale. Grey rows were timed on this host or in a stand-in runtime.</p>",
        *spreads,
        "<h2>Model size through the stages</h2>",
        '<p class="sub">Ratios are against the first (teacher) entry.</p>',
        *bars,
        artifact_checks_html(artifacts, rows),
        "<h2>All results</h2>",
        '<p class="sub">Click a header to sort. Grey italic rows may not headline (host-timed or simulated).</p>',
        results_table(rows),
        _clock_note(rows),
        device_rows_table(report_device_rows(report, f"report of recipe {report.get('recipe', '?')!r}"),
                          DEVICE_ROWS_NOTE),
        fidelity_table(rows),
        metric_table_html(rows),
        precision_table_html(report.get("precision", [])),
        divergence_table_html(report.get("divergence", [])),
        _notes(report, rows, artifacts),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
        f'<body data-charts-expected="{chart_count}">' + "\n".join(s for s in sections if s)
        + f"<script>{SCRIPT}</script></body></html>\n"
    )


def _per_config(rows: list[BenchmarkRow], chart, name: str) -> list[str]:
    """One chart per (batch size, threads): latencies of different configurations are not comparable."""
    configs = sorted({(r.batch_size, r.threads) for r in rows})
    if not configs:
        return [chart([], name)]
    return [chart([r for r in rows if (r.batch_size, r.threads) == c], f"{name}, batch {c[0]}, {c[1]} threads")
            for c in configs]


def _clock_note(rows: list[BenchmarkRow]) -> str:
    note = runtime_clock_note(rows)
    return f'<p class="sub">{esc(note)}</p>' if note else ""


def _warnings(warnings: list[str]) -> str:
    """Problems with the measurement as a whole, before any figure is read."""
    if not warnings:
        return ""
    items = "".join(f"<li>{esc(w)}</li>" for w in warnings)
    return f'<div class="warn" role="alert"><b>Measurement warnings</b><ul>{items}</ul></div>'


def _failed_targets(report: dict) -> str:
    """Targets the bundle lacks, said where a reader looks first: nothing below shows them."""
    failures = failed_targets(report)
    if not failures:
        return ""
    items = "".join(f"<li>{esc(failure_line(f))}</li>" for f in failures)
    return (f'<div class="warn failed-targets" role="alert"><b>{esc(HEADING)}</b>'
            f"<p>{esc(EXPLANATION)}</p><ul>{items}</ul></div>")


def _run_info(report: dict, manifest: dict | None) -> str:
    items = run_info_items(report, manifest)
    if not items:
        return '<p class="sub muted">Run info: not recorded in this report.</p>'
    source = "" if has_run_info(report) else " (from manifest.json: this report predates run info)"
    cells = "".join(f"<dt>{esc(label)}</dt><dd>{esc(value)}</dd>" for label, value in items)
    return f'<section class="runinfo"><h2>Run{esc(source)}</h2><dl>{cells}</dl></section>'


def _glance(rows: list[BenchmarkRow]) -> str:
    cards = [_glance_card(target, best, why) for target, best, why in glance(rows)]
    return f'<div class="glance">{"".join(cards) or "<p>No benchmark rows.</p>"}</div>'


def _glance_card(target: str, best: BenchmarkRow | None, why: str) -> str:
    if best is None:
        return (f'<div class="card card-none"><div class="muted">{esc(target)}</div><b>no headline</b>'
                f"<br>{esc(why)}; see the table</div>")
    facts = "<br>".join(esc(f) for f in glance_facts(best))
    return (f'<div class="card"><div class="muted">{esc(target)}</div><b>{esc(short_label(best))}</b> '
            f"<span class=\"muted\">{esc(best.backend)}:{esc(best.runtime_variant)}</span><br>{facts}</div>")


def _notes(report: dict, rows: list[BenchmarkRow], artifacts: list[dict]) -> str:
    """The run's notes folded (one line per repeated sentence) and collapsed: they explain, the
    warnings above alarm."""
    ids = {r.artifact_id for r in rows} | {str(a["id"]) for a in artifacts if a.get("id")}
    lines = note_lines(report, ids)
    if not lines:
        return ""
    count = len(report.get("notes", []))
    folded = f", {len(lines)} lines once repeats are folded" if len(lines) < count else ""
    items = "".join(f"<li>{esc(line)}</li>" for line in lines)
    return (f'<h2>Notes</h2><details class="notes"><summary>{_plural(count, "note")} from the run{folded} '
            f"(click to open)</summary><ul>{items}</ul></details>")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def render_bundle_html(bundle: Path) -> str:
    """Re-render the page of a finished bundle from its report.json and manifest.json."""
    run = load_run(bundle)  # a bad report or row is a ReportInputError naming the file and the row
    artifacts = run.manifest.get("artifacts", []) if run.manifest else []
    return _page(run.report, run.rows, artifacts, run.manifest)


@register_report_writer
def write_html_report(report: dict, artifacts: list[Artifact], bundle_dir: Path) -> None:
    records = [artifact.model_dump(mode="json") for artifact in artifacts]
    write_text(Path(bundle_dir) / HTML_REPORT_NAME, render_html(report, records))
