"""Run a recipe's stages in order over one RunContext, then write the bundle."""

from __future__ import annotations

from pathlib import Path

from edge_pipeline.artifacts.bundle import write_bundle
from edge_pipeline.artifacts.cache import StageCache
from edge_pipeline.artifacts.versions import tool_versions
from edge_pipeline.config.locations import cache_root
from edge_pipeline.config.recipes import load_target
from edge_pipeline.config.schema import Recipe
from edge_pipeline.progress import progress
from edge_pipeline.stages.context import RunContext
from edge_pipeline.stages.data import calibration_dataset, eval_dataset
from edge_pipeline.stages.registry import get_stage, runs_on_this_process, validate_stage_names


def new_context(recipe: Recipe, cache_dir: Path | None = None, use_cache: bool = True) -> RunContext:
    validate_stage_names(recipe.stages)
    targets = {name: load_target(name) for name in recipe.targets}
    root = Path(cache_dir) if cache_dir else cache_root()
    return RunContext(
        recipe=recipe,
        targets=targets,
        cache=StageCache(root / "stages", enabled=use_cache),
        tool_versions=tool_versions(),
        workdir=root,
    )


def check_targets(ctx: RunContext) -> None:
    """Backend-specific target settings fail here too; an uninstalled backend still fails where it is used."""
    from edge_pipeline.backends.registry import get_backend, probe
    from edge_pipeline.config.schema import effective_stage_config

    for target in ctx.targets.values():
        if probe(target.backend)[0]:
            config = effective_stage_config(ctx.recipe.quantize, target.quantize)
            get_backend(target.backend).check_target(target.model_copy(update={"quantize": config}), ctx.recipe)


def run_pipeline(recipe: Recipe, out: Path, cache_dir: Path | None = None, use_cache: bool = True) -> Path:
    ctx = new_context(recipe, cache_dir, use_cache)
    # Bad data fails here, before any model is trained or exported.
    calibration_dataset(ctx)
    eval_dataset(ctx)
    check_targets(ctx)
    for name in recipe.stages:
        if not runs_on_this_process(name):
            continue
        progress(name, "start")
        get_stage(name)(ctx)
    if not runs_on_this_process("package"):
        return Path(out)  # a torchrun helper rank: rank 0 writes the bundle
    bundle = write_bundle(ctx, out)
    progress("package", f"bundle written: {bundle}")
    return bundle
