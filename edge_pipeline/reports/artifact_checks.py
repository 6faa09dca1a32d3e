"""Per timed artifact: how it was quantized, the quantize stage's own check of it, and the export
check of the model it came from, read from the artifact records' ``meta`` (the manifest's artifacts,
or the run's records the writers get). One table definition for report.md and report.html."""

from __future__ import annotations

from collections.abc import Callable

from edge_pipeline.reports.tables import MISSING

HEADERS = ["target", "model", "artifact", "quantization", "calibration", "quantize check (worst output)",
           "export check"]

# meta key -> phrase for its value (None: say nothing). Order is the order written.
_SETTINGS: list[tuple[str, Callable[[object, dict], str | None]]] = [
    ("format", lambda v, m: str(v)),
    ("quantizer", lambda v, m: str(v)),
    ("weights_precision", lambda v, m: f"weights {v}"),
    ("weight_type", lambda v, m: f"weights {v}" + _per_channel(m.get("per_channel"))),
    ("weight_bits", lambda v, m: f"{v}-bit weight range" if v != 8 else None),
    ("activation_type", lambda v, m: f"activations {v}" + _symmetry(m.get("activation_symmetric"))),
    ("matmul_outputs", lambda v, m: "MatMul outputs float" if v == "float" else None),
    ("conv_kernel", lambda v, m: f"{m.get('convs_on_gemm', 0)} convolutions on the INT8 GEMM" if v == "gemm" else None),
    ("preset", lambda v, m: f"preset {v}"),
    ("model_type", lambda v, m: f"model type {v}"),
    ("fast_bias_correction", lambda v, m: "fast bias correction" if v else None),
    ("optimization_style", lambda v, m: f"ORT format, {v} optimizations"),
    ("target_platform", lambda v, m: f"for {v}"),
    ("fixed_batch_size", lambda v, m: f"batch fixed at {v}" if v else None),
    ("nodes_excluded", lambda v, m: f"{_nodes(v)} excluded" if isinstance(v, list) and v else None),
    ("float_nodes", lambda v, m: f"{_nodes(v)} kept float" if isinstance(v, dict) and v else None),
    ("ignored_scope", lambda v, m: _ignored(v)),
]


def _nodes(found: list | dict) -> str:
    return f"{len(found)} node{'' if len(found) == 1 else 's'}"


def _per_channel(value: object) -> str:
    if value is True:
        return " per-channel"
    if isinstance(value, str) and value:
        return f" per-channel ({value})"
    return " per-tensor" if value is False else ""


def _symmetry(value: object) -> str:
    return {True: " symmetric", False: " asymmetric"}.get(value, "") if isinstance(value, bool) else ""


def _ignored(scope: object) -> str | None:
    if not isinstance(scope, dict):
        return None
    names = [*(scope.get("names") or []), *(scope.get("types") or [])]
    return f"ignored scope: {', '.join(map(str, names))}" if names else None


def quantization_text(artifact: dict) -> str:
    meta = artifact.get("meta") or {}
    phrases = [phrase for key, describe in _SETTINGS if key in meta and (phrase := describe(meta[key], meta))]
    if phrases:
        return ", ".join(phrases)
    return "none (FP32 as exported)" if artifact.get("precision") == "fp32" else MISSING


def calibration_text(artifact: dict) -> str:
    calibration = (artifact.get("meta") or {}).get("calibration")
    if not isinstance(calibration, dict):
        return MISSING
    parts = [str(calibration.get("method", "?"))]
    if calibration.get("samples"):
        parts.append(f"{calibration['samples']} samples")
    if calibration.get("num_bins"):
        parts.append(f"{calibration['num_bins']} bins")
    return ", ".join(parts)


def check_text(artifact: dict) -> str:
    """The worst output of the quantize stage's fidelity check against the FP32 ONNX."""
    check = (artifact.get("meta") or {}).get("fidelity_check")
    figures = [f for f in check.values() if isinstance(f, dict)] if isinstance(check, dict) else []
    if not figures:
        return MISSING
    worst = min(figures, key=lambda f: f.get("cosine", 1.0))
    parts = [f"cosine {worst['cosine']:.5f}"] if "cosine" in worst else []
    if isinstance(worst.get("sqnr_db"), (int, float)):
        parts.append(f"SQNR {worst['sqnr_db']:.1f} dB")
    if worst.get("top1_agreement") is not None:
        parts.append(f"top-1 {worst['top1_agreement']:.1f}%")
    return ", ".join(parts) or "run"


def export_text(export: dict | None) -> str:
    """The export stage's check of the ONNX against PyTorch (or, for an ONNX source, that it ran)."""
    meta = (export or {}).get("meta") or {}
    check = meta.get("numeric_check")
    if not isinstance(check, dict):
        return MISSING
    samples = f"{check['samples']} samples" if check.get("samples") else "checked"
    opset = f", opset {meta['opset']}" if meta.get("opset") else ""
    if "max_abs_diff" not in check:
        return f"ran on {samples}{opset} (ONNX source: no PyTorch to compare)"
    cosine = f", cosine {check['cosine']:.6f}" if isinstance(check.get("cosine"), (int, float)) else ""
    return f"vs PyTorch max |diff| {check['max_abs_diff']:.2g}{cosine} ({samples}{opset})"


def artifact_check_table(artifacts: list[dict], timed_ids: set[str]) -> list[list[str]]:
    """One line per timed artifact (those the report has rows for), in pipeline order."""
    exports = {a.get("model"): a for a in artifacts if a.get("stage") == "export"}
    return [[str(a.get("target") or MISSING), str(a.get("model", "?")), str(a.get("id", "?")).rsplit("/", 1)[-1],
             quantization_text(a), calibration_text(a), check_text(a), export_text(exports.get(a.get("model")))]
            for a in artifacts if a.get("id") in timed_ids]
