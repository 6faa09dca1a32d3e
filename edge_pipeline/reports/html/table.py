"""The full results table of report.html, with ratios against the FP32 teacher on the same target."""

from __future__ import annotations

from collections.abc import Callable

from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.reports.html.svg_canvas import esc
from edge_pipeline.reports.markdown import table_order

# (header, how to get the cell's number from a row, format). Numbers go in data-sort so sorting is numeric.
COLUMNS: list[tuple[str, Callable[[BenchmarkRow], object], str]] = [
    ("target", lambda r: r.target, "{}"),
    ("model", lambda r: r.model, "{}"),
    ("precision", lambda r: r.precision, "{}"),
    ("runtime", lambda r: f"{r.backend}:{r.runtime_variant}", "{}"),
    ("batch", lambda r: r.batch_size, "{}"),
    ("threads", lambda r: r.threads, "{}"),
    ("rounds", lambda r: len(r.round_p50_ms) or 1, "{}"),
    ("p50 ms", lambda r: r.latency_ms.p50, "{:.3f}"),
    ("p90 ms", lambda r: r.latency_ms.p90, "{:.3f}"),
    ("p99 ms", lambda r: r.latency_ms.p99, "{:.3f}"),
    ("throughput/s", lambda r: r.throughput_per_s, "{:.0f}"),
    ("speedup vs FP32 teacher", lambda r: r.speedup_vs_baseline, "{:.2f}×"),
    ("accuracy %", lambda r: r.accuracy, "{:.2f}"),
    ("Δacc pp", lambda r: r.accuracy_delta_vs_baseline, "{:+.2f}"),
    ("top-1 agree %", lambda r: r.top1_agreement, "{:.2f}"),
    ("size KiB", lambda r: r.size_bytes / 1024, "{:.0f}"),
    ("size vs FP32 teacher", lambda r: r.size_ratio_vs_baseline, "{:.2f}×"),
    ("MACs M", lambda r: r.macs and r.macs / 1e6, "{:.1f}"),
    ("params M", lambda r: r.params and r.params / 1e6, "{:.3f}"),
    ("peak MiB", lambda r: r.peak_memory_bytes / 2**20, "{:.1f}"),
]


def results_table(rows: list[BenchmarkRow]) -> str:
    head = "".join(f'<th scope="col" title="click to sort">{esc(name)}</th>' for name, _, _ in COLUMNS)
    body = []
    for row in sorted(rows, key=table_order):
        klass = ' class="baseline-row"' if row.baseline_artifact_id == row.artifact_id else ""
        body.append(f"<tr{klass}>" + "".join(_cell(getter(row), fmt) for _, getter, fmt in COLUMNS) + "</tr>")
    return (f'<div class="table-wrap"><table id="results"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _cell(value, fmt: str) -> str:
    if value is None or value is False:
        return '<td data-sort="" class="muted">–</td>'
    sort = value if isinstance(value, (int, float)) else esc(value)
    return f'<td data-sort="{sort}">{esc(fmt.format(value))}</td>'


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
    return _titled_table("What runs in float", "Read back from each runtime after its own graph optimizations "
                         "(ONNX Runtime\'s optimized graph, OpenVINO\'s executed precisions).", 'id="precision"',
                         *precision_table(section))


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
