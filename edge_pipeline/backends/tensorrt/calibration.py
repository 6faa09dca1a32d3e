"""Run the FP32 ONNX in ONNX Runtime over the calibration set once and record activation
statistics (min/max + histograms) for the tensors a Q/DQ plan quantizes.

The record is memoised per (model bytes, calibration data, tensors, bins) for the life of the
process, so the x86 and Jetson TensorRT targets of one run -- or several calibration methods --
derive their ranges from a single inference pass.
"""

from __future__ import annotations

import hashlib

import onnx
import onnxruntime as ort

from edge_pipeline.backends.onnx_memory import graph_footprint
from edge_pipeline.calibration.footprint import Budget, available_bytes, calibration_batch
from edge_pipeline.calibration.statistics import CalibrationStatistics, StatisticsCollector
from edge_pipeline.errors import StageError

CALIBRATION_BATCH = 32  # samples per calibration batch where memory allows
_MEMO: dict[tuple, CalibrationStatistics] = {}
_MEMO_LIMIT = 8


def collect_statistics(model: onnx.ModelProto, tensors: list[str], dataset, samples: int,
                       num_bins: int, budget: Budget | None = None, where: str = "TensorRT calibration"
                       ) -> CalibrationStatistics:
    """Statistics for ``tensors`` over the first ``samples`` calibration samples, in batches sized
    to ``budget`` (default: the memory available)."""
    calib = dataset.take(samples)
    key = (hashlib.sha256(model.SerializeToString()).hexdigest(), calib.sha256, tuple(sorted(tensors)), num_bins)
    if key not in _MEMO:
        if len(_MEMO) >= _MEMO_LIMIT:
            _MEMO.pop(next(iter(_MEMO)))
        budget = budget if budget is not None else Budget(available_bytes(), "memory available")
        _MEMO[key] = _collect(model, tensors, calib, num_bins, budget, where)
    return _MEMO[key]


def statistics_were_cached(model: onnx.ModelProto, tensors: list[str], dataset, samples: int, num_bins: int) -> bool:
    calib = dataset.take(samples)
    return (
        hashlib.sha256(model.SerializeToString()).hexdigest(), calib.sha256, tuple(sorted(tensors)), num_bins
    ) in _MEMO


def _collect(model: onnx.ModelProto, tensors: list[str], calib, num_bins: int, budget: Budget,
             where: str) -> CalibrationStatistics:
    session = ort.InferenceSession(_with_outputs(model, tensors), _options(), providers=["CPUExecutionProvider"])
    input_names = [i.name for i in session.get_inputs()]
    fixed = session.get_inputs()[0].shape[0]
    fixed = fixed if isinstance(fixed, int) and fixed > 0 else None
    one = next(calib.feeds(1, input_names))
    footprint = graph_footprint(model, {name: array.shape for name, array in one.items()}, tensors)
    batch = calibration_batch(footprint, fixed or CALIBRATION_BATCH, num_bins, budget, where, fixed=fixed is not None)
    collector = StatisticsCollector(tensors, num_bins)
    for feed in calib.feeds(batch, input_names):
        size = len(next(iter(feed.values())))
        if size != batch and fixed is not None:
            continue  # a fixed-batch model cannot take the ragged last batch
        # Each batch's activations are folded into the histograms and dropped before the next runs.
        values = session.run(tensors, feed)
        collector.update(dict(zip(tensors, values, strict=True)), size)
        del values
    if collector.samples == 0:
        raise StageError(f"no calibration batch of the model's fixed batch size {batch}; add samples")
    return collector.result()


def _with_outputs(model: onnx.ModelProto, tensors: list[str]) -> bytes:
    augmented = onnx.ModelProto()
    augmented.CopyFrom(model)
    present = {o.name for o in augmented.graph.output}
    for name in tensors:
        if name not in present:
            augmented.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    return augmented.SerializeToString()


def _options() -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # Calibration must see the FP32 graph's own tensors, so no fusion may rename or remove them.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return options


def activation_amax(statistics: CalibrationStatistics, method: str, percentile: float) -> dict[str, float]:
    """tensor -> amax under TensorRT's symmetric policy."""
    return {name: float(max(abs(low), abs(high)))
            for name, (low, high) in statistics.ranges(method, True, percentile).items()}
