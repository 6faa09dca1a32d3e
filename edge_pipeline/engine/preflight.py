"""Checks and housekeeping at the start of a run, before any stage loads data or a model.

- A batch whose inputs cannot fit in the memory available is refused here, naming the recipe key,
  not hours later in the stage that allocates it.
- So is a calibration whose one sample cannot fit its budget (calibration/footprint.py), naming the
  estimate and the budget, where the graph is known before any stage (an ONNX model).
- The run's temporary files go into one folder of this process (benchmarking/scratch.py), so a
  killed run's are removed by the next run.
"""

from __future__ import annotations

from pathlib import Path

from edge_pipeline.benchmarking.memory import available_bytes, oversized_batch
from edge_pipeline.benchmarking.scratch import claim_temp_root
from edge_pipeline.config.schema import Recipe, TargetProfile, effective_stage_config
from edge_pipeline.errors import ConfigError


def preflight(recipe: Recipe, targets: dict[str, TargetProfile], stages: list[str]) -> None:
    check_batch_memory(recipe, targets, stages)
    check_calibration_memory(recipe, targets, stages)
    claim_temp_root()


def check_calibration_memory(recipe: Recipe, targets: dict[str, TargetProfile], stages: list[str],
                             available: int | None = None) -> None:
    """Refuse a quantize stage whose calibration cannot fit one sample in its budget (the recipe's
    quantize.memory_budget_mib, else the memory available), before any stage runs.

    Read off the graph when the recipe's model is an ONNX file; a PyTorch model has no graph until
    export, and each backend makes the same check on the exported graph before calibrating."""
    if "quantize" not in stages or recipe.model.onnx is None or not Path(recipe.model.onnx).is_file():
        return
    import onnx

    from edge_pipeline.backends.onnx_memory import graph_footprint
    from edge_pipeline.calibration.footprint import Budget, calibration_batch

    model = onnx.load(str(recipe.model.onnx), load_external_data=False)
    footprint = graph_footprint(model, {spec.name: _one_sample(spec) for spec in recipe.input_specs})
    for name, target in targets.items():
        config = effective_stage_config(recipe.quantize, target.quantize)
        budget = Budget.for_config(config)
        if available is not None and config.memory_budget_mib is None:
            budget = Budget(available, budget.source)
        calibration_batch(footprint, 1, config.num_bins, budget, f"target '{name}'")


def _one_sample(spec) -> tuple[int, ...]:
    axis = getattr(spec, "batch_axis", 0)
    return tuple(1 if index == axis else int(size) for index, size in enumerate(spec.shape))


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
    found = [("input.shape", spec.declared_batch) for spec in recipe.input_specs]
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
