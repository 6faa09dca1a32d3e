"""Export stage: every PyTorch model of the run (the recipe's model, and students made by earlier
stages) becomes an FP32 ONNX artifact, checked against PyTorch on real inputs."""

from __future__ import annotations

from pathlib import Path

from edge_pipeline.artifacts.hashing import sha256_file
from edge_pipeline.artifacts.record import Artifact
from edge_pipeline.config.schema import ExportConfig, Recipe, TargetProfile
from edge_pipeline.stages.base import StageOutput, StageRun
from edge_pipeline.stages.data import recipe_layout

TORCH_KINDS = ("torch-program",)
# The export check runs the ONNX file in ONNX Runtime: its code is part of what made the artifact.
CHECK_BACKEND = "onnxruntime"


def export_config(recipe: Recipe, targets: dict[str, TargetProfile] | None) -> ExportConfig:
    """The recipe's export settings; the opset is the highest any target asks for unless the recipe sets it."""
    config = recipe.export
    if "opset" not in config.model_fields_set and targets:
        config = config.model_copy(update={"opset": max(t.export.opset for t in targets.values())})
    return config


def run(view: StageRun) -> StageOutput:
    from edge_pipeline.modeling.loading import model_source_digest

    config = export_config(view.recipe, dict(view.targets))
    if view.recipe.model.onnx is not None:
        ingested = _labels_checked(view, ingest_one(view, model_source_digest(view.recipe.model), config))
        return StageOutput(artifacts=ingested, notes=_corrected_shapes_notes(ingested))
    own = view.recipe.model
    made = [_labels_checked(view, export_one(view, own.lineage, None, model_source_digest(own), config))]
    made += [export_one(view, a.model, a, a.sha256, config) for a in view.artifacts if a.kind in TORCH_KINDS]
    return StageOutput(artifacts=[a for artifacts in made for a in artifacts])


def _labels_checked(view: StageRun, own: list[Artifact]) -> list[Artifact]:
    """Labels outside the recipe model's classes, and per-output settings naming outputs the graph
    lacks (a recipe without 'outputs' learns the names here), fail now, before quantizing and
    benchmarking (outside the cached step: neither is part of its key)."""
    from edge_pipeline.config.schema import unknown_output_settings, unknown_outputs_message
    from edge_pipeline.errors import ConfigError
    from edge_pipeline.modeling.onnx_export import onnx_output_shapes

    shapes = onnx_output_shapes(Path(own[0].path), recipe_layout(view.recipe))
    unknown = unknown_output_settings(view.recipe, list(shapes))
    if unknown:
        raise ConfigError(unknown_outputs_message(unknown, list(shapes)))
    view.data.check_labels(shapes)
    return own


def export_one(view: StageRun, model_name: str, parent: Artifact | None, digest: str,
               config: ExportConfig) -> list[Artifact]:
    calib = view.data.calibration()
    specs = view.recipe.input_specs

    def produce(directory: Path):
        from edge_pipeline.modeling.complexity import onnx_complexity
        from edge_pipeline.modeling.loading import check_input_specs, load_torch_model
        from edge_pipeline.modeling.onnx_export import export_onnx
        from edge_pipeline.modeling.torch_artifacts import load_torch_artifact

        model = load_torch_artifact(parent) if parent is not None else load_torch_model(view.recipe.model)
        check_input_specs(model, specs)
        out = directory / f"{model_name}.fp32.onnx"
        meta = export_onnx(model, specs, config, out, calib.named_for([s.name for s in specs]), view.recipe.outputs,
                           recipe_layout(view.recipe))
        meta.update(onnx_complexity(out))
        if program:
            _write_program(model, specs, out)
        return [_record(model_name, out, parent, config, meta)], {}

    program = _wants_torch_program(view)
    identity: dict[str, object] = {"model": digest, "inputs": [s.model_dump(mode="json") for s in specs],
                                   "outputs": view.recipe.outputs}
    if program:  # a backend lowering torch programs (ExecuTorch) reads <model>.fp32.pt2 beside the ONNX
        identity["torch_program"] = True
    if not recipe_layout(view.recipe).is_default:  # its checks (state shapes, output axes) are part of the step
        identity["layout"] = recipe_layout(view.recipe).to_json()
    artifacts, _ = view.step(model_name, produce, config=config, data=(calib,), extra=identity, backend=CHECK_BACKEND)
    return artifacts


def _wants_torch_program(view: StageRun) -> bool:
    from edge_pipeline.backends.registry import descriptor

    return any(descriptor(t.backend).torch_program for t in view.targets.values())


def _write_program(model, specs, onnx_path: Path) -> None:
    """The model as a ``torch.export`` program at the recipe's declared (static) shapes, beside its ONNX."""
    from edge_pipeline.modeling.onnx_export import declared_batch, example_tensors
    from edge_pipeline.modeling.torch_artifacts import save_program

    example = example_tensors(specs, declared_batch(specs))
    save_program(model, example, onnx_path.with_name(onnx_path.name.removesuffix(".onnx") + ".pt2"),
                 dynamic_shapes=tuple(None for _ in example))


def ingest_one(view: StageRun, digest: str, config: ExportConfig) -> list[Artifact]:
    """The recipe's ONNX file, prepared (fixed dims, opset, folded constants) and run once in ORT."""
    calib = view.data.calibration()
    specs = view.recipe.input_specs
    source = Path(view.recipe.model.onnx or "")
    name = view.recipe.model.lineage

    def produce(directory: Path):
        from edge_pipeline.modeling.complexity import onnx_complexity
        from edge_pipeline.modeling.declared_shapes import correct_declared_shapes
        from edge_pipeline.modeling.onnx_export import check_layout, run_once
        from edge_pipeline.modeling.onnx_source import ingest_onnx

        out = directory / f"{name}.fp32.onnx"
        meta = ingest_onnx(source, specs, config, out)
        meta["numeric_check"] = run_once(out, calib.take(config.check_samples))
        shapes = meta["numeric_check"]["outputs"]
        check_layout(shapes, specs, recipe_layout(view.recipe), meta["numeric_check"]["samples"])
        corrected = correct_declared_shapes(out, shapes, recipe_layout(view.recipe))
        if corrected:
            meta["declared_shapes_corrected"] = corrected
        meta.update(onnx_complexity(out))
        return [_record(name, out, None, config, meta)], {}

    identity: dict[str, object] = {"onnx": digest, "inputs": [s.model_dump(mode="json") for s in specs]}
    if not recipe_layout(view.recipe).is_default:
        identity["layout"] = recipe_layout(view.recipe).to_json()
    artifacts, _ = view.step(name, produce, config=config, data=(calib,), extra=identity, backend=CHECK_BACKEND)
    return artifacts


def _corrected_shapes_notes(artifacts: list[Artifact]) -> list[str]:
    """A note (report and stderr, cached run or not) per ONNX source whose declared output shapes
    were set from what it returns."""
    from edge_pipeline.modeling.declared_shapes import describe
    from edge_pipeline.progress import progress

    notes = [f"{Path(str(a.meta.get('source', a.path))).name}: {describe(a.meta['declared_shapes_corrected'])}"
             for a in artifacts if a.meta.get("declared_shapes_corrected")]
    for note in notes:
        progress("export", f"note: {note}")
    return notes


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
