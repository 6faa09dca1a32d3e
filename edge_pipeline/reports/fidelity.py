"""Fidelity per output, against each model's FP32 reference on its target: one line per artifact,
runtime variant and output (rows of other batch sizes and threads share it), for report.md and .html."""

from __future__ import annotations

from dataclasses import dataclass

from edge_pipeline.benchmarking.fidelity import OutputFidelity
from edge_pipeline.benchmarking.rows import BenchmarkRow

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
    seen: set[tuple[str, str]] = set()
    lines = []
    for row in sorted(rows, key=lambda r: (r.target, r.model, r.artifact_id, r.runtime_variant)):
        key = (row.artifact_id, row.runtime_variant)
        if key in seen or not row.fidelity:
            continue
        seen.add(key)
        lines += [FidelityLine(row, name, figures) for name, figures in row.fidelity.items()]
    return lines


def render_fidelity_markdown(rows: list[BenchmarkRow]) -> list[str]:
    lines = fidelity_lines(rows)
    if not lines:
        return []
    out = ["", "## Fidelity per output (vs the same model's FP32 on its target)", "",
           "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    return out + ["| " + " | ".join(line.cells()) + " |" for line in lines]


def _number(value: float, pattern: str) -> str:
    return "∞" if value == float("inf") else pattern.format(value)
