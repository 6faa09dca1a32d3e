"""Weights keep 7 bits for an x86 CPU without VNNI (whose u8 x s8 kernel adds pairs of products in
16 bits and saturates with 8-bit weights), 8 bits where VNNI or AMX accumulate in 32 bits."""

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edge_pipeline.backends.onnxruntime.options import reduces_weight_range
from edge_pipeline.backends.registry import get_backend
from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.config.recipes import load_target
from edge_pipeline.config.schema import ExportConfig, InputSpec, QuantizeConfig
from edge_pipeline.modeling.onnx_export import export_onnx
from edge_pipeline.testing.tiny import labelled_arrays, tiny_residual_net


@pytest.mark.parametrize(("weight_range", "activation", "arch", "features", "reduced"), [
    ("auto", "uint8", "x86_64", ["avx2"], True),
    ("auto", "uint8", "x86_64", ["avx512f"], True),  # AVX-512 without VNNI saturates the same way
    ("auto", "uint8", "x86_64", ["avx512_vnni"], False),
    ("auto", "uint8", "x86_64", ["avx2", "avx_vnni"], False),
    ("auto", "uint8", "x86_64", ["amx_int8"], False),
    ("auto", "uint8", "x86_64", [], False),  # the profile says nothing about its CPU: ORT's default
    ("auto", "int8", "x86_64", ["avx2"], False),  # S8S8 has no 16-bit pair sums
    ("auto", "int8", "arm64", ["asimddp"], False),
    ("reduced", "uint8", "x86_64", ["avx512_vnni"], True),
    ("full", "uint8", "x86_64", ["avx2"], False),
])
def test_auto_reduces_the_weight_range_only_for_u8s8_on_x86_without_vnni(weight_range, activation, arch, features,
                                                                          reduced):
    assert reduces_weight_range(weight_range, activation, arch, features) is reduced


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory):
    out = tmp_path_factory.mktemp("ort-range") / "tiny.onnx"
    export_onnx(tiny_residual_net(), InputSpec(shape=[1, 3, 8, 8]), ExportConfig(), out, labelled_arrays(8)[0])
    return out


def largest_int8_weight(path) -> int:
    model = onnx.load(str(path))
    weights = [numpy_helper.to_array(t) for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    return max(int(np.abs(w.astype(np.int32)).max()) for w in weights if w.size > 1)


@pytest.mark.parametrize(("target", "bits", "largest"), [("x86-cpu-onnxruntime-avx2", 7, 64),
                                                          ("x86-cpu-onnxruntime", 8, 127)])
def test_the_avx2_profile_writes_7_bit_weights_and_the_vnni_profile_8_bit(fp32_onnx, tmp_path, target, bits, largest):
    x, y = labelled_arrays(32, seed=3)
    produced = get_backend("onnxruntime").quantize(fp32_onnx, ArrayDataset(x, y, "memory", "test"),
                                                   QuantizeConfig(samples=32), load_target(target), tmp_path)[0]
    assert produced.meta["weight_bits"] == bits and produced.meta["activation_type"] == "uint8"
    assert largest_int8_weight(produced.path) == largest  # symmetric per-channel: each channel's max reaches it
