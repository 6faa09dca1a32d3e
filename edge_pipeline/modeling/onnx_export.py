"""PyTorch -> ONNX with the dynamo exporter, checked by onnx.checker and against PyTorch numerically."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import numpy as np

from edge_pipeline.config.schema import ExportConfig, InputSpec
from edge_pipeline.errors import StageError
from edge_pipeline.logs import quiet_logger

OUTPUT_NAME = "output"


def export_onnx(model, spec: InputSpec, config: ExportConfig, out_path: Path, check_inputs: np.ndarray) -> dict:
    """Write ``out_path`` and return what the checks measured. Raises StageError on any failure."""
    dynamic = spec.dynamic_batch if config.dynamic_batch is None else config.dynamic_batch
    _torch_export(model, spec, config.opset, dynamic, out_path)
    if config.simplify:
        _simplify(out_path)
    check_onnx_file(out_path)
    fixed_batch = None if dynamic else spec.shape[0]
    numeric = compare_with_torch(model, out_path, check_inputs[: config.check_samples], fixed_batch=fixed_batch)
    if numeric["max_abs_diff"] > config.max_abs_diff or numeric["cosine"] < config.min_cosine:
        raise StageError(
            f"exported ONNX differs from PyTorch: max |diff| {numeric['max_abs_diff']:.3g} "
            f"(allowed {config.max_abs_diff:g}), cosine {numeric['cosine']:.6f} (needs >= {config.min_cosine}); "
            "check the model for export-unsafe ops, or relax export.max_abs_diff / export.min_cosine"
        )
    return {"opset": config.opset, "dynamic_batch": dynamic, "simplified": config.simplify, "numeric_check": numeric}


def _torch_export(model, spec: InputSpec, opset: int, dynamic: bool, out_path: Path) -> None:
    import torch

    # A batch of 2 in the example keeps torch.export from specialising a dynamic batch to 1.
    batch = 2 if dynamic else spec.shape[0]
    example = torch.zeros([batch, *spec.shape[1:]], dtype=getattr(torch, spec.dtype))
    dynamic_shapes = ({0: torch.export.Dim("batch", min=1, max=4096)},) if dynamic else None
    chatter = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(chatter), quiet_logger("torch.onnx", logging.ERROR):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (example,),
                str(out_path),
                dynamo=True,
                external_data=False,
                opset_version=opset,
                input_names=[spec.name],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=dynamic_shapes,
                verbose=False,
            )
    except Exception as exc:  # the exporter raises many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise StageError(f"torch.onnx.export failed at opset {opset}: {first}") from exc


def _simplify(path: Path) -> None:
    import onnx
    import onnxslim

    model = onnxslim.slim(onnx.load(str(path)))
    onnx.save(model, str(path))


def check_onnx_file(path: Path) -> None:
    """onnx.checker with full shape inference; a rejected model is a StageError naming the file."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:  # checker raises ValidationError and protobuf errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise StageError(f"onnx.checker rejects {path}: {first}; re-export the model or fix the graph") from exc


def compare_with_torch(model, onnx_path: Path, inputs: np.ndarray, fixed_batch: int | None) -> dict:
    import torch

    from edge_pipeline.backends.base import RunnerOptions
    from edge_pipeline.backends.registry import get_backend

    if fixed_batch is None:
        batches = [inputs]
    else:
        batches = [inputs[i : i + fixed_batch] for i in range(0, len(inputs) - fixed_batch + 1, fixed_batch)]
    with torch.no_grad():
        expected = np.concatenate([model(torch.from_numpy(b)).numpy() for b in batches])
    with get_backend("onnxruntime").runner(onnx_path, RunnerOptions(threads=2)) as runner:
        name = runner.inputs[0].name
        got = np.concatenate([next(iter(runner.infer({name: b}).values())) for b in batches])
    a, b = expected.ravel().astype(np.float64), got.ravel().astype(np.float64)
    cosine = float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-30))
    return {"samples": int(len(expected)), "max_abs_diff": float(np.abs(a - b).max()), "cosine": cosine}
