"""The run's datasets, loaded once and validated against the recipe's input spec."""

from __future__ import annotations

from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.calibration.readers import load_dataset
from edge_pipeline.stages.context import RunContext


def calibration_dataset(ctx: RunContext) -> ArrayDataset:
    return _dataset(ctx, "calibration")


def eval_dataset(ctx: RunContext) -> ArrayDataset | None:
    if ctx.recipe.data.eval is None:
        return None
    return _dataset(ctx, "eval")


def _dataset(ctx: RunContext, role: str) -> ArrayDataset:
    if role not in ctx.datasets:
        spec = getattr(ctx.recipe.data, role)
        sample_shape = tuple(ctx.recipe.input.shape[1:])
        ctx.datasets[role] = load_dataset(spec, sample_shape, ctx.recipe.input.dtype, role)
    return ctx.datasets[role]
