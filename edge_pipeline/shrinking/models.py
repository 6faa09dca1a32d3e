"""Models the shrinking stages read and write.

A stage-made model is saved twice in one cache entry: a ``torch.export`` program (what the export
stage reads, no code needed) and architecture metadata + safetensors weights over a base model
spec (what a later stage reads when it must train or prune the real nn.Module again).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from edge_pipeline.artifacts.hashing import sha256_file
from edge_pipeline.artifacts.record import Artifact
from edge_pipeline.config.schema import InputSpec, ModelSpec, Recipe
from edge_pipeline.distillation.outputs import OutputInfo
from edge_pipeline.errors import ConfigError
from edge_pipeline.training.batches import Inputs

STATE_KEY = "module_state"


def example_input(input_spec: InputSpec, batch: int = 2) -> torch.Tensor:
    """Zeros shaped like the recipe input; batch 2 keeps torch.export from specialising the batch to 1."""
    return torch.zeros([batch, *input_spec.shape[1:]], dtype=getattr(torch, input_spec.dtype))


def example_inputs(specs: list[InputSpec], batch: int = 2) -> Inputs:
    """What the shrinking stages trace, count and export with: one input's zeros as a bare tensor (as
    always), or one tensor per input in forward() order (integers are ones: a valid token id, a mask
    that keeps every position)."""
    if len(specs) == 1:
        return example_input(specs[0], batch)
    from edge_pipeline.modeling.onnx_export import example_tensors

    return example_tensors(specs, batch)


def program_dynamic_shapes(specs: list[InputSpec]) -> tuple:
    """torch.export dims of a stage-made program: the batch of every input, plus each input's named
    ``dynamic_axes`` (shared by name, as the ONNX export shares them), so the export stage can make
    the same dims dynamic again."""
    dims: dict[str, object] = {}

    def dim(name: str):
        return dims.setdefault(name, torch.export.Dim(name, min=1, max=4096))

    return tuple({0: dim("batch"), **{axis: dim(name) for axis, name in spec.dynamic_axes.items()}}
                 for spec in specs)


def load_teacher(model_spec: ModelSpec) -> torch.nn.Module:
    from edge_pipeline.modeling.loading import load_torch_model

    return load_torch_model(model_spec)


def require_module_spec(spec: ModelSpec, setting: str) -> None:
    if spec.program is not None:
        raise ConfigError(
            f"{setting} needs the model as an nn.Module, but model.program is a torch.export program "
            "(its layers are graph ops, not modules); give model.factory (+ checkpoint) instead"
        )


def load_stage_model(artifact: Artifact) -> torch.nn.Module:
    """Rebuild the trainable nn.Module of a torch-program artifact made by distill or prune."""
    from edge_pipeline.modeling.loading import load_torch_model
    from edge_pipeline.pruning.architecture import load_module

    state = artifact.meta.get(STATE_KEY)
    if state is None:
        raise ConfigError(
            f"artifact {artifact.id} carries no module state (made by stage '{artifact.stage}'); "
            "only models made by 'distill' or 'prune' can be trained or pruned again"
        )
    base = load_torch_model(ModelSpec.model_validate(state["base_model"]))
    return load_module(base, Path(artifact.path).parent, state["files"])


def latest_stage_model(artifacts: Sequence[Artifact]) -> Artifact | None:
    made = [a for a in artifacts if a.kind == "torch-program" and STATE_KEY in a.meta]
    return made[-1] if made else None


@dataclass(frozen=True)
class ModelIO:
    """How the shrinking stages feed and read a model: inputs in forward() order, output names."""

    input_names: list[str]
    declared_outputs: list[str] | None  # the recipe's ``outputs`` (None: named from forward()'s result)
    scored_output: str | None  # the output whose top-1 is the accuracy on labels (None: no accuracy)


def model_io(recipe: Recipe, outputs: list[OutputInfo]) -> ModelIO:
    """Accuracy reads the first output when it holds class scores: the benchmark's rule."""
    first = outputs[0]
    scores = first.classifier_like if recipe.class_score_outputs is None else first.name in recipe.class_score_outputs
    return ModelIO([s.name for s in recipe.input_specs], recipe.outputs, first.name if scores else None)


def torch_accuracy(model: torch.nn.Module, data, io: ModelIO | None = None) -> float | None:
    """Top-1 accuracy in percent of ``model`` on an ArrayDataset with labels (None without labels).
    ``io`` None: a one-input classifier."""
    if data is None or data.labels is None or (io is not None and io.scored_output is None):
        return None
    from edge_pipeline.distillation.outputs import named_outputs

    arrays = [data.inputs] if io is None or len(io.input_names) == 1 else \
        [data.named_for(io.input_names)[name] for name in io.input_names]
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(data), 256):
            value = model(*(torch.from_numpy(a[start : start + 256]) for a in arrays))
            scores = value if io is None else named_outputs(value, io.declared_outputs)[str(io.scored_output)]
            correct += int((scores.argmax(dim=1).numpy() == data.labels[start : start + 256]).sum())
    return 100.0 * correct / len(data)


def model_summary(model: torch.nn.Module, example: Inputs, eval_data, teacher: dict | None,
                  io: ModelIO | None = None) -> dict:
    """params, MACs (per sample), torch accuracy on the eval split, each output's per-sample shape,
    and ratios against the teacher."""
    from edge_pipeline.distillation.outputs import describe_outputs
    from edge_pipeline.pruning.channels import count_macs_params, head_counts
    from edge_pipeline.training.distributed import world_size

    macs, params = count_macs_params(model.eval(), example)
    declared = io.declared_outputs if io is not None else None
    summary: dict = {"params": params, "macs_torch": macs, "accuracy_torch": torch_accuracy(model, eval_data, io),
               "outputs": {o.name: list(o.sample_shape) for o in describe_outputs(model, example, declared)},
               "trained_by_processes": world_size()}
    heads = head_counts(model)
    if heads:
        summary["attention_heads"] = heads
    if teacher:
        summary["params_vs_teacher"] = params / teacher["params"]
        summary["macs_vs_teacher"] = macs / teacher["macs_torch"]
        if summary["accuracy_torch"] is not None and teacher.get("accuracy_torch") is not None:
            summary["accuracy_delta_vs_teacher"] = summary["accuracy_torch"] - teacher["accuracy_torch"]
    return summary


def save_stage_model(
    model: torch.nn.Module,
    directory: Path,
    name: str,
    stage: str,
    parent: str | None,
    base_model: ModelSpec,
    example: Inputs,
    config: dict,
    meta: dict,
    dynamic_shapes: tuple | None = None,
) -> Artifact:
    """``dynamic_shapes``: see ``program_dynamic_shapes`` (default: a dynamic batch on every input)."""
    from edge_pipeline.modeling.torch_artifacts import save_program
    from edge_pipeline.pruning.architecture import save_module

    model = model.eval()
    program = directory / f"{name}.pt2"
    save_program(model, example, program, dynamic_shapes)
    files = save_module(model, directory, name)
    return Artifact(
        id=f"{name}/torch/fp32",
        kind="torch-program",
        path=program,
        stage=stage,
        parent=parent,
        model=name,
        precision="fp32",
        sha256=sha256_file(program),
        size_bytes=program.stat().st_size,
        config=config,
        meta={**meta, STATE_KEY: {"files": files, "base_model": base_model.model_dump(mode="json")}},
    )
