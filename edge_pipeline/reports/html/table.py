"""The tables of report.html: the full results (same columns as report.md: reports/tables.py), the
per-artifact quantization and export checks, fidelity, task metric, float layers and divergence."""

from __future__ import annotations

from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.reports.artifact_checks import HEADERS as CHECK_HEADERS
from edge_pipeline.reports.artifact_checks import artifact_check_table
from edge_pipeline.reports.device_rows import DeviceRow
from edge_pipeline.reports.html.svg_canvas import esc
from edge_pipeline.reports.row_status import headline_eligible
from edge_pipeline.reports.tables import DEVICE_COLUMNS, RESULT_COLUMNS, Column, RowT, device_order, table_order


def results_table(rows: list[BenchmarkRow]) -> str:
    head = "".join(f'<th scope="col" title="{esc(c.title or "click to sort")}">{esc(c.header)}</th>'
                   for c in RESULT_COLUMNS)
    body = []
    for row in sorted(rows, key=table_order):
        # The baseline's own row only: a bf16 hint on the same artifact shares its id, not its role.
        is_baseline = row.reference_variant and row.baseline_artifact_id == row.artifact_id
        classes = ["baseline-row"] if is_baseline else []
        classes += [] if headline_eligible(row) else ["not-headline"]
        klass = f' class="{" ".join(classes)}"' if classes else ""
        body.append(f"<tr{klass}>" + "".join(_cell(column, row) for column in RESULT_COLUMNS) + "</tr>")
    return (f'<div class="table-wrap"><table id="results"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def device_rows_table(rows: list[DeviceRow], note: str) -> str:
    """The device rows (report.md's columns), apart from the results: timed on the boards."""
    if not rows:
        return ""
    head = "".join(f'<th scope="col" title="{esc(c.title or "click to sort")}">{esc(c.header)}</th>'
                   for c in DEVICE_COLUMNS)
    body = "".join("<tr>" + "".join(_cell(column, row) for column in DEVICE_COLUMNS) + "</tr>"
                   for row in sorted(rows, key=device_order))
    return (f'<h2>Device rows</h2><p class="sub">{esc(note)}</p><div class="table-wrap"><table id="device-rows">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


def _cell(column: Column[RowT], row: RowT) -> str:
    # The shown text is the Markdown cell's; the sort key keeps the number so sorting is numeric.
    shown, key = column.text(row), column.sort_key(row)
    klass = ' class="muted"' if key == "" else (' class="warnings"' if column.header == "warnings" else "")
    return f'<td data-sort="{esc(key)}"{klass}>{esc(shown)}</td>'


def artifact_checks_html(artifacts: list[dict], rows: list[BenchmarkRow]) -> str:
    """How each timed artifact was quantized and checked, and its model's export check."""
    lines = artifact_check_table(artifacts, {r.artifact_id for r in rows})
    if not lines:
        return ""
    return _titled_table("Quantization settings and checks", "Per timed artifact: the quantizer's settings, its "
                         "calibration, the quantize stage's check against the FP32 ONNX (worst output) and the "
                         "export check of the model it came from.", 'id="artifact-checks"', CHECK_HEADERS, lines)


def fidelity_table(rows: list[BenchmarkRow]) -> str:
    """Per artifact, runtime variant and output: cosine, SQNR, max |diff|, top-1 agreement."""
    from edge_pipeline.reports.fidelity import HEADERS, fidelity_lines

    lines = fidelity_lines(rows)
    if not lines:
        return ""
    return _titled_table("Fidelity per output", "Against the same model\'s FP32 on its target.", 'id="fidelity"',
                         HEADERS, [line.cells() for line in lines])


def metric_table_html(rows: list[BenchmarkRow]) -> str:
    """The recipe's task metric per artifact and runtime variant (empty without a metric)."""
    from edge_pipeline.reports.fidelity import metric_table

    headers, lines = metric_table(rows)
    if not lines:
        return ""
    return _titled_table("Task metric", "The recipe\'s metric over data.eval; change vs FP32 in brackets.",
                         'id="task-metric"', headers, lines)


def precision_table_html(section: list[dict]) -> str:
    """Per INT8 artifact, the compute layers its runtime runs in float, and why."""
    from edge_pipeline.reports.precision import precision_table

    if not section:
        return ""
    from edge_pipeline.reports.precision import placement_table

    floats = _titled_table("What runs in float", "Read back from each runtime after its own graph optimizations "
                           "(ONNX Runtime\'s optimized graph, OpenVINO\'s executed precisions).", 'id="precision"',
                           *precision_table(section))
    headers, rows = placement_table(section)
    if not rows:
        return floats
    return floats + _titled_table("Kept float, and why", "Each mixed INT8 artifact\'s float layers: slower in INT8 "
                                  "than in FP32 on this CPU (per-layer times per inference from the runtime\'s "
                                  "profiler, Q/DQ and reorders included), or needed for the fidelity floor.",
                                  'id="placement"', headers, rows)


def divergence_table_html(section: list[dict]) -> str:
    """Per model: the most divergent layers' SQNR to FP32, one column per INT8 artifact."""
    from edge_pipeline.reports.divergence import divergence_table

    return "".join(
        _titled_table(f"Where INT8 departs from FP32, per layer: {esc(group['model'])}",
                      "SQNR dB of each layer\'s output to FP32 as each runtime computes it (higher is closer); "
                      f"the {len(group['layers'])} most divergent of {group['layers_compared']} layers.",
                      'class="divergence"', *divergence_table(group))
        for group in section)


def _titled_table(title: str, subtitle: str, attributes: str, headers: list[str], rows: list[list[str]]) -> str:
    """A heading, its one-line explanation and a plain table of text cells (escaped here)."""
    head = "".join(f'<th scope="col">{esc(name)}</th>' for name in headers)
    body = "".join("<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return (f'<h2>{title}</h2><p class="sub">{subtitle}</p><div class="table-wrap"><table {attributes}>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")
