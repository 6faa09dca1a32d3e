"""The ONNX Runtime target's ``options``, checked strictly when the target loads (no runtime import)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from edge_pipeline.config.base import StrictModel

ExecutionProviderName = Literal["nnapi", "coreml", "xnnpack"]


class OrtMobileOptions(StrictModel):
    """``options.ort_mobile`` of a target profile: what to make beside the INT8 QDQ ONNX."""

    optimization_styles: list[Literal["fixed", "runtime"]] = Field(
        default_factory=lambda: ["fixed", "runtime"],
        min_length=1,
        description="fixed: optimizations baked in (CPU EP). runtime: saved for replay, for NNAPI/CoreML.",
    )
    target_platform: Literal["arm", "amd64"] = Field(
        "arm", description="arm allows int8 QDQ fusions (session.qdqisint8allowed); amd64 allows NCHWc."
    )
    fixed_batch_size: int | None = Field(
        1, gt=0, description="Fix the batch dimension before conversion (NNAPI needs static shapes); null keeps it."
    )
    required_operators: bool = Field(True, description="Write required_operators.config for a reduced-op build.")
    type_reduction: bool = Field(False, description="Also reduce per-operator types in the config.")
    execution_providers: list[ExecutionProviderName] = Field(
        default_factory=lambda: ["nnapi", "coreml", "xnnpack"], description="EPs to check partitioning for."
    )


class OnnxRuntimeOptions(StrictModel):
    ort_mobile: OrtMobileOptions | None = Field(
        None, description="Also make ORT-format models for ORT Mobile (and check EP usability) beside the QDQ ONNX."
    )
    providers: list[str] | None = Field(
        None, min_length=1,
        description="Execution providers the benchmark stage times on, in priority order (cpu, cuda, tensorrt, "
        "xnnpack, nnapi, coreml, openvino, dml, or ORT's own names); default: cpu.",
    )

    @field_validator("providers")
    @classmethod
    def _known_providers(cls, values: list[str] | None) -> list[str] | None:
        from edge_pipeline.backends.onnxruntime.providers import parse_providers
        from edge_pipeline.errors import ConfigError

        try:
            return None if values is None else parse_providers(values)
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc  # pydantic reports it under options.providers
