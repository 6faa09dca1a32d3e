"""report.md: the same story as report.html in text: measurement warnings, where the run was measured,
each target's recommended artifact, the headline artifact per target, the results table (the HTML's
columns: reports/tables.py), each artifact's quantization settings and checks, fidelity, and the
notes folded and collapsed."""

from __future__ import annotations

from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.reports.artifact_checks import HEADERS as CHECK_HEADERS
from edge_pipeline.reports.artifact_checks import artifact_check_table
from edge_pipeline.reports.device_rows import report_device_rows
from edge_pipeline.reports.divergence import render_divergence_markdown
from edge_pipeline.reports.failed_targets import render_failed_markdown
from edge_pipeline.reports.fidelity import render_fidelity_markdown, render_metric_markdown
from edge_pipeline.reports.mobile import render_mobile_markdown
from edge_pipeline.reports.notes import note_lines
from edge_pipeline.reports.precision import render_precision_markdown
from edge_pipeline.reports.recommended_view import render_recommended_markdown
from edge_pipeline.reports.report_rows import report_rows
from edge_pipeline.reports.row_status import glance, glance_facts, short_label
from edge_pipeline.reports.run_info import has_run_info, measurement_warnings, run_info_items
from edge_pipeline.reports.tables import (
    DEVICE_COLUMNS,
    RESULT_COLUMNS,
    device_cells,
    markdown_table,
    result_cells,
    runtime_clock_note,
    table_order,
)

__all__ = ["render_markdown", "table_order"]  # table_order: its old home, kept for importers


def render_markdown(report: dict, artifacts: list[dict] | None = None) -> str:
    """``artifacts``: manifest-style artifact records (quantization settings and checks); without
    them that section is left out."""
    rows = report_rows(report)
    lines = [f"# edge_pipeline report: {report['recipe']}", "", f"Baseline: {report['baseline']}.", ""]
    lines += _warnings(measurement_warnings(report))
    lines += render_failed_markdown(report)
    lines += _run_info(report)
    lines += render_recommended_markdown(report)
    lines += _glance(rows)
    lines += ["## Results", "", "Rows marked `headline: no` were timed on this host (not the device) or in a "
              "stand-in runtime: shown for reference, never headlined.", ""]
    lines += markdown_table([c.header for c in RESULT_COLUMNS], result_cells(rows))
    lines += _clock_note(rows)
    lines += _device_rows(report)
    lines += _artifact_checks(artifacts or [], rows)
    lines += render_fidelity_markdown(rows)
    lines += render_metric_markdown(rows)
    lines += render_precision_markdown(report.get("precision", []))
    lines += render_divergence_markdown(report.get("divergence", []))
    if report.get("mobile"):
        lines += render_mobile_markdown(report["mobile"])
    lines += _notes(report, rows, artifacts or [])
    return "\n".join(lines) + "\n"


DEVICE_ROWS_NOTE = ("Timed on the boards themselves over ssh (`edge-pipeline benchmark --device NAME --bundle`), "
                    "never mixed with the rows above; report.json's device_results keeps each row's board "
                    "fingerprint, runtime versions and artifact sha256.")


def _device_rows(report: dict) -> list[str]:
    rows = report_device_rows(report, f"report of recipe {report.get('recipe', '?')!r}")
    if not rows:
        return []
    return (["", "## Device rows", "", DEVICE_ROWS_NOTE, ""]
            + markdown_table([c.header for c in DEVICE_COLUMNS], device_cells(rows)))


def _clock_note(rows: list[BenchmarkRow]) -> list[str]:
    note = runtime_clock_note(rows)
    return ["", note] if note else []


def _warnings(warnings: list[str]) -> list[str]:
    if not warnings:
        return []
    return ["> **Measurement warnings**", ">"] + [f"> - {w}" for w in warnings] + [""]


def _run_info(report: dict) -> list[str]:
    items = run_info_items(report)
    if not items:
        return ["Run info: not recorded in this report.", ""]
    source = "" if has_run_info(report) else " (from the manifest)"
    return [f"## Run{source}", ""] + [f"- **{label}**: {value}" for label, value in items] + [""]


def _glance(rows: list[BenchmarkRow]) -> list[str]:
    lines = ["## At a glance", ""]
    for target, best, why in glance(rows):
        if best is None:
            lines.append(f"- **{target}**: no headline: {why}; see the table")
        else:
            lines.append(f"- **{target}**: {short_label(best)} ({best.backend}:{best.runtime_variant}): "
                         + ", ".join(glance_facts(best)))
    return lines + [""]


def _artifact_checks(artifacts: list[dict], rows: list[BenchmarkRow]) -> list[str]:
    lines = artifact_check_table(artifacts, {r.artifact_id for r in rows})
    if not lines:
        return []
    return ["", "## Quantization settings and checks", ""] + markdown_table(CHECK_HEADERS, lines)


def _notes(report: dict, rows: list[BenchmarkRow], artifacts: list[dict]) -> list[str]:
    ids = {r.artifact_id for r in rows} | {str(a["id"]) for a in artifacts if a.get("id")}
    lines = note_lines(report, ids)
    if not lines:
        return []
    # <details> folds in GitHub and most Markdown viewers; the blank lines let the list inside render.
    count = len(report.get("notes", []))
    summary = f"{count} note{'' if count == 1 else 's'} from the run"
    return ["", "## Notes", "", f"<details><summary>{summary}</summary>", ""] + [f"- {line}" for line in lines] \
        + ["", "</details>"]
