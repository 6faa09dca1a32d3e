"""One INT8 quantization that counts: the backend quantizes, every artifact is loaded, run and held
to the fidelity floor (with the sensitivity fallback on a miss), what its runtime executes in float
is read back, and its per-layer divergence from FP32 recorded. Where quantize.placement is on, the
layers slower in INT8 than in FP32 on this CPU are kept float in a second, mixed artifact held to the
same floor (placement.py). The quantize stage and the single-stage ``quantize`` command both run it."""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edge_pipeline.backends.base import Backend, ProducedArtifact
from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.config.schema import MetricSpec, QuantizeConfig, TargetProfile
from edge_pipeline.errors import FidelityFloorError
from edge_pipeline.fidelity.check import FP32Reference, MetricFloor, check_artifact, executed_summary
from edge_pipeline.fidelity.divergence import PASS_THROUGH, LayerViewError, divergence_profile
from edge_pipeline.fidelity.fallback import Setting, search_with_fallback
from edge_pipeline.fidelity.placement import PlacementJob, place, placement_on

MAX_DIVERGENCE_ROWS = 400  # per artifact: enough for real models' compute layers, bounded for the manifest


@dataclass(frozen=True)
class QuantizeJob:
    backend: Backend
    target: TargetProfile
    config: QuantizeConfig
    source_onnx: Path  # the FP32 ONNX quantized and compared against
    calibration: ArrayDataset
    judged_on: ArrayDataset  # held-out data the fidelity floor and the profile run on
    evaluation: ArrayDataset | None = None  # for accuracy control
    metric: MetricSpec | None = None
    metric_floor: MetricFloor | None = None
    timing_threads: int = 2  # the thread count latency-aware placement times layers at (the benchmark's first)


def quantize_checked(job: QuantizeJob, directory: Path, what: str) -> list[ProducedArtifact]:
    reference = FP32Reference(job.source_onnx)  # every attempt and profile compares with the same FP32 run

    def attempt(setting: Setting, folder: Path) -> list[ProducedArtifact]:
        config, target = setting.config, _with_options(job.target, setting.options)
        produced = job.backend.quantize(job.source_onnx, job.calibration, config, target, folder,
                                        eval_data=job.evaluation, metric=job.metric)
        return check_produced(produced, job.source_onnx, job.backend, target, config, job.judged_on,
                              job.metric_floor, reference)

    def profile(path: Path):
        return divergence_profile(job.source_onnx, path, job.backend, job.target, job.judged_on, reference)

    strategies = job.backend.fallback_strategies(job.source_onnx, job.config, job.target) if job.config.fallback else []
    checked, setting = search_with_fallback(attempt, profile, job.config, directory, what, strategies)
    if placement_on(job.config, job.target) and checked and checked[0].meta.get("fidelity_check") is not None:
        checked = _placed(job, checked, setting, attempt, directory, what)
    return [_with_divergence(item, profile) for item in checked]


def _placed(job: QuantizeJob, checked: list[ProducedArtifact], setting: Setting, attempt, directory: Path,
            what: str) -> list[ProducedArtifact]:
    """The checked artifacts, the first with its layer timings, then the mixed INT8 artifact (if any)."""
    placement = PlacementJob(job.backend, job.target, job.config, job.source_onnx, job.calibration,
                             job.timing_threads)

    def mixed(names: list[str], folder: Path) -> list[ProducedArtifact]:
        return attempt(setting.keeping_float(names), folder)

    with tempfile.TemporaryDirectory(prefix="ep-placement-fp32-") as tmp:
        fp32 = (job.source_onnx if job.backend.runs_exported_onnx
                else job.backend.prepare_fp32(job.source_onnx, job.target, Path(tmp))[0].path)
        primary, made = place(placement, checked[0], list(setting.config.keep_float), Path(fp32), mixed, directory,
                              what)
    return [primary, *checked[1:], *made]


def _with_options(target: TargetProfile, options: dict) -> TargetProfile:
    """The target with a fallback strategy's backend options merged over its own (the backend checks them)."""
    return target.model_copy(update={"options": {**target.options, **options}}) if options else target


def check_produced(produced: list[ProducedArtifact], source_onnx: Path, backend: Backend, target: TargetProfile,
                   config: QuantizeConfig, data: ArrayDataset, metric_floor: MetricFloor | None = None,
                   reference: FP32Reference | None = None) -> list[ProducedArtifact]:
    """Each artifact loaded, run and held to the fidelity floor (and the metric floor); its per-output
    figures, and for INT8 what its runtime executes in float, go in its meta."""
    reference = reference or FP32Reference(source_onnx)
    checked = []
    for item in produced:
        try:
            fidelity = check_artifact(item.path, item.kind, source_onnx, backend, target, config, data, metric_floor,
                                      reference)
        except FidelityFloorError as miss:
            miss.artifact, miss.primary = str(item.path), str(produced[0].path)
            raise
        meta = {**item.meta, "fidelity_check": fidelity} if fidelity is not None else item.meta
        executed = (executed_summary(item.path, item.kind, backend, target, source_onnx)
                    if item.precision == "int8" else None)
        if executed is not None:
            meta = {**meta, "executed": executed}
        checked.append(ProducedArtifact(item.path, item.kind, item.precision, item.variant, meta))
    return checked


def _with_divergence(item: ProducedArtifact, profile) -> ProducedArtifact:
    """The artifact's per-layer SQNR to FP32 (for the report's cross-backend table), where its
    runtime exposes intermediate tensors."""
    try:
        layers = profile(Path(item.path)) if item.precision == "int8" else None
    except LayerViewError as skipped:
        return item.with_meta(divergence_skipped=str(skipped))
    if not layers:
        return item
    rows = [{"node": layer.node, "op_type": layer.op_type, "sqnr_db": _finite(layer.sqnr_db)}
            for layer in layers if layer.op_type not in PASS_THROUGH][:MAX_DIVERGENCE_ROWS]
    return item.with_meta(divergence=rows)


def _finite(value: float) -> float | None:
    return round(value, 2) if math.isfinite(value) else None
