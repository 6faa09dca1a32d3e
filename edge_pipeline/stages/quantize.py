"""Quantize stage: per target, the backend's FP32 artifact and its INT8 artifact for each model,
then the backend's device steps (a TensorRT engine build, a Jetson bundle)."""

from __future__ import annotations

import functools
from pathlib import Path

from edge_pipeline.artifacts.hashing import artifact_size, sha256_artifact
from edge_pipeline.artifacts.record import Artifact
from edge_pipeline.backends.base import Backend, DeviceStep, ProducedArtifact
from edge_pipeline.backends.registry import artifact_sidecars, backend_for_steps
from edge_pipeline.benchmarking.host import timing_identity
from edge_pipeline.calibration.task_metric import metric_identity
from edge_pipeline.config.schema import QuantizeConfig, TargetProfile, effective_stage_config
from edge_pipeline.errors import StageError
from edge_pipeline.fidelity.check import MetricFloor
from edge_pipeline.fidelity.checked import QuantizeJob, check_produced, quantize_checked
from edge_pipeline.fidelity.placement import placement_on
from edge_pipeline.fidelity.state import with_carried_states
from edge_pipeline.stages.base import StageOutput, StageRun, TargetFailure


def run(view: StageRun) -> StageOutput:
    sources = view.find(kind="onnx", stage="export")
    made: list[Artifact] = []
    notes: list[str] = []
    failures: list[TargetFailure] = []
    for target in view.targets.values():
        # A target that fails (a floor it cannot meet, a conversion error) costs only itself.
        outcome = view.for_target(target.metadata.name, functools.partial(_one_target, view, target, sources))
        if isinstance(outcome, TargetFailure):
            failures.append(outcome)
            continue
        made += outcome[0]
        notes += outcome[1]
    return StageOutput(artifacts=made, notes=notes, failures=failures)


def _one_target(view: StageRun, target: TargetProfile, sources: list[Artifact]) -> tuple[list[Artifact], list[str]]:
    """Every artifact of one target (FP32, INT8, device steps) and the notes of skipped steps."""
    backend = backend_for_steps(target.backend)
    config = effective_stage_config(view.recipe.quantize, target.quantize)
    for_target: list[Artifact] = []
    for source in sources:
        if "fp32" in target.precisions:
            for_target += prepare_fp32(view, backend, target, source)
        if "int8" in target.precisions:
            for_target += quantize_one(view, backend, target, config, source)
    device_made, skipped = run_device_steps(view, backend, target, for_target)
    return for_target + device_made, skipped


def run_device_steps(view: StageRun, backend: Backend, target: TargetProfile,
                     artifacts: list[Artifact]) -> tuple[list[Artifact], list[str]]:
    """The backend's per-device steps; a step that cannot run on this machine becomes a note
    (skipped, and the fix) instead of a failure."""
    made: list[Artifact] = []
    notes: list[str] = []
    for artifact in artifacts:
        for step in backend.device_steps(artifact, target):
            if step.skipped:
                notes.append(f"{artifact.id}: {step.name} skipped: {step.skipped}")
            else:
                made += _device_step(view, target, artifact, step)
    return made, notes


def _device_step(view: StageRun, target: TargetProfile, artifact: Artifact, step: DeviceStep) -> list[Artifact]:
    def produce(directory: Path):
        # The artifact is the source: the engine or bundle records it as its parent.
        if step.produce is None:  # run_device_steps sends only steps that are not skipped, which produce
            raise StageError(f"device step '{step.name}' of {artifact.id} has nothing to run")
        return [_record(p, artifact, target, "quantize") for p in step.produce(directory)], {}

    artifacts, _ = view.step(f"{artifact.id} {step.name}", produce, inputs=(artifact,), config=target,
                             extra=step.material, backend=target.backend)
    return artifacts


def prepare_fp32(view: StageRun, backend: Backend, target: TargetProfile, source: Artifact) -> list[Artifact]:
    if backend.runs_exported_onnx:
        return [_record(ProducedArtifact(source.path, source.kind, "fp32"), source, target, "quantize")]

    config = effective_stage_config(view.recipe.quantize, target.quantize)
    calib = view.data.calibration()

    def produce(directory: Path):
        prepared = backend.prepare_fp32(source.path, target, directory)
        produced = check_produced(prepared, Path(source.path), backend, target, config, calib)
        return [_record(p, source, target, "quantize") for p in produced], {}

    # The load-and-fidelity check holds the FP32 artifact to the floor too: the floor keys the entry.
    floor = {"min_cosine": config.min_cosine, "min_cosine_per_output": config.min_cosine_per_output,
             "fidelity_samples": config.fidelity_samples}
    artifacts, _ = view.step(f"{source.model}/{target.metadata.name}/fp32", produce, inputs=(source,), config=target,
                             data=(calib,), extra={"fidelity_floor": floor}, backend=target.backend)
    return artifacts


def quantize_one(view: StageRun, backend: Backend, target: TargetProfile, config: QuantizeConfig,
                 source: Artifact) -> list[Artifact]:
    calib = with_carried_states(Path(source.path), view.data.calibration())
    # Accuracy control (max_drop) and the metric floor judge on the eval split, so it keys the cache;
    # so does the metric's own code where it judges.
    judged_by_metric = bool(config.max_metric_drop) or config.control_metric is not None
    evaluation = view.data.eval()
    floor_data = evaluation if evaluation is not None else calib  # fidelity is judged on held-out data
    metric = view.recipe.metric if judged_by_metric else None
    floor = (MetricFloor(metric, config.max_metric_drop, evaluation)
             if metric is not None and evaluation is not None and config.max_metric_drop else None)

    # Latency-aware placement times layers as the benchmark times the artifact: its first thread count.
    threads = effective_stage_config(view.recipe.benchmark, target.benchmark).threads[0]

    def produce(directory: Path):
        checked = quantize_checked(QuantizeJob(backend, target, config, Path(source.path), calib, floor_data,
                                               evaluation, metric, floor, threads), directory,
                                   f"{source.model}/{target.metadata.name}/int8")
        return [_record(p, source, target, "quantize", config) for p in checked], {}

    extra = {"metric": metric_identity(metric)} if metric is not None else {}
    if placement_on(config, target):
        extra["placement"] = {"threads": threads, "host": timing_identity()}  # measured here: keyed by this CPU
    artifacts, _ = view.step(f"{source.model}/{target.metadata.name}/int8", produce, inputs=(source,),
                             config={"quantize": config.model_dump(mode="json"),
                                     "target": target.model_dump(mode="json")},
                             data=(calib, evaluation), backend=target.backend, extra=extra or None)
    return artifacts


def _record(produced: ProducedArtifact, source: Artifact, target: TargetProfile, stage: str,
            config: QuantizeConfig | None = None) -> Artifact:
    path = Path(produced.path)
    sidecars = artifact_sidecars(target.backend, produced.kind, path)
    variant = "" if produced.variant == "default" else f"-{produced.variant}"
    return Artifact(
        id=f"{source.model}/{target.metadata.name}/{produced.precision}{variant}",
        kind=produced.kind,
        path=path,
        stage=stage,
        parent=source.id,
        model=source.model,
        precision=produced.precision,
        backend=target.backend,
        target=target.metadata.name,
        sha256=sha256_artifact(path, sidecars),
        size_bytes=artifact_size(path, sidecars),
        config=config.model_dump() if config is not None else {},
        meta={**{k: v for k, v in source.meta.items() if k in ("params", "macs")}, **produced.meta},
    )
