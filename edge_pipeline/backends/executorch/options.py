"""The ExecuTorch target's backend-specific settings (``TargetProfile.options``), checked strictly.

Kept free of torch/executorch imports so a profile validates on a machine without them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError

from edge_pipeline.config.base import StrictModel
from edge_pipeline.errors import ConfigError


class ExecuTorchOptions(StrictModel):
    delegate: Literal["xnnpack", "portable"] = Field(
        "xnnpack", description="xnnpack: lower every supported operator to the XNNPACK delegate (ARM and x86 "
        "CPUs); portable: no delegate, ExecuTorch's portable reference kernels run the whole program."
    )
    per_channel: bool = Field(True, description="INT8: per-output-channel weight scales (XNNPACKQuantizer).")
    symmetric: bool = Field(
        True, description="INT8: symmetric activation ranges (XNNPACK's symmetric config); false calibrates "
        "asymmetric activations where the quantizer offers them."
    )
    dynamic_linear: bool = Field(
        False, description="INT8: linear layers quantize their activations at run time (dynamic ranges, "
        "no calibration for them); convolutions keep calibrated static ranges."
    )
    memory_planning: Literal["greedy", "naive"] = Field(
        "greedy", description="ExecuTorch memory planning: greedy shares buffers between tensors whose "
        "lifetimes do not overlap; naive gives each its own (larger, simpler to debug)."
    )


def parse_options(options: dict | None, where: str) -> ExecuTorchOptions:
    """Validate a target's ``options`` dict, naming the key and the allowed values on failure."""
    try:
        return ExecuTorchOptions.model_validate(options or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "options"
        raise ConfigError(f"{where}: options.{key}: {first['msg']}; ExecuTorch options are: "
                          f"{', '.join(ExecuTorchOptions.model_fields)}") from exc
