"""Export stage: every PyTorch model of the run (the recipe's teacher, and students made by
earlier stages) becomes an FP32 ONNX artifact, checked against PyTorch on real inputs."""

from __future__ import annotations

from pathlib import Path

from edge_pipeline.artifacts.hashing import sha256_file
from edge_pipeline.artifacts.record import Artifact
from edge_pipeline.config.schema import ExportConfig
from edge_pipeline.modeling.complexity import onnx_complexity
from edge_pipeline.stages.context import RunContext, cached_step
from edge_pipeline.stages.data import calibration_dataset

TORCH_KINDS = ("torch-program",)


def export_config(ctx: RunContext) -> ExportConfig:
    """The recipe's export settings; the opset is the highest any target asks for unless the recipe sets it."""
    config = ctx.recipe.export
    if "opset" not in config.model_fields_set:
        opset = max(t.export.opset for t in ctx.targets.values())
        config = config.model_copy(update={"opset": opset})
    return config


def run(ctx: RunContext) -> None:
    from edge_pipeline.modeling.loading import model_source_digest

    config = export_config(ctx)
    sources = [("teacher", None, model_source_digest(ctx.recipe.model))]
    sources += [(a.model, a, a.sha256) for a in ctx.artifacts if a.kind in TORCH_KINDS]
    for model_name, parent, digest in sources:
        if ctx.find(model=model_name, kind="onnx", stage="export"):
            continue
        ctx.artifacts += export_one(ctx, model_name, parent, digest, config)


def export_one(ctx: RunContext, model_name: str, parent: Artifact | None, digest: str, config: ExportConfig) -> list[Artifact]:
    calib = calibration_dataset(ctx)
    material = {
        "model": digest,
        "input": ctx.recipe.input.model_dump(),
        "config": config.model_dump(),
        "check_data": calib.sha256,
    }

    def produce(directory: Path):
        from edge_pipeline.modeling.loading import check_input_spec
        from edge_pipeline.modeling.onnx_export import export_onnx
        from edge_pipeline.modeling.torch_artifacts import load_torch_artifact

        model = load_torch_artifact(parent) if parent is not None else _recipe_model(ctx)
        check_input_spec(model, ctx.recipe.input)
        out = directory / f"{model_name}.fp32.onnx"
        meta = export_onnx(model, ctx.recipe.input, config, out, calib.inputs)
        meta.update(onnx_complexity(out))
        return [_record(model_name, out, parent, config, meta)], {}

    artifacts, _ = cached_step(ctx, "export", model_name, material, produce)
    return artifacts


def _recipe_model(ctx: RunContext):
    from edge_pipeline.modeling.loading import load_torch_model

    return load_torch_model(ctx.recipe.model)


def _record(model_name: str, path: Path, parent: Artifact | None, config: ExportConfig, meta: dict) -> Artifact:
    return Artifact(
        id=f"{model_name}/onnx/fp32",
        kind="onnx",
        path=path,
        stage="export",
        parent=parent.id if parent else None,
        model=model_name,
        precision="fp32",
        sha256=sha256_file(path),
        size_bytes=path.stat().st_size,
        config=config.model_dump(),
        meta=meta,
    )
