"""Checks and housekeeping at the start of a run, before any stage loads data or a model.

- A batch whose inputs cannot fit in the memory available is refused here, naming the recipe key,
  not hours later in the stage that allocates it.
- The run's temporary files go into one folder of this process (benchmarking/scratch.py), so a
  killed run's are removed by the next run.
"""

from __future__ import annotations

from edge_pipeline.benchmarking.memory import available_bytes, oversized_batch
from edge_pipeline.benchmarking.scratch import claim_temp_root
from edge_pipeline.config.schema import Recipe, TargetProfile, effective_stage_config
from edge_pipeline.errors import ConfigError


def preflight(recipe: Recipe, targets: dict[str, TargetProfile], stages: list[str]) -> None:
    check_batch_memory(recipe, targets, stages)
    claim_temp_root()


def check_batch_memory(recipe: Recipe, targets: dict[str, TargetProfile], stages: list[str],
                       available: int | None = None) -> None:
    available = available_bytes() if available is None else available
    if available is None:
        return
    shapes: dict[str, tuple[tuple[int, ...], str]] = {
        spec.name: (spec.sample_shape, spec.dtype) for spec in recipe.input_specs}
    for key, batch_size in batch_sizes(recipe, targets, stages):
        reason = oversized_batch(shapes, batch_size, available)
        if reason is not None:
            fix = "a smaller input" if key == "input.shape" else f"a smaller {key.rpartition('.')[2]}"
            raise ConfigError(f"{key}: {reason}; use {fix}")


def batch_sizes(recipe: Recipe, targets: dict[str, TargetProfile], stages: list[str]) -> list[tuple[str, int]]:
    """(recipe key, batch size) for every batch the run's stages will allocate, smallest first: the
    first that does not fit is the one to name (when even input.shape's batch does not, the input is)."""
    found = [("input.shape", spec.shape[0]) for spec in recipe.input_specs]
    if "benchmark" in stages:
        for target in targets.values():
            config = effective_stage_config(recipe.benchmark, target.benchmark)
            found += [("benchmark.batch_sizes", size) for size in config.batch_sizes]
            found.append(("benchmark.eval_batch_size", config.eval_batch_size))
    if "distill" in stages and recipe.distill is not None:
        found.append(("distill.train.batch_size", recipe.distill.train.batch_size))
    if "prune" in stages and recipe.prune is not None:
        found.append(("prune.recovery.train.batch_size", recipe.prune.recovery.train.batch_size))
    return sorted(found, key=lambda item: item[1])
