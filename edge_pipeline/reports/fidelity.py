"""Fidelity per output, against each model's FP32 reference on its target: one line per artifact,
runtime variant and output (rows of other batch sizes and threads share it), for report.md and .html."""

from __future__ import annotations

from dataclasses import dataclass

from edge_pipeline.benchmarking.fidelity import OutputFidelity
from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.reports.tables import markdown_table

HEADERS = ["target", "model", "artifact", "runtime", "output", "cosine", "SQNR dB", "max |diff|", "top-1 agree %"]


@dataclass(frozen=True)
class FidelityLine:
    row: BenchmarkRow
    output: str
    figures: OutputFidelity

    def cells(self) -> list[str]:
        figures = self.figures
        return [
            self.row.target, self.row.model, self.row.artifact_id.rsplit("/", 1)[-1],
            f"{self.row.backend}:{self.row.runtime_variant}", self.output, f"{figures.cosine:.5f}",
            _number(figures.sqnr_db, "{:.1f}"), f"{figures.max_abs_diff:.3g}",
            "–" if figures.top1_agreement is None else f"{figures.top1_agreement:.2f}",
        ]


def fidelity_lines(rows: list[BenchmarkRow]) -> list[FidelityLine]:
    return [FidelityLine(row, name, figures) for row in _one_per_artifact(rows, lambda r: bool(r.fidelity))
            for name, figures in row.fidelity.items()]


def _one_per_artifact(rows: list[BenchmarkRow], keep) -> list[BenchmarkRow]:
    """The first row ``keep`` accepts per artifact and runtime variant (rows of other batch sizes and
    threads share its fidelity and metrics), in report order."""
    seen: set[tuple[str, str]] = set()
    chosen = []
    for row in sorted(rows, key=lambda r: (r.target, r.model, r.artifact_id, r.runtime_variant)):
        key = (row.artifact_id, row.runtime_variant)
        if key not in seen and keep(row):
            seen.add(key)
            chosen.append(row)
    return chosen


def render_fidelity_markdown(rows: list[BenchmarkRow]) -> list[str]:
    lines = fidelity_lines(rows)
    if not lines:
        return []
    return (["", "## Fidelity per output (vs the same model's FP32 on its target)", ""]
            + markdown_table(HEADERS, [line.cells() for line in lines]))


def _number(value: float, pattern: str) -> str:
    return "∞" if value == float("inf") else pattern.format(value)


def metric_table(rows: list[BenchmarkRow]) -> tuple[list[str], list[list[str]]]:
    """The recipe's task metric per artifact and runtime variant: each figure, with its change vs the
    same model's FP32 reference row on the target in brackets. Empty when no row has figures."""
    measured = [r for r in rows if r.metrics]
    names = sorted({name for r in measured for name in r.metrics})
    if not names:
        return [], []
    references = {(r.model, r.target): r.metrics for r in measured if r.precision == "fp32" and r.reference_variant}
    lines = []
    for row in _one_per_artifact(measured, lambda r: True):
        reference = references.get((row.model, row.target), {})
        lines.append([row.target, row.model, row.artifact_id.rsplit("/", 1)[-1],
                      f"{row.backend}:{row.runtime_variant}"]
                     + [_figure(row.metrics.get(name), reference.get(name)) for name in names])
    return ["target", "model", "artifact", "runtime", *names], lines


def render_metric_markdown(rows: list[BenchmarkRow]) -> list[str]:
    headers, lines = metric_table(rows)
    if not lines:
        return []
    return (["", "## Task metric (the recipe's metric over data.eval; change vs FP32 in brackets)", ""]
            + markdown_table(headers, lines))


def _figure(value: float | None, reference: float | None) -> str:
    if value is None:
        return "–"
    change = "" if reference is None else f" ({value - reference:+.4g})"
    return f"{value:.4g}{change}"
