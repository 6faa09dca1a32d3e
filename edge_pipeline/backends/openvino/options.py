"""The OpenVINO target's backend-specific settings (``TargetProfile.options``), checked strictly.

Kept free of openvino/nncf imports so a profile can be validated on a machine without them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError

from edge_pipeline.config.base import StrictModel
from edge_pipeline.errors import ConfigError, DataError


class OpenVinoOptions(StrictModel):
    performance_hint: Literal["latency", "throughput"] = Field(
        "latency",
        description="OpenVINO PERFORMANCE_HINT. throughput splits each batch over parallel async infer requests.",
    )
    num_streams: int | None = Field(
        None, ge=1, description="CPU streams; None lets the hint choose (latency: 1, throughput: per cores)."
    )
    compress_to_fp16: bool = Field(
        False, description="Store the FP32 IR's weights as FP16 (smaller file; not an FP32 baseline any more)."
    )
    bf16_variant: bool = Field(
        True, description="Also time the FP32 IR with INFERENCE_PRECISION_HINT=bf16 when the CPU supports bf16."
    )
    int8_float_precision: Literal["f32", "bf16"] = Field(
        "f32", description="INFERENCE_PRECISION_HINT for the ops the INT8 IR leaves in floating point."
    )
    preset: Literal["performance", "mixed"] = Field(
        "performance", description="NNCF preset: symmetric activations (performance) or asymmetric (mixed)."
    )
    fast_bias_correction: bool = Field(
        True, description="NNCF fast bias correction; false runs the slower, more exact full bias correction."
    )
    smooth_quant: bool = Field(
        True, description="NNCF SmoothQuant on MatMuls (transformer model type only): migrates activation outliers "
        "into the weights; false turns it off, which the fidelity fallback tries on transformers."
    )
    smooth_quant_alpha: float | None = Field(
        None, ge=0, le=1, description="SmoothQuant migration strength for MatMuls (0: none, 1: all of it onto the "
        "weights). Default: NNCF's own (0.95)."
    )
    model_type: Literal["cnn", "transformer"] | None = Field(
        None, description="NNCF model type; transformer enables its transformer patterns (SmoothQuant, kept-float "
        "ops). Default: from quantize.preset (auto: transformer when the graph has attention)."
    )
    max_iterations: int | None = Field(
        None, ge=1, description="Accuracy control: most quantizer groups reverted to float before giving up."
    )


def parse_options(options: dict, where: str) -> OpenVinoOptions:
    """Validate a target's ``options`` dict, naming the key and the allowed values on failure."""
    try:
        return OpenVinoOptions.model_validate(options or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "options"
        allowed = ", ".join(OpenVinoOptions.model_fields)
        raise ConfigError(
            f"{where}: options.{key}: {first['msg']}; OpenVINO options are: {allowed}"
        ) from exc


def check_method(config) -> None:
    """quantize.method as NNCF range estimators: entropy (KL) has no NNCF counterpart."""
    if config.method not in ("minmax", "percentile"):
        raise ConfigError(
            f"quantize.method '{config.method}' has no NNCF equivalent for the OpenVINO target; "
            "use 'minmax' or 'percentile' (or set the method only on the ONNX Runtime target)"
        )


def check_eval_data(config, eval_data, metric=None) -> None:
    """Accuracy control needs data.eval, with labels unless a task metric judges it; fail before any
    calibration starts."""
    if config.max_drop is None:
        return
    if config.control_metric is not None and metric is None:
        raise ConfigError(f"quantize.control_metric '{config.control_metric}' needs the recipe's 'metric' "
                          "(package.module:function)")
    if eval_data is None or (config.control_metric is None and not eval_data.labelled):
        found = "no data.eval split" if eval_data is None else f"data.eval {eval_data.source} without labels"
        raise DataError(
            f"quantize.max_drop={config.max_drop} needs a labelled evaluation split, found {found}; "
            "add data.eval with a labels array (npz key 'y') or remove quantize.max_drop"
        )
