"""Prune stage: structural channel pruning of the latest model (a distilled student, else the teacher).

Checks (budget reachable, layer names, labels for CE recovery) run before any training. Pruning and
recovery run on every torchrun rank; rank 0 alone measures latency and writes the pruned model.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from edge_pipeline.artifacts.hashing import sha256_json
from edge_pipeline.config.schema import ModelSpec
from edge_pipeline.config.shrink import PruneConfig
from edge_pipeline.errors import ConfigError
from edge_pipeline.stages.context import RunContext
from edge_pipeline.stages.data import calibration_dataset, eval_dataset

STAGE = "prune"
CODE = ("edge_pipeline.pruning.channels", "edge_pipeline.pruning.importance", "edge_pipeline.pruning.plan",
        "edge_pipeline.pruning.schedule", "edge_pipeline.distillation.losses", "edge_pipeline.training.loop",
        "edge_pipeline.stages.prune")


def prune_config(ctx: RunContext) -> PruneConfig:
    return ctx.recipe.prune or PruneConfig()


def run(ctx: RunContext) -> None:
    from edge_pipeline.pruning.channels import count_macs_params, ignored_names
    from edge_pipeline.pruning.plan import check_reachable
    from edge_pipeline.shrinking.collective import collective_step
    from edge_pipeline.shrinking.data import transfer_dataset
    from edge_pipeline.shrinking.models import code_digest, example_input, load_teacher

    from edge_pipeline.training.distributed import ensure_process_group

    ensure_process_group()  # under torchrun: join the group before any rank-dependent step
    config = prune_config(ctx)
    model, base, parent, source_digest, input_name = _input_model(ctx)
    name = config.model_name or f"{input_name}-pruned"
    teacher = load_teacher(ctx)
    example = example_input(ctx)
    check_reachable(model, teacher, example, config)
    ignored = ignored_names(model, config, example)
    data = transfer_dataset(ctx, config.data, "prune.data")
    _check_labels(config, data)
    material = {
        "model": source_digest,
        "teacher": _teacher_digest(ctx),
        "config": config.model_dump(mode="json"),
        "data": data.sha256,
        "eval": _digest(eval_dataset(ctx)),
        "input": ctx.recipe.input.model_dump(),
        "code": code_digest(*CODE),
    }
    if config.target.kind == "latency":
        from edge_pipeline.benchmarking.host import timing_identity

        material["host"] = timing_identity()  # a measured budget depends on the machine
    checkpoints = ctx.workdir / "checkpoints" / STAGE / sha256_json(material)[:24]
    measure_latency = _latency_measure(ctx, teacher, config)  # an unknown backend fails here, before training

    def compute():
        from edge_pipeline.pruning.schedule import ScheduleInputs, run_schedule
        from edge_pipeline.shrinking.data import torch_dataset

        inputs = ScheduleInputs(example, ignored, torch_dataset(data), teacher, count_macs_params(teacher, example)[0],
                                checkpoints, measure_latency)
        return model, run_schedule(model, config, inputs)

    def save(result, directory: Path):
        from edge_pipeline.shrinking.models import model_summary, save_stage_model

        pruned, history = result
        evaluation = eval_dataset(ctx)
        teacher_summary = model_summary(teacher, example, evaluation, None)
        meta = {**model_summary(pruned, example, evaluation, teacher_summary), "teacher": teacher_summary,
                "steps": history, "input_model": input_name}
        artifact = save_stage_model(pruned, directory, name, STAGE, parent, base, example,
                                    config.model_dump(mode="json"), meta)
        shutil.rmtree(checkpoints, ignore_errors=True)
        return [artifact], {"summary": meta}

    artifacts, _ = collective_step(ctx, STAGE, name, material, compute, save)
    ctx.artifacts += artifacts


def _input_model(ctx: RunContext):
    """(model, base spec, parent id, content digest, lineage name) of what gets pruned."""
    from edge_pipeline.modeling.loading import model_source_digest
    from edge_pipeline.shrinking.models import (
        STATE_KEY, latest_stage_model, load_stage_model, load_teacher, require_module_spec,
    )

    source = latest_stage_model(ctx)
    if source is not None:
        base = ModelSpec.model_validate(source.meta[STATE_KEY]["base_model"])
        return load_stage_model(source), base, source.id, source.sha256, source.model
    require_module_spec(ctx.recipe.model, "prune")
    return load_teacher(ctx), ctx.recipe.model, None, model_source_digest(ctx.recipe.model), "teacher"


def _latency_measure(ctx: RunContext, teacher, config: PruneConfig):
    if config.target.kind != "latency":
        return None
    from edge_pipeline.pruning.latency import LatencyProbe
    from edge_pipeline.shrinking.collective import main_rank_value
    from edge_pipeline.training import distributed as dist_util

    probe = LatencyProbe(teacher, ctx.recipe.input, calibration_dataset(ctx).inputs, config.target) \
        if dist_util.is_main_process() else None

    def measure(model, label: str) -> dict:
        return main_rank_value(lambda: probe.measure(model, label))

    return measure


def _check_labels(config: PruneConfig, data) -> None:
    if config.recovery.loss == "ce" and data.labels is None:
        raise ConfigError(
            "prune.recovery.loss=ce needs labels, but prune.data is unlabelled (use_labels=false or no labels); "
            "use recovery.loss=kd, or give labelled data"
        )


def _teacher_digest(ctx: RunContext) -> str:
    from edge_pipeline.modeling.loading import model_source_digest

    return model_source_digest(ctx.recipe.model)


def _digest(data) -> str | None:
    return data.sha256 if data is not None else None
