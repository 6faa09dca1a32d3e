"""Budgets turned into per-step pruning amounts, and the check that a budget can be met at all."""

from __future__ import annotations

import torch

from edge_pipeline.config.shrink import PruneConfig
from edge_pipeline.errors import ConfigError
from edge_pipeline.pruning.channels import count_macs_params, ignored_names, ratio_for_macs, smallest_macs
from edge_pipeline.training.batches import Inputs


def macs_budget(config: PruneConfig, teacher_macs: int) -> int:
    return int(config.target.macs_fraction * teacher_macs)


def check_reachable(model: torch.nn.Module, teacher: torch.nn.Module, example: Inputs,
                    config: PruneConfig) -> None:
    """Raise ConfigError before any training when a MACs budget is out of reach of this architecture."""
    from edge_pipeline.pruning.importance import has_batchnorm

    if config.importance == "bn_scale" and not has_batchnorm(model):
        raise ConfigError(
            "prune.importance=bn_scale ranks channels by BatchNorm scales, but the model has no BatchNorm layers; "
            "use importance l1, l2 or taylor"
        )
    if config.importance == "taylor":  # no gradients yet; the floor depends on the ratio, not the criterion
        config = config.model_copy(update={"importance": "l2"})
    if config.target.kind != "macs":
        ignored_names(model, config, example)  # still validates ignored_layers
        return
    ignored = ignored_names(model, config, example)
    teacher_macs, _ = count_macs_params(teacher, example)
    budget = macs_budget(config, teacher_macs)
    met = macs_budget_met(model, example, config, teacher_macs)
    if met is not None:
        if config.if_budget_met == "fail":
            raise ConfigError(budget_met_error(met))
        return  # nothing to prune: the stage skips, so no floor to check
    floor = smallest_macs(model, example, config, ignored)
    if floor > budget:
        raise ConfigError(
            f"prune.target.macs_fraction={config.target.macs_fraction} cannot be met: removing up to "
            f"{config.max_layer_ratio:.0%} of every prunable layer's channels still leaves {floor:,} MACs "
            f"({floor / teacher_macs:.1%} of the teacher's {teacher_macs:,}); raise macs_fraction to at least "
            f"{floor / teacher_macs:.2f}, raise prune.max_layer_ratio, or ignore fewer layers"
        )


def step_ratio(model, example, config: PruneConfig, ignored: list[str], step: int, start_macs: int,
               teacher_macs: int) -> float:
    """Channel ratio to remove at ``step`` (1-based) of ``config.steps`` so the last step lands on the budget."""
    steps = config.steps
    if config.target.kind == "ratio":
        # Kept fraction after step i of N is 1 - r*i/N of the original; convert to a ratio of the current model.
        kept_before = 1.0 - config.target.ratio * (step - 1) / steps
        kept_after = 1.0 - config.target.ratio * step / steps
        return 1.0 - kept_after / kept_before
    final = macs_budget(config, teacher_macs)
    # Geometric interpolation: every step removes the same fraction of the MACs left.
    target = int(start_macs * (final / start_macs) ** (step / steps)) if start_macs > final else final
    return ratio_for_macs(model, example, config, ignored, target, "prune.target.macs_fraction")


def latency_step_ratio(model, example, config: PruneConfig, ignored: list[str]) -> float:
    """kind=latency: remove enough channels to keep ``step_fraction`` of the current MACs."""
    current, _ = count_macs_params(model, example)
    return ratio_for_macs(model, example, config, ignored, int(current * config.target.step_fraction),
                          "prune.target.latency_fraction")


class BudgetMetError(Exception):
    """The input model already meets the budget; the stage turns this into a skip or a ConfigError
    (prune.if_budget_met). Not an EdgePipelineError: it never reaches the user as it is."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # "<setting>: the input model ... within the budget"


def macs_budget_met(model: torch.nn.Module, example: Inputs, config: PruneConfig, teacher_macs: int) -> str | None:
    """Why pruning ``model`` to a MACs budget would remove nothing, or None when it must prune."""
    if config.target.kind != "macs":
        return None
    macs, _ = count_macs_params(model, example)
    budget = macs_budget(config, teacher_macs)
    if macs > budget:
        return None
    return (f"prune.target.macs_fraction={config.target.macs_fraction}: the input model already has {macs:,} MACs "
            f"({macs / teacher_macs:.1%} of the teacher's {teacher_macs:,}), within the budget of {budget:,}")


def budget_met_error(reason: str) -> str:
    return (f"{reason}, so pruning would remove nothing; lower the budget, drop the prune stage, or set "
            "prune.if_budget_met=skip")
