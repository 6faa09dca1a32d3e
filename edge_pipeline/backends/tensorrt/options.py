"""The TensorRT target's ``options:`` block, and the build plan derived from it and the model.

The same plan drives the in-pipeline engine build on x86 GPU hosts and the Jetson bundle's
build_and_benchmark.py, so both build identical engines from identical settings.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError, model_validator

from edge_pipeline.config.base import StrictModel
from edge_pipeline.errors import ConfigError


class TensorRtOptions(StrictModel):
    engine: Literal["host", "device-bundle"] = Field(
        "host",
        description="host: build and time the engine on this machine when TensorRT and a GPU are present; "
        "device-bundle: write a bundle that builds the engine on the device (engines are not portable).",
    )
    min_batch: int = Field(1, gt=0, description="Optimization profile: smallest batch the engine accepts.")
    opt_batch: int = Field(8, gt=0, description="Optimization profile: batch TensorRT tunes kernels for.")
    max_batch: int = Field(32, gt=0, description="Optimization profile: largest batch the engine accepts.")
    workspace_mib: int = Field(1024, gt=0, description="Builder workspace memory-pool limit in MiB.")
    builder_optimization_level: int = Field(
        3, ge=0, le=5, description="0-5; higher searches more tactics, builds slower."
    )
    timing_cache: bool = Field(True, description="Persist the builder's timing cache next to the engine and reuse it.")
    dla_core: int | None = Field(
        None, ge=0, description="Jetson Orin DLA core (0 or 1), with GPU fallback; None: GPU only."
    )
    min_channels: int = Field(
        16, gt=0, description="Weighted ops with fewer channels (K/N) stay in float (no INT8 kernels)."
    )
    benchmark_batch_sizes: list[int] = Field(
        default_factory=lambda: [1, 8], description="Batch sizes the device script times (within min..max)."
    )
    event_iterations: int = Field(
        200, gt=0, description="Runs timed with CUDA events per batch size (H2D/compute/D2H)."
    )

    @model_validator(mode="after")
    def _ordered_profile(self) -> TensorRtOptions:
        if not self.min_batch <= self.opt_batch <= self.max_batch:
            raise ValueError(
                f"need min_batch <= opt_batch <= max_batch, got {self.min_batch}, {self.opt_batch}, {self.max_batch}"
            )
        outside = [b for b in self.benchmark_batch_sizes if not self.min_batch <= b <= self.max_batch]
        if outside:
            raise ValueError(
                f"benchmark_batch_sizes {outside} lie outside the profile {self.min_batch}..{self.max_batch}"
            )
        return self


def tensorrt_options(target) -> TensorRtOptions:
    try:
        return TensorRtOptions.model_validate(target.options)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "options"
        raise ConfigError(
            f"target '{target.metadata.name}' options.{where}: {first['msg']}; allowed keys: "
            f"{', '.join(TensorRtOptions.model_fields)}"
        ) from exc


PLAN_SCHEMA_VERSION = 2  # 2: "inputs", one entry per graph input with its own profile (1: one "input")


def build_plan(model_file: str, model_sha256: str, inputs: list[dict], options: TensorRtOptions, precision: str,
               warmup: int, iterations: int) -> dict:
    """What bundle.json holds. ``inputs``: one dict per graph input, in graph order: name, dtype,
    the per-sample shape (batch excluded) and, for integer inputs, value_range and its source."""
    return {
        "schema_version": PLAN_SCHEMA_VERSION,
        "model": model_file,
        "model_sha256": model_sha256,
        "precision": precision,
        "inputs": [_plan_input(entry, options) for entry in inputs],
        "workspace_mib": options.workspace_mib,
        "builder_optimization_level": options.builder_optimization_level,
        "timing_cache": "timing.cache" if options.timing_cache else None,
        "dla_core": options.dla_core,
        "benchmark": {"batch_sizes": options.benchmark_batch_sizes, "warmup": warmup, "iterations": iterations},
    }


def _plan_input(entry: dict, options: TensorRtOptions) -> dict:
    """One input with its optimization-profile shapes: only the batch (dim 0) varies, the sample
    dims are fixed, so every input of one profile shares the same min/opt/max batch."""
    sample = list(entry["sample_shape"])
    planned = {"name": entry["name"], "dtype": entry["dtype"], "sample_shape": sample}
    if entry.get("value_range") is not None:
        planned["value_range"] = list(entry["value_range"])
        planned["value_range_source"] = entry.get("value_range_source", "given")
    planned["profile"] = {
        "min": [options.min_batch, *sample],
        "opt": [options.opt_batch, *sample],
        "max": [options.max_batch, *sample],
    }
    return planned
