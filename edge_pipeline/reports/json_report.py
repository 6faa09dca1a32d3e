"""report.json: one row per (artifact, runtime variant, batch size, threads), with ratios
against the FP32 teacher baseline on the same target and configuration."""

from __future__ import annotations

from edge_pipeline.artifacts.record import Artifact
from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.config.schema import MetricSpec
from edge_pipeline.reports.divergence import divergence_section
from edge_pipeline.reports.mobile import mobile_section
from edge_pipeline.reports.precision import precision_section, slower_int8_notes

REPORT_SCHEMA_VERSION = 1
BASELINE_DESCRIPTION = "teacher FP32 on each target, same batch size and threads"
BASELINE_MODEL = "teacher"
BASELINE_PRECISION = "fp32"


def baseline_key(row: BenchmarkRow) -> tuple:
    # Rows timed in a stand-in runtime (TensorRT's Q/DQ model run in ONNX Runtime) compare only
    # with each other, never with that runtime's own rows.
    return (row.target, row.batch_size, row.threads, row.simulated)


def is_baseline(row: BenchmarkRow) -> bool:
    """The teacher's FP32 model in its backend's reference mode (not, say, a bf16 execution hint)."""
    return row.model == BASELINE_MODEL and row.precision == BASELINE_PRECISION and row.reference_variant


def add_ratios(rows: list[BenchmarkRow]) -> list[BenchmarkRow]:
    """New rows with their baseline's id and the ratios against it (rows are frozen)."""
    baselines = {baseline_key(row): row for row in rows if is_baseline(row)}
    return [with_ratios(row, baselines.get(baseline_key(row))) for row in rows]


def with_ratios(row: BenchmarkRow, base: BenchmarkRow | None) -> BenchmarkRow:
    if base is None:
        return row.model_copy(update={
            "baseline_artifact_id": None, "speedup_vs_baseline": None,
            "size_ratio_vs_baseline": None, "accuracy_delta_vs_baseline": None,
        })
    # A simulation's timings are this CPU's, not the target runtime's: no speedup claimed for them.
    speedup = None if row.simulated else _ratio(base.latency_ms.p50, row.latency_ms.p50)
    delta = None if row.accuracy is None or base.accuracy is None else row.accuracy - base.accuracy
    return row.model_copy(update={
        "baseline_artifact_id": base.artifact_id,
        "speedup_vs_baseline": speedup,
        "size_ratio_vs_baseline": _ratio(row.size_bytes, base.size_bytes),
        "accuracy_delta_vs_baseline": delta,
    })


def _ratio(numerator: float, denominator: float) -> float | None:
    # A zero here means "not recorded" (a size the stage could not read), not an infinite ratio.
    return numerator / denominator if denominator else None


def build_report(recipe_name: str, targets: list[str], rows: list[BenchmarkRow], notes: list[str],
                 artifacts: list[Artifact], placed: dict[str, str], metric: MetricSpec | None = None) -> dict:
    """The report.json content; ``placed`` maps artifact id -> its path inside the bundle; ``metric``
    (the recipe's task metric) is recorded so compare knows which way each figure improves."""
    bundled = [row.model_copy(update={"artifact": placed.get(row.artifact_id, row.artifact)}) for row in rows]
    report = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "recipe": recipe_name,
        "targets": list(targets),
        "baseline": BASELINE_DESCRIPTION,
        "notes": list(notes),
        "results": [row.model_dump(mode="json") for row in add_ratios(bundled)],
    }
    if metric is not None:
        report["metric"] = metric.model_dump(mode="json")
    divergence = divergence_section(artifacts)
    if divergence:
        report["divergence"] = divergence
    precision = precision_section(artifacts)
    if precision:
        report["precision"] = precision
        report["notes"] += slower_int8_notes(bundled, precision)
    section = mobile_section(artifacts, placed)
    if section:
        report["mobile"] = section
    return report
