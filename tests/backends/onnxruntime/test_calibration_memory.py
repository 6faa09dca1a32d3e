"""Calibration holds one batch of activations at a time, whatever the number of samples.

Real onnxruntime on a conv graph made here; the peak of numpy allocations is measured with tracemalloc
while the ORT calibrator (percentile: the histogram path) and the TensorRT Q/DQ statistics pass run.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge_pipeline.backends.onnx_memory import graph_footprint
from edge_pipeline.backends.onnxruntime.backend import collect_ranges
from edge_pipeline.backends.tensorrt.calibration import _MEMO, collect_statistics
from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.calibration.footprint import Budget
from edge_pipeline.config.schema import QuantizeConfig

SIDE, CHANNELS, SAMPLES = 64, 8, 24


def conv_model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.standard_normal((CHANNELS, c, 3, 3)).astype(np.float32), f"w{i}")
               for i, c in enumerate((3, CHANNELS, CHANNELS))]
    nodes = []
    tensor = "x"
    for index in range(3):  # (N, 8, H, W) after each conv, kept by relu
        nodes += [helper.make_node("Conv", [tensor, f"w{index}"], [f"c{index}"], name=f"conv{index}", pads=[1] * 4),
                  helper.make_node("Relu", [f"c{index}"], [f"r{index}"], name=f"relu{index}")]
        tensor = f"r{index}"
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                              [helper.make_tensor_value_info(tensor, TensorProto.FLOAT, None)], weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("calib-mem") / "conv.onnx"
    onnx.save(conv_model(), str(path))
    return path


def images(count: int) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((count, 3, SIDE, SIDE)).astype(np.float32)


def one_sample_activations() -> int:
    return graph_footprint(conv_model(), {"x": (1, 3, SIDE, SIDE)}).activations


def peak_while(call) -> int:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_footprint_counts_every_float_tensor_of_one_sample():
    footprint = graph_footprint(conv_model(), {"x": (1, 3, SIDE, SIDE)})
    assert footprint.activations == (3 + 6 * CHANNELS) * SIDE * SIDE * 4  # x, then 3 x (conv, relu)
    assert footprint.largest == CHANNELS * SIDE * SIDE * 4 and footprint.unknown == 0
    assert footprint.weights == sum(CHANNELS * c * 9 * 4 for c in (3, CHANNELS, CHANNELS))


@pytest.mark.parametrize("method", ["percentile", "minmax"])
def test_ort_calibration_keeps_one_batch_of_activations_not_every_sample(model_path, tmp_path, method):
    config = QuantizeConfig(method=method, num_bins=256)
    settings = {"extra_options": {"ActivationSymmetric": False}}
    batches = [{"x": sample[None]} for sample in images(SAMPLES)]
    collect_ranges(model_path, batches[:1], config, settings, tmp_path / "cache.json", tmp_path)  # imports done
    peak = peak_while(lambda: collect_ranges(model_path, batches, config, settings, tmp_path / "cache.json", tmp_path))
    # Given every batch in one collect_data call, ORT's histogram calibrators peaked at 9x one sample's
    # activations here (24 samples), growing with the sample count; streamed, about 1.4x.
    assert peak < 3 * one_sample_activations(), (peak, one_sample_activations())


def test_ranges_streamed_per_batch_cover_every_batch(model_path, tmp_path):
    """ORT's own bound (max_intermediate_outputs) drops the batches it clears; streaming must not."""
    data = images(4)
    data[2] *= 50  # the widest batch in the middle
    settings = {"extra_options": {"ActivationSymmetric": False}}
    ranges = collect_ranges(model_path, [{"x": s[None]} for s in data], QuantizeConfig(method="minmax"), settings,
                            tmp_path / "cache.json", tmp_path)
    assert ranges["x"] == (pytest.approx(float(data.min())), pytest.approx(float(data.max())))


def test_tensorrt_statistics_batches_fit_the_budget(model_path):
    model = onnx.load(str(model_path))
    tensors = ["c0", "r0", "c1", "r1", "c2", "r2"]
    dataset = ArrayDataset(images(SAMPLES), None, "memory", "calib-mem")
    footprint = graph_footprint(model, {"x": (1, 3, SIDE, SIDE)}, tensors)
    budget = Budget(footprint.peak(2, 256), "test budget")  # room for two samples per batch
    _MEMO.clear()
    peak = peak_while(lambda: collect_statistics(model, tensors, dataset, SAMPLES, 256, budget))
    _MEMO.clear()
    assert peak < footprint.peak(2, 256) + dataset.inputs.nbytes, peak
