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


# x86 flags whose u8 x s8 dot product accumulates in 32 bits (VNNI's vpdpbusd, AMX tiles). Without
# one, MLAS multiplies u8 activations by s8 weights with vpmaddubsw, which adds each pair of products
# in 16 bits and saturates when both are large (up to 2 * 255 * 127 = 64770 > 32767).
WIDE_ACCUMULATION_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
X86_SIMD_FLAGS = frozenset({"avx2", "avx512f", "avx512bw"}) | WIDE_ACCUMULATION_FLAGS


class OnnxRuntimeOptions(StrictModel):
    ort_mobile: OrtMobileOptions | None = Field(
        None, description="Also make ORT-format models for ORT Mobile (and check EP usability) beside the QDQ ONNX."
    )
    weight_range: Literal["auto", "full", "reduced"] = Field(
        "auto", description="INT8 weights in 8 bits (full) or 7 (reduced: ORT's reduce_range), which keeps a pair "
        "of u8 x s8 products within the 16 bits that x86 CPUs without VNNI add them in (no saturation). auto: "
        "reduced for unsigned activations on an x86 profile whose device.features name SIMD but no VNNI or AMX; "
        "else full.",
    )
    conv_kernel: Literal["indirect", "gemm"] = Field(
        "indirect", description="The MLAS kernel ORT's INT8 convolutions run on (conv_kernel.py). indirect: "
        "symmetric weights (zero point 0), MLAS's indirect convolution kernels (AVX2, AVX-VNNI, AVX-512 VNNI; "
        "ORT has no AMX one). gemm: the same weights stored with zero point -1 (every dequantized value "
        "unchanged), which sends them to im2col + MLAS's INT8 GEMM, AMX on a CPU with AMX. Grouped "
        "(depthwise) convolutions keep their own kernels.",
    )
    conv_gemm_min_depth: int = Field(
        0, ge=0, le=1 << 30, description="With conv_kernel gemm: only convolutions whose GEMM depth K (input "
        "channels x kernel area) is at least this go to the GEMM; shallower ones keep the indirect kernels. "
        "0: every convolution. Measured on an AMX Xeon (benchmarks/ort_conv_layers.py): the AMX GEMM wins from "
        "K = 1152 (3x3 over 128 channels) and loses at K <= 960 (every 1x1 of MobileNetV2, ResNet's first stage).",
    )
    matmul_outputs: Literal["auto", "float", "quantized"] = Field(
        "auto", description="Whether INT8 MatMul/Gemm outputs are quantized again (QLinearMatMul, QGemm to int8) "
        "or left in float (MatMulIntegerToFloat, QGemm to float: ORT's OpTypesToExcludeOutputQuantization). "
        "Their outputs mostly feed float ops (bias Add, LayerNorm, Softmax, GELU, the logits): float saves a "
        "QuantizeLinear/DequantizeLinear pair and a rounding per MatMul. auto: float on x86, quantized "
        "elsewhere (NNAPI, XNNPACK and QNN take whole QDQ groups).",
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


def reduces_weight_range(weight_range: str, activation_type: str, arch: str, features: list[str]) -> bool:
    """Whether weights get 7 bits: asked for, or (auto) U8S8 for an x86 CPU the profile says adds u8 x s8
    products in 16 bits. A profile naming no x86 features says nothing about its CPU: full, ORT's default."""
    if weight_range != "auto":
        return weight_range == "reduced"
    named = set(features)
    return (activation_type == "uint8" and arch == "x86_64" and bool(named & X86_SIMD_FLAGS)
            and not named & WIDE_ACCUMULATION_FLAGS)


def float_matmul_outputs(matmul_outputs: str, arch: str) -> bool:
    """Whether MatMul/Gemm outputs stay in float: asked for, or (auto) on x86, where ORT's CPU EP runs
    MatMulIntegerToFloat and QGemm's float output; elsewhere EPs take whole QDQ groups."""
    if matmul_outputs != "auto":
        return matmul_outputs == "float"
    return arch == "x86_64"
