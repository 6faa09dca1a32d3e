"""Prune stage: structural channel pruning of the latest model (a distilled student, else the teacher).

Checks (budget reachable, layer names, the recovery loss table, labels for CE recovery) run before any
training. Models take any number of inputs and return any named outputs: the layers writing each
output keep their widths, and recovery distils every output by its term of the loss table. Pruning
and recovery run on every torchrun rank; rank 0 alone measures latency and writes the pruned model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edge_pipeline.artifacts.hashing import sha256_json
from edge_pipeline.config.schema import ModelSpec, Recipe
from edge_pipeline.config.shrink import PruneConfig
from edge_pipeline.errors import ConfigError, StageError
from edge_pipeline.stages.base import StageOutput, StageRun

if TYPE_CHECKING:  # typing only: torch is imported where the stage runs, not when it is registered
    from torch import nn

STAGE = "prune"


def prune_config(recipe: Recipe) -> PruneConfig:
    return recipe.prune or PruneConfig()


def replay_material(view: StageRun) -> dict | None:
    """As distill's; None for a latency budget, which is measured on the machine that runs it."""
    from edge_pipeline.shrinking.replay import training_material

    config = prune_config(view.recipe)
    if config.target.kind == "latency":
        return None
    return training_material(view.recipe.model, view.data.transfer(config.data, "prune.data"), view.data.eval())


def run(view: StageRun) -> StageOutput:
    from edge_pipeline.distillation.outputs import build_output_losses, check_outputs_match, describe_outputs
    from edge_pipeline.modeling.loading import model_source_digest
    from edge_pipeline.pruning.channels import count_macs_params, ignored_names
    from edge_pipeline.pruning.plan import BudgetMetError, budget_met_error, check_reachable, macs_budget_met
    from edge_pipeline.shrinking.collective import collective_step
    from edge_pipeline.shrinking.models import example_inputs, load_teacher, model_io, program_dynamic_shapes
    from edge_pipeline.training.distributed import ensure_process_group

    ensure_process_group()  # under torchrun: join the group before any rank-dependent step
    recipe = view.recipe
    config = prune_config(recipe)
    source = _input_model(view)
    name = config.model_name or f"{source.lineage}-pruned"
    teacher = load_teacher(recipe.model)
    specs = recipe.input_specs
    example = example_inputs(specs)
    outputs = describe_outputs(teacher, example, recipe.outputs)
    check_outputs_match(describe_outputs(source.model, example, recipe.outputs), outputs,
                        f"prune input {source.lineage}")
    losses = build_output_losses(outputs, recipe.class_score_outputs, config.recovery.output_losses,
                                 config.recovery.kd, recipe.outputs, "prune.recovery.output_losses")
    met = macs_budget_met(source.model, example, config, count_macs_params(teacher, example)[0])
    if met is not None:
        if config.if_budget_met == "fail":
            raise ConfigError(budget_met_error(met))
        return _skipped(source, met)
    ignored = ignored_names(source.model, config, example)
    data = view.data.transfer(config.data, "prune.data")
    evaluation = view.data.eval()
    view.data.check_labels({o.name: o.sample_shape for o in outputs})  # before any training
    io = model_io(recipe, outputs)
    _check_labels(config, data)
    _check_ce_output(config, losses.hard_label_output(), [o.name for o in outputs])
    material = {"model": source.digest, "teacher": model_source_digest(recipe.model),
                "inputs": [s.model_dump(mode="json") for s in specs], "losses": losses.meta()}
    if config.target.kind == "latency":
        from edge_pipeline.benchmarking.host import timing_identity

        material["host"] = timing_identity()  # a measured budget depends on the machine
    checkpoints = view.workdir / "checkpoints" / STAGE / sha256_json(
        {**material, "config": config.model_dump(mode="json"), "data": data.sha256}
    )[:24]
    measure_latency = _latency_measure(view, teacher, config)  # an unknown backend fails here, before training

    def compute():
        from edge_pipeline.pruning.schedule import ScheduleInputs, run_schedule
        from edge_pipeline.shrinking.data import torch_dataset

        # Only where the step runs, before any training: a cached result passed it when it was made.
        check_reachable(source.model, teacher, example, config)

        inputs = ScheduleInputs(example, ignored, torch_dataset(data, io.input_names), teacher,
                                count_macs_params(teacher, example)[0], checkpoints, measure_latency, losses)
        return source.model, run_schedule(source.model, config, inputs)

    def save(result, directory: Path):
        from edge_pipeline.shrinking.models import model_summary, save_stage_model
        from edge_pipeline.training.checkpoints import remove_checkpoints

        pruned, history = result
        teacher_summary = model_summary(teacher, example, evaluation, None, io)
        meta = {**model_summary(pruned, example, evaluation, teacher_summary, io), "teacher": teacher_summary,
                "steps": history, "input_model": source.lineage, "kept_layers": ignored,
                "recovery_losses": losses.meta()}
        artifact = save_stage_model(pruned, directory, name, STAGE, source.parent, source.base, example,
                                    config.model_dump(mode="json"), meta, program_dynamic_shapes(specs))
        remove_checkpoints(checkpoints)
        return [artifact], {"summary": meta}

    def step(step_name, produce):
        return view.step(step_name, produce, config=config, data=(data, evaluation), extra=material)

    try:
        artifacts, _ = collective_step(step, name, compute, save)
    except BudgetMetError as exc:  # kind=latency: known only once the input model is measured
        if config.if_budget_met == "fail":
            raise ConfigError(budget_met_error(exc.reason)) from exc
        return _skipped(source, exc.reason)
    return StageOutput(artifacts=artifacts)


def _skipped(source: PruneSource, reason: str) -> StageOutput:
    """No pruned model: later stages take the input model (the latest stage model, else the teacher)."""
    from edge_pipeline.progress import progress

    note = f"prune skipped: {reason}; later stages use '{source.lineage}' unchanged (prune.if_budget_met=skip)"
    progress(STAGE, note)
    return StageOutput(notes=[note])


@dataclass
class PruneSource:
    model: nn.Module  # the model to prune
    base: ModelSpec  # what load_stage_model rebuilds before applying the saved architecture
    parent: str | None  # artifact id it came from
    digest: str  # content digest (part of the cache key)
    lineage: str  # its model name


def _input_model(view: StageRun) -> PruneSource:
    """The latest model an earlier stage made, else the recipe's own model."""
    from edge_pipeline.modeling.loading import model_source_digest
    from edge_pipeline.shrinking.models import (
        STATE_KEY,
        latest_stage_model,
        load_stage_model,
        load_teacher,
        require_module_spec,
    )

    source = latest_stage_model(view.artifacts)
    if source is not None:
        base = ModelSpec.model_validate(source.meta[STATE_KEY]["base_model"])
        return PruneSource(load_stage_model(source), base, source.id, source.sha256, source.model)
    recipe = view.recipe
    require_module_spec(recipe.model, "prune")
    return PruneSource(load_teacher(recipe.model), recipe.model, None, model_source_digest(recipe.model),
                       recipe.model.lineage)


def _latency_measure(view: StageRun, teacher, config: PruneConfig):
    if config.target.kind != "latency":
        return None
    from edge_pipeline.pruning.latency import LatencyProbe
    from edge_pipeline.shrinking.collective import main_rank_value
    from edge_pipeline.training import distributed as dist_util

    specs = view.recipe.input_specs
    calibration = view.data.calibration().named_for([s.name for s in specs])
    probe = LatencyProbe(teacher, specs, calibration, config.target) if dist_util.is_main_process() else None

    def measure(model, label: str) -> dict:
        def on_main_rank() -> dict:
            if probe is None:  # main_rank_value calls this on the main process only, which has the probe
                raise StageError("the latency probe runs on torchrun rank 0 only")
            return probe.measure(model, label)

        return main_rank_value(on_main_rank)

    return measure


def _check_ce_output(config: PruneConfig, hard_label_output: str | None, outputs: list[str]) -> None:
    if config.recovery.loss == "ce" and hard_label_output is None:
        raise ConfigError(
            f"prune.recovery.loss=ce needs a class-score output, but the model's outputs {outputs} hold none "
            "(see the recipe's class_score_outputs); use recovery.loss=kd"
        )


def _check_labels(config: PruneConfig, data) -> None:
    if config.recovery.loss == "ce" and data.labels is None:
        raise ConfigError(
            "prune.recovery.loss=ce needs labels, but prune.data is unlabelled (use_labels=false or no labels); "
            "use recovery.loss=kd, or give labelled data"
        )
