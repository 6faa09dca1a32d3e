"""Every artifact the quantize stage writes is loaded and run before it counts, and held to the
recipe's fidelity floor: per output, cosine to the FP32 ONNX (run in ONNX Runtime, the reference
runtime) on calibration samples. A miss fails the step naming the output; nothing is published."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from edge_pipeline.backends.base import Backend, Runner, RunnerOptions
from edge_pipeline.backends.registry import descriptor, format_for_path, get_backend
from edge_pipeline.benchmarking.fidelity import OutputFidelity, fidelity_by_output
from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.config.schema import QuantizeConfig, TargetProfile
from edge_pipeline.errors import StageError

REFERENCE_BACKEND = "onnxruntime"


def check_artifact(path: Path, kind: str, source_onnx: Path, backend: Backend, target: TargetProfile,
                   config: QuantizeConfig, data: ArrayDataset) -> dict[str, dict] | None:
    """Per-output fidelity of ``path`` against ``source_onnx``; None where this host cannot run it."""
    row = descriptor(target.backend)
    artifact_format = row.format_of(kind) or format_for_path(row, Path(path))
    if artifact_format is None or not artifact_format.timed:
        return None
    runtime = artifact_format.runtime_module or row.runtime_module
    if importlib.util.find_spec(runtime) is None:
        return None  # e.g. a TensorRT engine on a host without TensorRT: built and timed on the device
    sample = data.take(config.fidelity_samples)
    options = RunnerOptions(threads=2, variant=row.default_variant, settings=dict(target.options or {}))
    reference_options = RunnerOptions(threads=2)
    try:
        with backend.runner(Path(path), options) as runner:
            got = _run(runner, sample)
    except StageError:
        raise
    except Exception as exc:  # a runtime's own load or run failure: the artifact does not work
        raise StageError(f"{Path(path).name} for target {target.metadata.name} does not load and run: "
                         f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
    with get_backend(REFERENCE_BACKEND).runner(Path(source_onnx), reference_options) as reference:
        want = _run(reference, sample)
    fidelity = fidelity_by_output(got, want)
    _hold_floor(fidelity, config, f"{Path(path).name} ({target.metadata.name})")
    return {name: figures.model_dump() for name, figures in fidelity.items()}


def _run(runner: Runner, data: ArrayDataset) -> dict[str, np.ndarray]:
    """All outputs on ``data``, one fixed-size batch at a time when the model's batch is fixed."""
    batch = runner.fixed_batch() or len(data)
    parts: dict[str, list[np.ndarray]] = {}
    for feed in data.feeds(batch, [i.name for i in runner.inputs]):
        if len(next(iter(feed.values()))) != batch:
            continue
        feed = {i.name: feed[i.name].astype(i.dtype, copy=False) for i in runner.inputs}
        for name, value in runner.infer(feed).items():
            parts.setdefault(name, []).append(value)
    return {name: np.concatenate(values) for name, values in parts.items()}


def _hold_floor(fidelity: dict[str, OutputFidelity], config: QuantizeConfig, what: str) -> None:
    for name, figures in fidelity.items():
        floor = config.min_cosine_per_output.get(name, config.min_cosine)
        if floor is not None and not figures.cosine >= floor:
            raise StageError(
                f"{what}: output '{name}' reaches cosine {figures.cosine:.4f} to FP32, below the floor {floor}; "
                "keep more layers in float (quantize.exclude_nodes / exclude_op_types), calibrate with more or "
                "better data, or lower quantize.min_cosine"
            )
