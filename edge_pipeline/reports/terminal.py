"""The compact tables `run` prints (to stderr) when it ends: each target's recommended artifact, then
one line per artifact and runtime mode at its smallest batch, like the summary of `yolo benchmark`.
The bundle's reports hold the rest."""

from __future__ import annotations

import json
from pathlib import Path

from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.reports.recommend import SECTION as RECOMMENDED

HEADERS = ["target", "model", "artifact", "runtime", "p50 ms", "vs FP32", "worst cosine", "accuracy %", "size MB",
           "timed on"]


def results_table(rows: list[BenchmarkRow]) -> list[str]:
    chosen = _smallest_batch_per_artifact(rows)
    if not chosen:
        return []
    cells = [HEADERS] + [_cells(row) for row in chosen]
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADERS))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            for line in cells]


def _smallest_batch_per_artifact(rows: list[BenchmarkRow]) -> list[BenchmarkRow]:
    best: dict[tuple[str, str], BenchmarkRow] = {}
    for row in rows:
        key = (row.artifact_id, row.runtime_variant)
        current = best.get(key)
        if current is None or (row.batch_size, -row.threads) < (current.batch_size, -current.threads):
            best[key] = row
    return sorted(best.values(), key=lambda r: (r.target, r.model, r.artifact_id, r.runtime_variant))


def _cells(row: BenchmarkRow) -> list[str]:
    cosine = min((f.cosine for f in row.fidelity.values()), default=None)
    speedup = row.speedup_vs_baseline
    where = "simulated" if row.simulated else ("host, not device" if row.measured_on == "host" else "here")
    return [
        row.target, row.model, row.artifact_id.rsplit("/", 1)[-1], row.runtime_variant, f"{row.latency_ms.p50:.3f}",
        "–" if speedup is None else f"{speedup:.2f}x",
        "–" if cosine is None else f"{cosine:.4f}",
        "–" if row.accuracy is None else f"{row.accuracy:.2f}",
        f"{row.size_bytes / 1e6:.2f}" if row.size_bytes else "–",
        where,
    ]


def recommended_table(section: dict) -> list[str]:
    """Per target the decision, before the rows it came from: the artifact to ship (or why none yet),
    its speedup over FP32, its worst cosine and the reason."""
    if not section:
        return []
    cells = [RECOMMENDED_HEADERS] + [_recommended_cells(target, entry) for target, entry in sorted(section.items())]
    widths = [max(len(line[i]) for line in cells) for i in range(len(RECOMMENDED_HEADERS))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            for line in cells]


RECOMMENDED_HEADERS = ["target", "recommended", "runtime", "vs FP32", "worst cosine", "why"]


def _recommended_cells(target: str, entry: dict) -> list[str]:
    speedup, cosine = entry.get("speedup_vs_fp32"), entry.get("worst_cosine")
    chosen = entry.get("artifact_id")
    return [target, chosen.rsplit("/", 1)[-1] if chosen else f"none ({entry.get('status', '?')})",
            entry.get("runtime_variant") or "–", "–" if speedup is None else f"{speedup:.2f}x",
            "–" if cosine is None else f"{cosine:.4f}", str(entry.get("reason", ""))]


def bundle_results_table(bundle: Path) -> list[str]:
    """The tables for a written bundle: each target's recommended artifact first, then the rows;
    empty when it has no timed rows or its report cannot be read (the summary is a courtesy: the
    bundle is the result)."""
    try:
        report = json.loads((bundle / "report.json").read_text())
        rows = [BenchmarkRow.model_validate(row) for row in report.get("results", [])]
        section = report.get(RECOMMENDED) or {}
    except (OSError, ValueError, AttributeError):
        return []
    decided = recommended_table(section) if isinstance(section, dict) else []
    return decided + ([""] if decided else []) + results_table(rows)
