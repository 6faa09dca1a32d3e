"""Typed, strict configs for recipes and target profiles.

A target profile holds the defaults for its device; a recipe may override any stage setting, and
only the keys the recipe sets win (see ``effective_stage_config``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, field_validator, model_validator

from edge_pipeline.config.base import StrictModel

# DatasetSpec lives in the leaf module config/data.py (shrink.py needs it too); importing it here
# keeps `from edge_pipeline.config.schema import DatasetSpec` working.
from edge_pipeline.config.data import DatasetSpec
from edge_pipeline.config.shrink import DistillConfig, PruneConfig

Precision = Literal["fp32", "fp16", "bf16", "int8"]
CalibrationMethod = Literal["minmax", "entropy", "percentile"]


class Metadata(StrictModel):
    name: str = Field(description="Short identifier, used in bundle and report names.")
    description: str = Field("", description="Free text for people.")
    version: str = Field("1", description="Recipe or profile revision.")


class ModelSpec(StrictModel):
    factory: str | None = Field(None, description="'package.module:callable' returning an nn.Module.")
    kwargs: dict = Field(default_factory=dict, description="Keyword arguments for the factory.")
    checkpoint: Path | None = Field(
        None, description="State dict (.pt/.pth loaded with weights_only=True, or .safetensors)."
    )
    program: Path | None = Field(None, description="A torch.export program (.pt2) instead of a factory.")

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        if (self.factory is None) == (self.program is None):
            raise ValueError("set exactly one of 'factory' or 'program'")
        if self.program is not None and self.checkpoint is not None:
            raise ValueError("'checkpoint' goes with 'factory'; a torch.export program carries its weights")
        return self


class InputSpec(StrictModel):
    name: str = Field("input", description="Graph input name in the exported ONNX.")
    shape: list[int] = Field(description="Full shape with the batch dimension first, e.g. [1, 3, 224, 224].")
    dtype: Literal["float32", "float16", "int64", "int32", "uint8"] = Field("float32", description="Input dtype.")
    dynamic_batch: bool = Field(True, description="Export the batch dimension as dynamic.")

    @field_validator("shape")
    @classmethod
    def _positive(cls, shape: list[int]) -> list[int]:
        if len(shape) < 2 or any(d <= 0 for d in shape):
            raise ValueError(f"shape {shape} must have a batch dimension and positive sizes, e.g. [1, 3, 224, 224]")
        return shape


class DataSpec(StrictModel):
    calibration: DatasetSpec = Field(description="Samples that calibrate quantization and check export.")
    eval: DatasetSpec | None = Field(None, description="Labelled held-out split for accuracy.")


class ExportConfig(StrictModel):
    opset: int = Field(18, ge=18, le=23, description="ONNX opset; the dynamo exporter needs 18 or newer.")
    dynamic_batch: bool | None = Field(None, description="Overrides input.dynamic_batch when set.")
    simplify: bool = Field(True, description="Run onnxslim after export.")
    check_samples: int = Field(32, gt=0, description="Real inputs compared between PyTorch and ONNX Runtime.")
    max_abs_diff: float = Field(1e-3, gt=0, description="Largest allowed |torch - onnx| on any output element.")
    min_cosine: float = Field(0.9999, gt=0, le=1, description="Smallest allowed cosine similarity of outputs.")


class QuantizeConfig(StrictModel):
    method: CalibrationMethod = Field("minmax", description="Activation range calibration.")
    samples: int = Field(128, gt=0, description="Calibration samples drawn from data.calibration.")
    percentile: float = Field(99.999, gt=90, le=100, description="Percentile for method=percentile.")
    num_bins: int = Field(2048, ge=128, description="Histogram bins for entropy and percentile.")
    per_channel: bool = Field(True, description="Per-output-channel weight scales.")
    activation_type: Literal["auto", "uint8", "int8"] = Field(
        "auto", description="auto: uint8 on x86 (VNNI U8S8 kernels), int8 symmetric on ARM."
    )
    symmetric_activations: bool | None = Field(None, description="Default follows activation_type.")
    exclude_nodes: list[str] = Field(default_factory=list, description="Node names kept in float.")
    exclude_op_types: list[str] = Field(default_factory=list, description="Op types kept in float.")
    max_drop: float | None = Field(
        None,
        gt=0,
        description="Accuracy-controlled INT8 (OpenVINO/NNCF): largest top-1 drop, in points, on the labelled "
        "data.eval; quantized ops are reverted to float until it holds. Other backends ignore it.",
    )


class BenchmarkConfig(StrictModel):
    warmup: int = Field(20, ge=0, description="Untimed runs before timing.")
    iterations: int = Field(200, gt=0, description="Timed runs per configuration (upper bound with a budget).")
    time_budget_s: float | None = Field(None, gt=0, description="Stop timing a configuration after this long.")
    rounds: int = Field(
        1, ge=1, description="Fresh worker processes per artifact, taken in turn across the run's artifacts; "
        "samples are pooled (iterations and the budget are per round)."
    )
    batch_sizes: list[int] = Field(default_factory=lambda: [1], description="Batch sizes to time.")
    threads: list[int] = Field(default_factory=lambda: [2], description="Intra-op thread counts to time.")
    eval_batch_size: int = Field(64, gt=0, description="Batch used for the accuracy pass when shapes allow.")

    @field_validator("batch_sizes", "threads")
    @classmethod
    def _positive_list(cls, values: list[int]) -> list[int]:
        if not values or any(v <= 0 for v in values):
            raise ValueError(f"{values} must be a non-empty list of positive integers")
        return values


class DeviceSpec(StrictModel):
    kind: Literal["cpu", "gpu", "npu"] = Field("cpu", description="Processor class the profile runs on.")
    arch: Literal["x86_64", "arm64"] = Field("x86_64", description="Instruction set.")
    features: list[str] = Field(default_factory=list, description="CPU features the settings rely on.")
    board: str | None = Field(None, description="Board name, e.g. 'jetson-orin'.")


def _default_precisions() -> list[Precision]:
    # A named function because mypy infers a lambda's ["fp32", "int8"] as list[str], not list[Precision].
    return ["fp32", "int8"]


class TargetProfile(StrictModel):
    metadata: Metadata = Field(description="Name (must equal the file name) and description.")
    backend: str = Field(description="Registered backend name, e.g. 'onnxruntime'.")
    device: DeviceSpec = Field(default_factory=DeviceSpec, description="Hardware the profile is tuned for.")
    precisions: list[Precision] = Field(default_factory=_default_precisions, description="Artifacts made.")
    export: ExportConfig = Field(default_factory=ExportConfig, description="Export settings this target needs.")
    quantize: QuantizeConfig = Field(default_factory=QuantizeConfig, description="Quantization defaults.")
    benchmark: BenchmarkConfig = Field(default_factory=BenchmarkConfig, description="Benchmark defaults.")
    options: dict = Field(default_factory=dict, description="Backend-specific settings, checked by the backend.")


class Recipe(StrictModel):
    metadata: Metadata = Field(description="Name and description of the recipe.")
    model: ModelSpec = Field(description="The trained PyTorch model (the teacher).")
    input: InputSpec = Field(description="The model's input signature.")
    data: DataSpec = Field(description="Calibration and evaluation data.")
    stages: list[str] = Field(
        default_factory=lambda: ["export", "quantize", "benchmark"], description="Stages in run order."
    )
    targets: list[str] = Field(default_factory=lambda: ["x86-cpu-onnxruntime"], description="Target profiles.")
    export: ExportConfig = Field(default_factory=ExportConfig, description="Export settings.")
    quantize: QuantizeConfig = Field(
        default_factory=QuantizeConfig, description="Overrides of the targets' quantization defaults."
    )
    benchmark: BenchmarkConfig = Field(
        default_factory=BenchmarkConfig, description="Overrides of the targets' benchmark defaults."
    )
    distill: DistillConfig | None = Field(None, description="Settings of the 'distill' stage (defaults when absent).")
    prune: PruneConfig | None = Field(None, description="Settings of the 'prune' stage (defaults when absent).")

    @field_validator("targets")
    @classmethod
    def _some_target(cls, targets: list[str]) -> list[str]:
        if not targets:
            raise ValueError("list at least one target profile, e.g. ['x86-cpu-onnxruntime']")
        return targets


SectionT = TypeVar("SectionT", bound=StrictModel)


def effective_stage_config(recipe_section: SectionT, target_section: SectionT) -> SectionT:
    """Target defaults, overridden by the keys the recipe set explicitly."""
    merged = target_section.model_dump()
    merged.update(recipe_section.model_dump(exclude_unset=True))
    return type(target_section).model_validate(merged)

