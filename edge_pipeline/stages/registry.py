"""The stage registry: one descriptor per stage, in canonical order. Stage code imports on use, so a
recipe without 'prune' never imports torch-pruning."""

from __future__ import annotations

from edge_pipeline.errors import ConfigError
from edge_pipeline.stages.base import (
    BUNDLE,
    ONNX,
    RECIPE_MODEL,
    RESULTS,
    TARGET_ARTIFACT,
    TORCH_PROGRAM,
    StageDescriptor,
)

STAGES: dict[str, StageDescriptor] = {}


def register_stage(descriptor: StageDescriptor) -> None:
    STAGES[descriptor.name] = descriptor


def stage(name: str) -> StageDescriptor:
    if name not in STAGES:
        raise ConfigError(f"unknown stage '{name}' in recipe 'stages'; known stages: {', '.join(STAGES)}")
    return STAGES[name]


_AFTER_SHRINKING = ("export", "quantize", "benchmark", "package")

register_stage(StageDescriptor(
    "distill", "edge_pipeline.stages.distill:run", "teacher -> student knowledge distillation",
    consumes=(RECIPE_MODEL,), produces=(TORCH_PROGRAM,), followers=("prune", *_AFTER_SHRINKING),
    config_field="distill", collective=True, replay="edge_pipeline.stages.distill:replay_material",
))
register_stage(StageDescriptor(
    "prune", "edge_pipeline.stages.prune:run", "structural channel pruning with recovery training",
    consumes=(RECIPE_MODEL,), produces=(TORCH_PROGRAM,), followers=("distill", *_AFTER_SHRINKING),
    config_field="prune", collective=True, replay="edge_pipeline.stages.prune:replay_material",
))
register_stage(StageDescriptor(
    "export", "edge_pipeline.stages.export:run", "PyTorch -> ONNX, checked against PyTorch",
    consumes=(RECIPE_MODEL,), produces=(ONNX,), followers=("quantize", "benchmark", "package"),
    config_field="export",
))
register_stage(StageDescriptor(
    "quantize", "edge_pipeline.stages.quantize:run", "per-target FP32 and INT8 artifacts",
    consumes=(ONNX,), produces=(TARGET_ARTIFACT,), followers=("benchmark", "package"), config_field="quantize",
))
register_stage(StageDescriptor(
    "benchmark", "edge_pipeline.stages.benchmark:run", "latency, memory and fidelity per artifact",
    consumes=(TARGET_ARTIFACT,), produces=(RESULTS,), followers=("package",), config_field="benchmark",
))
register_stage(StageDescriptor(
    "package", "edge_pipeline.stages.package:run", "the release bundle: artifacts, manifest, reports",
    consumes=(), produces=(BUNDLE,), followers=(),
))
