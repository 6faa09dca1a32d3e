"""Distill stage: the recipe's model teaches a student (narrowed teacher, factory, or an earlier stage's model).

Everything that can be wrong with the settings (student outputs, the per-output loss table, hint
layer names, the prune budget that follows) is checked before training starts. Models take any
number of inputs (called ``model(*inputs)`` in the recipe's order, as export calls them) and return
any named outputs; each output is distilled by its own term of the loss table. Training runs on
every torchrun rank; rank 0 alone writes the student: a torch.export program plus architecture +
weights, with the loss table and each output's final term in its meta.
"""

from __future__ import annotations

from pathlib import Path

from edge_pipeline.artifacts.hashing import sha256_json
from edge_pipeline.config.schema import Recipe
from edge_pipeline.config.shrink import DistillConfig
from edge_pipeline.stages.base import StageOutput, StageRun

STAGE = "distill"


def distill_config(recipe: Recipe) -> DistillConfig:
    return recipe.distill or DistillConfig()


def replay_material(view: StageRun) -> dict:
    """The engine's replay key material (shrinking.replay), without torch."""
    from edge_pipeline.shrinking.replay import training_material

    transfer = view.data.transfer(distill_config(view.recipe).data, "distill.data")
    return training_material(view.recipe.model, transfer, view.data.eval())


def run(view: StageRun) -> StageOutput:
    from edge_pipeline.distillation.hints import build_adapters
    from edge_pipeline.distillation.outputs import build_output_losses, describe_outputs
    from edge_pipeline.distillation.student import build_student
    from edge_pipeline.modeling.loading import model_source_digest
    from edge_pipeline.shrinking.collective import collective_step
    from edge_pipeline.shrinking.models import example_inputs, load_teacher, model_io, program_dynamic_shapes
    from edge_pipeline.training.distributed import ensure_process_group

    ensure_process_group()  # under torchrun: join the group before any rank-dependent step
    recipe = view.recipe
    config = distill_config(recipe)
    specs = recipe.input_specs
    teacher = load_teacher(recipe.model)
    example = example_inputs(specs)
    outputs = describe_outputs(teacher, example, recipe.outputs)
    losses = build_output_losses(outputs, recipe.class_score_outputs, config.output_losses, config.loss,
                                 recipe.outputs, "distill.output_losses")
    student = build_student(recipe.model, view.artifacts, config.student, teacher, example, recipe.outputs)
    adapters = build_adapters(student.model, teacher, config.hints, example)
    data = view.data.transfer(config.data, "distill.data")
    evaluation = view.data.eval()
    view.data.check_labels({o.name: o.sample_shape for o in outputs})  # before training
    io = model_io(recipe, outputs)
    material = {"teacher": model_source_digest(recipe.model), "student_source": student.identity,
                "inputs": [s.model_dump(mode="json") for s in specs], "losses": losses.meta()}
    checkpoints = view.workdir / "checkpoints" / STAGE / sha256_json(
        {**material, "config": config.model_dump(mode="json"), "data": data.sha256}
    )[:24]

    def dataset():
        from edge_pipeline.shrinking.data import torch_dataset

        return torch_dataset(data, io.input_names)

    def compute():
        from edge_pipeline.distillation.trainer import distill

        # Only where the step runs: a cached result passed this check when it was made, and the check
        # prunes trial copies of the student (seconds a warm re-run would spend for nothing).
        _check_later_prune_budget(recipe, student.model, teacher, example)
        return distill(student.model, teacher, adapters, dataset(), config, checkpoints, losses)

    def save(trained, directory: Path):
        from edge_pipeline.distillation.trainer import final_losses
        from edge_pipeline.shrinking.models import model_summary, save_stage_model
        from edge_pipeline.training.checkpoints import remove_checkpoints

        teacher_summary = model_summary(teacher, example, evaluation, None, io)
        meta = {**model_summary(trained, example, evaluation, teacher_summary, io), "teacher": teacher_summary,
                "output_losses": losses.meta(),
                "final_output_losses": final_losses(trained, teacher, dataset(), losses)}
        artifact = save_stage_model(trained, directory, config.model_name, STAGE, student.parent, student.base_model,
                                    example, config.model_dump(mode="json"), meta, program_dynamic_shapes(specs))
        remove_checkpoints(checkpoints)  # the entry now holds the result
        return [artifact], {"summary": meta}

    def step(name, produce):
        return view.step(name, produce, config=config, data=(data, evaluation), extra=material)

    artifacts, _ = collective_step(step, config.model_name, compute, save)
    return StageOutput(artifacts=artifacts)


def _check_later_prune_budget(recipe: Recipe, student, teacher, example) -> None:
    """A prune stage after this one must be able to meet its budget: say so before training."""
    stages = recipe.stages
    if "prune" not in stages or stages.index("prune") < stages.index(STAGE):
        return
    from edge_pipeline.pruning.plan import check_reachable
    from edge_pipeline.stages.prune import prune_config

    check_reachable(student, teacher, example, prune_config(recipe))
