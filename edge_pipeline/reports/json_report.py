"""report.json: one row per (artifact, runtime variant, batch size, threads), with ratios
against the FP32 teacher baseline on the same target and configuration, each row's measurement
warnings, and the report's ``run_info`` and ``measurement_warnings`` (reports/measurement.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from edge_pipeline.artifacts.record import Artifact
from edge_pipeline.benchmarking.host import usable_cpus
from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.config.schema import DEFAULT_MODEL_NAME, MetricSpec
from edge_pipeline.reports.divergence import divergence_section
from edge_pipeline.reports.measurement import measurement_warnings, run_info, with_measurement_checks
from edge_pipeline.reports.mobile import mobile_section
from edge_pipeline.reports.precision import precision_section, slower_int8_notes
from edge_pipeline.reports.recommend import SECTION as RECOMMENDED
from edge_pipeline.reports.recommend import RecommendPolicy, recommended_section

REPORT_SCHEMA_VERSION = 1
BASELINE_DESCRIPTION = "teacher FP32 on each target, same batch size and threads"
BASELINE_MODEL = DEFAULT_MODEL_NAME  # the recipe's model when model.name is unset (see own_model)
BASELINE_PRECISION = "fp32"


def baseline_key(row: BenchmarkRow) -> tuple:
    # Rows timed in a stand-in runtime (TensorRT's Q/DQ model run in ONNX Runtime) compare only
    # with each other, never with that runtime's own rows.
    return (row.target, row.batch_size, row.threads, row.simulated)


def own_model(artifacts: Iterable[Artifact | Mapping]) -> str:
    """The recipe's own model (model.name, default 'teacher'): the one the export stage made without
    a parent (students have one). ``artifacts``: records, or their manifest dicts."""
    for artifact in artifacts:
        field = artifact.get if isinstance(artifact, Mapping) else lambda key, a=artifact: getattr(a, key, None)
        if field("stage") == "export" and not field("parent"):
            return str(field("model"))
    return BASELINE_MODEL


def is_baseline(row: BenchmarkRow, model: str | None = None) -> bool:
    """The recipe model's FP32 in its backend's reference mode (not, say, a bf16 execution hint).
    ``model``: its name; without it, a row of a finished report is its own baseline, and a bare row
    goes by the default name."""
    if row.precision != BASELINE_PRECISION or not row.reference_variant:
        return False
    if model is None and row.baseline_artifact_id is not None:
        return row.baseline_artifact_id == row.artifact_id
    return row.model == (model or BASELINE_MODEL)


def add_ratios(rows: list[BenchmarkRow], model: str = BASELINE_MODEL) -> list[BenchmarkRow]:
    """New rows with their baseline's id and the ratios against it (rows are frozen); ``model``:
    the recipe's own model."""
    baselines = {baseline_key(row): row for row in rows if is_baseline(row, model)}
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
                 artifacts: list[Artifact], placed: dict[str, str], metric: MetricSpec | None = None,
                 tool_versions: Mapping[str, str] | None = None, failed_targets: list[dict] | None = None,
                 recommend: Mapping[str, RecommendPolicy] | None = None) -> dict:
    """The report.json content; ``placed`` maps artifact id -> its path inside the bundle; ``metric``
    (the recipe's task metric) is recorded so compare knows which way each figure improves;
    ``tool_versions`` (the engine's) go into ``run_info``; ``failed_targets`` ({target, stage,
    error, error_class} each) are the recipe's targets the bundle lacks because their work failed;
    ``recommend``: each target's recommendation policy (reports/recommend.py), for the
    ``recommended`` section."""
    bundled = [row.model_copy(update={"artifact": placed.get(row.artifact_id, row.artifact)}) for row in rows]
    # The rows were timed on this host or on one with the same usable CPU count (it is part of the
    # benchmark cache key), so this host's count is the one their load figures compare with.
    usable = usable_cpus()
    checked = with_measurement_checks(add_ratios(bundled, own_model(artifacts)), usable)
    report = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "recipe": recipe_name,
        "targets": list(targets),
        "baseline": BASELINE_DESCRIPTION,
        "notes": list(notes),
        "results": [row.model_dump(mode="json") for row in checked],
        "failed_targets": list(failed_targets or []),
        "run_info": run_info(checked, tool_versions),
        "measurement_warnings": measurement_warnings(checked, usable),
    }
    if recommend:
        failed = {str(failure.get("target")) for failure in failed_targets or []}
        section = recommended_section(checked, {t: p for t, p in recommend.items() if t not in failed},
                                      [a.model_dump(mode="json") for a in artifacts])
        if section:
            report[RECOMMENDED] = section
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
