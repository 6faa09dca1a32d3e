"""Stage registry: a stage is a callable ``run(ctx)`` that adds artifacts or results to the run."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable

from edge_pipeline.errors import ConfigError

# name -> "module:function"; imported on use so a recipe without 'prune' never imports torch-pruning.
STAGES: dict[str, str] = {
    "export": "edge_pipeline.stages.export:run",
    "quantize": "edge_pipeline.stages.quantize:run",
    "benchmark": "edge_pipeline.stages.benchmark:run",
    "distill": "edge_pipeline.stages.distill:run",
    "prune": "edge_pipeline.stages.prune:run",
}

# Stages whose training every torchrun rank joins (DDP); under torchrun the other stages and the
# bundle run on rank 0 alone.
COLLECTIVE_STAGES: set[str] = {"distill", "prune"}


def runs_on_this_process(name: str) -> bool:
    """Under torchrun (RANK set) ranks other than 0 run only the collective stages; never the bundle."""
    return name in COLLECTIVE_STAGES or int(os.environ.get("RANK", "0")) == 0


def register_stage(name: str, reference: str) -> None:
    STAGES[name] = reference


def get_stage(name: str) -> Callable:
    if name not in STAGES:
        raise ConfigError(f"unknown stage '{name}' in recipe 'stages'; known stages: {', '.join(STAGES)}")
    module_name, _, attr = STAGES[name].partition(":")
    return getattr(importlib.import_module(module_name), attr)


def validate_stage_names(names: list[str]) -> None:
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        raise ConfigError(f"recipe 'stages' lists unknown {unknown}; known stages: {', '.join(STAGES)}")
