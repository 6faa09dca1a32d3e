"""A layer kept float stays float in ONNX Runtime, and its ORT-format models convert and load.

ORT's WeightBiasQuantization pass re-quantizes a Conv whose input is dequantized and whose weights
are float; on a residual net the kept-float Conv's input is the Q/DQ pair the Add beside it needs.
Before float_inputs.py the Android target's 'runtime' ORT-format conversion failed on that pass's
bias node ("invalid model ... node_conv2d_1_bias_dq")."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edge_pipeline.backends.registry import get_backend
from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.config.recipes import load_target
from edge_pipeline.config.schema import ExportConfig, InputSpec
from edge_pipeline.modeling.onnx_export import export_onnx
from edge_pipeline.testing.tiny import labelled_arrays, tiny_residual_net


@pytest.fixture(scope="module")
def kept_float(tmp_path_factory):
    """The Android target's artifacts of the tiny residual net with its second Conv (inside the
    residual branch) kept float."""
    folder = tmp_path_factory.mktemp("kept-float")
    source = folder / "tiny.onnx"
    export_onnx(tiny_residual_net(), InputSpec(shape=[1, 3, 8, 8]), ExportConfig(opset=18), source,
                labelled_arrays(8)[0])
    convs = [n.name for n in onnx.load(str(source)).graph.node if n.op_type == "Conv"]
    target = load_target("android-arm64-onnxruntime")
    config = target.quantize.model_copy(update={"keep_float": [convs[1]], "samples": 16})
    x, y = labelled_arrays(16, seed=3)
    produced = get_backend("onnxruntime").quantize(source, ArrayDataset(x, y, "memory", "t"), config, target,
                                                   folder / "out")
    return convs[1], {p.variant: p for p in produced}


def test_fallback_model_converts_to_both_ort_styles(kept_float):
    name, produced = kept_float
    assert produced["default"].meta["float_inputs"] == [name]
    inputs = labelled_arrays(4, seed=9)[0]
    for style in ("ort-fixed", "ort-runtime"):
        options = ort.SessionOptions()
        options.add_session_config_entry("session.enable_saved_runtime_optimizations", "1")
        session = ort.InferenceSession(str(produced[style].path), options, providers=["CPUExecutionProvider"])
        feed_name = session.get_inputs()[0].name
        outputs = np.concatenate([session.run(None, {feed_name: x[None]})[0] for x in inputs])
        assert outputs.shape == (4, 4) and np.isfinite(outputs).all()


def test_kept_float_conv_runs_with_float_weights(kept_float, tmp_path):
    """What ORT runs after its basic optimizations: the kept Conv reads float weights and bias, not
    a per-tensor INT8 copy ORT made of them."""
    name, produced = kept_float
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(tmp_path / "basic.onnx")
    ort.InferenceSession(str(produced["default"].path), options, providers=["CPUExecutionProvider"])
    graph = onnx.load(str(tmp_path / "basic.onnx")).graph
    conv = next(n for n in graph.node if n.name == name)
    float_initializers = {i.name for i in graph.initializer if i.data_type == onnx.TensorProto.FLOAT}
    assert set(conv.input[1:]) <= float_initializers
    assert not any(n.name.startswith(f"{name}_weight") or n.name.startswith(f"{name}_bias") for n in graph.node)
