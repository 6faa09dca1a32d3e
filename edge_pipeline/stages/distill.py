"""Distill stage: the recipe's model teaches a student (narrowed teacher, factory, or an earlier stage's model).

Everything that can be wrong with the settings (student outputs, hint layer names, the prune
budget that follows) is checked before training starts. Training runs on every torchrun rank;
rank 0 alone writes the student: a torch.export program plus architecture + weights.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from edge_pipeline.artifacts.hashing import sha256_json
from edge_pipeline.config.shrink import DistillConfig
from edge_pipeline.stages.context import RunContext
from edge_pipeline.stages.data import eval_dataset

STAGE = "distill"
CODE = ("edge_pipeline.distillation.losses", "edge_pipeline.distillation.hints", "edge_pipeline.distillation.trainer",
        "edge_pipeline.distillation.student", "edge_pipeline.training.loop", "edge_pipeline.stages.distill")


def distill_config(ctx: RunContext) -> DistillConfig:
    return ctx.recipe.distill or DistillConfig()


def run(ctx: RunContext) -> None:
    from edge_pipeline.distillation.hints import build_adapters
    from edge_pipeline.distillation.student import build_student
    from edge_pipeline.shrinking.collective import collective_step
    from edge_pipeline.shrinking.data import transfer_dataset
    from edge_pipeline.shrinking.models import code_digest, example_input, load_teacher

    from edge_pipeline.training.distributed import ensure_process_group

    ensure_process_group()  # under torchrun: join the group before any rank-dependent step
    config = distill_config(ctx)
    teacher = load_teacher(ctx)
    example = example_input(ctx)
    student = build_student(ctx, config.student, teacher, example)
    adapters = build_adapters(student.model, teacher, config.hints, example)
    data = transfer_dataset(ctx, config.data, "distill.data")
    _check_later_prune_budget(ctx, student.model, teacher, example)
    material = {
        "teacher": _teacher_digest(ctx),
        "student": {"spec": config.student.model_dump(mode="json"), "source": student.identity},
        "config": config.model_dump(mode="json"),
        "data": data.sha256,
        "eval": _eval_digest(ctx),
        "input": ctx.recipe.input.model_dump(),
        "code": code_digest(*CODE),
    }
    checkpoints = ctx.workdir / "checkpoints" / STAGE / sha256_json(material)[:24]

    def compute():
        from edge_pipeline.distillation.trainer import distill
        from edge_pipeline.shrinking.data import torch_dataset

        return distill(student.model, teacher, adapters, torch_dataset(data), config, checkpoints)

    def save(trained, directory: Path):
        from edge_pipeline.shrinking.models import model_summary, save_stage_model

        evaluation = eval_dataset(ctx)
        teacher_summary = model_summary(teacher, example, evaluation, None)
        meta = {**model_summary(trained, example, evaluation, teacher_summary), "teacher": teacher_summary}
        artifact = save_stage_model(trained, directory, config.model_name, STAGE, student.parent, student.base_model,
                                    example, config.model_dump(mode="json"), meta)
        shutil.rmtree(checkpoints, ignore_errors=True)  # the entry now holds the result
        return [artifact], {"summary": meta}

    artifacts, _ = collective_step(ctx, STAGE, config.model_name, material, compute, save)
    ctx.artifacts += artifacts


def _teacher_digest(ctx: RunContext) -> str:
    from edge_pipeline.modeling.loading import model_source_digest

    return model_source_digest(ctx.recipe.model)


def _eval_digest(ctx: RunContext) -> str | None:
    evaluation = eval_dataset(ctx)
    return evaluation.sha256 if evaluation is not None else None


def _check_later_prune_budget(ctx: RunContext, student, teacher, example) -> None:
    """A prune stage after this one must be able to meet its budget: say so before training."""
    stages = ctx.recipe.stages
    if "prune" not in stages or stages.index("prune") < stages.index(STAGE):
        return
    from edge_pipeline.pruning.plan import check_reachable
    from edge_pipeline.stages.prune import prune_config

    check_reachable(student, teacher, example, prune_config(ctx))
