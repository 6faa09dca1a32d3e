"""Quantize stage: per target, the backend's FP32 artifact and its INT8 artifact for each model."""

from __future__ import annotations

from pathlib import Path

from edge_pipeline.artifacts.hashing import sha256_tree
from edge_pipeline.artifacts.record import Artifact
from edge_pipeline.backends.base import ProducedArtifact
from edge_pipeline.backends.registry import get_backend
from edge_pipeline.config.schema import QuantizeConfig, TargetProfile, effective_stage_config
from edge_pipeline.stages.context import RunContext, cached_step
from edge_pipeline.stages.data import calibration_dataset, eval_dataset


def run(ctx: RunContext) -> None:
    sources = ctx.find(kind="onnx", stage="export")
    for target_name, target in ctx.targets.items():
        backend = get_backend(target.backend)
        config = effective_stage_config(ctx.recipe.quantize, target.quantize)
        for source in sources:
            if "fp32" in target.precisions:
                ctx.artifacts += prepare_fp32(ctx, backend, target, source)
            if "int8" in target.precisions:
                ctx.artifacts += quantize_one(ctx, backend, target, config, source)
        made_for_target = [a for a in ctx.artifacts if a.target == target_name and a.stage == "quantize"]
        ctx.artifacts += run_device_steps(ctx, backend, target, made_for_target)


def run_device_steps(ctx: RunContext, backend, target: TargetProfile, artifacts: list[Artifact]) -> list[Artifact]:
    """The backend's per-device steps (e.g. a TensorRT engine build); a step that cannot run on
    this machine is recorded in the run's notes as skipped, with its fix, instead of failing."""
    made: list[Artifact] = []
    for artifact in artifacts:
        for step in backend.device_steps(artifact, target):
            if step.skipped:
                ctx.notes.append(f"{artifact.id}: {step.name} skipped: {step.skipped}")
                continue
            made += _device_step(ctx, target, artifact, step)
    return made


def _device_step(ctx: RunContext, target: TargetProfile, artifact: Artifact, step) -> list[Artifact]:
    material = {"artifact": artifact.sha256, "target": target.model_dump(mode="json"), **step.material}

    def produce(directory: Path):
        # The artifact is the source: the engine or bundle records it as its parent.
        return [_record(p, artifact, target, "quantize") for p in step.produce(directory)], {}

    artifacts, _ = cached_step(ctx, "quantize", f"{artifact.id} {step.name}", material, produce)
    return artifacts


def prepare_fp32(ctx: RunContext, backend, target: TargetProfile, source: Artifact) -> list[Artifact]:
    if backend.runs_exported_onnx:
        return [_record(ProducedArtifact(source.path, source.kind, "fp32"), source, target, "quantize")]
    material = {"onnx": source.sha256, "target": target.model_dump(mode="json"), "backend": backend.name}

    def produce(directory: Path):
        produced = backend.prepare_fp32(source.path, target, directory)
        return [_record(p, source, target, "quantize") for p in produced], {}

    artifacts, _ = cached_step(ctx, "quantize", f"{source.model}/{target.metadata.name}/fp32", material, produce)
    return artifacts


def quantize_one(ctx: RunContext, backend, target: TargetProfile, config: QuantizeConfig, source: Artifact) -> list[Artifact]:
    calib = calibration_dataset(ctx)
    material = {
        "onnx": source.sha256,
        "calibration": calib.sha256,
        "config": config.model_dump(),
        "target": target.model_dump(mode="json"),
    }
    # Accuracy control (max_drop) scores candidates on the labelled eval split, so it keys the cache.
    evaluation = eval_dataset(ctx) if config.max_drop is not None else None
    if evaluation is not None:
        material["eval"] = evaluation.sha256

    def produce(directory: Path):
        produced = backend.quantize(source.path, calib, config, target, directory, eval_data=evaluation)
        return [_record(p, source, target, "quantize", config) for p in produced], {}

    artifacts, _ = cached_step(ctx, "quantize", f"{source.model}/{target.metadata.name}/int8", material, produce)
    return artifacts


def _record(produced: ProducedArtifact, source: Artifact, target: TargetProfile, stage: str, config=None) -> Artifact:
    path = Path(produced.path)
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
        sha256=sha256_tree(path),
        size_bytes=_size(path),
        config=config.model_dump() if config is not None else {},
        meta={**{k: v for k, v in source.meta.items() if k in ("params", "macs")}, **produced.meta},
    )


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    size = path.stat().st_size
    # OpenVINO IR keeps its weights in a .bin beside the .xml.
    sibling = path.with_suffix(".bin")
    return size + sibling.stat().st_size if path.suffix == ".xml" and sibling.is_file() else size
