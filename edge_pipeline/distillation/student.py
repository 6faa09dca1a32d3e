"""Where the student comes from: the teacher narrowed, a factory, or a model an earlier stage made.

Whatever its source, the student must return the teacher's outputs (names and per-sample shapes):
it replaces the teacher where the teacher was deployed. A factory student of another family or
depth is fine (e.g. ``edge_pipeline.testing.kit:tiny_encoder`` with ``layers: 1``); a narrower
embedding is not, since nothing would map it back to the teacher's width after training.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from edge_pipeline.artifacts.record import Artifact
from edge_pipeline.config.schema import ModelSpec
from edge_pipeline.config.shrink import PruneConfig, StudentSpec
from edge_pipeline.errors import ConfigError
from edge_pipeline.training.batches import Inputs


@dataclass
class Student:
    model: torch.nn.Module
    base_model: ModelSpec  # what load_stage_model rebuilds before applying the saved architecture
    parent: str | None  # artifact id it came from, if any
    identity: str  # content digest of where it came from (part of the cache key)


def build_student(teacher_spec: ModelSpec, earlier: Sequence[Artifact], spec: StudentSpec, teacher: torch.nn.Module,
                  example: Inputs, declared_outputs: list[str] | None = None) -> Student:
    """``teacher_spec``: the recipe's model; ``earlier``: artifacts made by earlier stages;
    ``example``: a tensor, or one tensor per model input; ``declared_outputs``: the recipe's output names."""
    if spec.source == "scaled":
        student = _scaled(teacher_spec, spec, teacher, example)
    elif spec.source == "factory":
        student = _from_factory(spec)
    else:
        student = _from_previous(earlier)
    check_student_outputs(student.model, teacher, example, declared_outputs)
    return student


def _scaled(teacher_spec: ModelSpec, spec: StudentSpec, teacher: torch.nn.Module, example: Inputs) -> Student:
    """The teacher with ``1 - width_multiplier`` of every layer's channels removed (uniformly, by L2 norm)."""
    from edge_pipeline.modeling.loading import model_source_digest
    from edge_pipeline.pruning.channels import ignored_names, prune_channels
    from edge_pipeline.shrinking.models import require_module_spec

    require_module_spec(teacher_spec, "distill.student.source=scaled")
    ratio = 1.0 - spec.width_multiplier
    narrowing = PruneConfig(importance="l2", scope="uniform", round_to=spec.round_to, max_layer_ratio=ratio)
    model = copy.deepcopy(teacher)
    prune_channels(model, example, narrowing, ratio, ignored_names(model, narrowing, example))
    if spec.init == "random":
        _reinitialise(model, seed=0)
    return Student(model, teacher_spec, None, model_source_digest(teacher_spec))


def _from_factory(spec: StudentSpec) -> Student:
    from edge_pipeline.modeling.loading import load_torch_model, model_source_digest

    model_spec = ModelSpec(factory=spec.factory, kwargs=spec.kwargs, checkpoint=spec.checkpoint)
    return Student(load_torch_model(model_spec), model_spec, None, model_source_digest(model_spec))


def _from_previous(earlier: Sequence[Artifact]) -> Student:
    from edge_pipeline.shrinking.models import STATE_KEY, latest_stage_model, load_stage_model

    source = latest_stage_model(earlier)
    if source is None:
        raise ConfigError(
            "distill.student.source=previous needs a model made by an earlier stage, but none ran; "
            "put 'prune' before 'distill' in 'stages', or use source=scaled or factory"
        )
    base = ModelSpec.model_validate(source.meta[STATE_KEY]["base_model"])
    return Student(load_stage_model(source), base, source.id, source.sha256)


def check_student_outputs(student: torch.nn.Module, teacher: torch.nn.Module, example: Inputs,
                          declared_outputs: list[str] | None = None) -> None:
    """Same output names and per-sample shapes as the teacher on the same input, or a ConfigError."""
    from edge_pipeline.distillation.outputs import check_outputs_match, describe_outputs

    check_outputs_match(describe_outputs(student, example, declared_outputs),
                        describe_outputs(teacher, example, declared_outputs), "distill.student")


def _reinitialise(model: torch.nn.Module, seed: int) -> None:
    torch.manual_seed(seed)
    for module in model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
