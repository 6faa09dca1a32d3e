"""ONNX Runtime INT8 presets read from the graph: a BERT-style encoder with a finfo.min attention
mask gets the transformer preset (mask arithmetic, Softmax, LayerNorm, embedding lookups float,
MatMul/Gemm/Conv scope); forced to the cnn preset, the mask's unbounded ranges are refused node by
node instead of flattening every other value to zero."""

from __future__ import annotations

import json

import onnx
import pytest

from edge_pipeline.backends.base import RunnerOptions
from edge_pipeline.backends.registry import get_backend
from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.config.recipes import load_target
from edge_pipeline.config.schema import ExportConfig, InputSpec, QuantizeConfig
from edge_pipeline.errors import ConfigError
from edge_pipeline.modeling.onnx_export import export_onnx
from edge_pipeline.testing.kit import SEQUENCE, VOCAB, encoder_arrays, tiny_encoder

SPECS = [InputSpec(name="input_ids", shape=[1, SEQUENCE], dtype="int64", value_range=[0, VOCAB]),
         InputSpec(name="attention_mask", shape=[1, SEQUENCE], dtype="int64", value_range=[0, 2])]


@pytest.fixture(scope="module")
def encoder_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("presets") / "encoder.onnx"
    export_onnx(tiny_encoder(), SPECS, ExportConfig(), path, encoder_arrays(4))
    return path


@pytest.fixture(scope="module")
def data():
    return ArrayDataset(encoder_arrays(32, 1), None, "memory", "enc")


def _quantize(encoder_onnx, data, tmp_path, **settings):
    target = load_target("x86-cpu-onnxruntime")
    config = QuantizeConfig(samples=16, **settings)
    return get_backend("onnxruntime").quantize(encoder_onnx, data, config, target, tmp_path)[0]


def test_auto_finds_attention_and_keeps_the_transformer_ops_float(encoder_onnx, data, tmp_path):
    produced = _quantize(encoder_onnx, data, tmp_path)
    meta = produced.meta
    assert meta["preset"] == "transformer" and meta["op_types"] == ["MatMul", "Gemm", "Conv"]
    reasons = set(meta["float_nodes"].values())
    assert {"Softmax: attention probabilities", "LayerNormalization", "embedding lookup",
            "applies the attention mask"} <= reasons
    assert meta["unbounded_ranges"] == {}, "the mask's tensors are out of scope, so never calibrated"
    layers = get_backend("onnxruntime").executed_layers(produced.path, RunnerOptions(threads=1))
    assert layers and all(layer.precision == "int8" for layer in layers), layers


def test_the_cnn_preset_refuses_the_masks_unbounded_ranges(encoder_onnx, data, tmp_path):
    meta = _quantize(encoder_onnx, data, tmp_path, preset="cnn").meta
    assert meta["preset"] == "cnn" and meta["unbounded_ranges"], "finfo.min reaches the calibrated ranges"
    low = min(low for low, _ in meta["unbounded_ranges"].values())
    assert low < -1e30
    refused = [reason for reason in meta["float_nodes"].values() if "no INT8 scale holds it" in reason]
    assert refused, meta["float_nodes"]


def test_an_op_type_scope_that_matches_nothing_is_named(encoder_onnx, data, tmp_path):
    with pytest.raises(ConfigError, match=r"quantize.op_types \['LSTM'\] match no node"):
        _quantize(encoder_onnx, data, tmp_path, op_types=["LSTM"])


def test_dynamic_activations_quantize_matmuls_without_calibration(encoder_onnx, data, tmp_path):
    produced = _quantize(encoder_onnx, data, tmp_path, activations="dynamic")
    assert produced.meta["activations"] == "dynamic" and produced.meta["op_types"] == ["MatMul", "Gemm"]
    layers = get_backend("onnxruntime").executed_layers(produced.path, RunnerOptions(threads=1))
    assert any(layer.precision == "int8" for layer in layers), layers
    from edge_pipeline.fidelity.check import check_artifact

    fidelity = check_artifact(produced.path, "onnx", encoder_onnx, get_backend("onnxruntime"),
                              load_target("x86-cpu-onnxruntime"), QuantizeConfig(min_cosine=0.99), data)
    assert all(figures["cosine"] >= 0.99 for figures in fidelity.values()), fidelity


def test_backends_that_calibrate_refuse_dynamic_activations(encoder_onnx, data, tmp_path):
    for target in ("x86-cpu-openvino", "x86-gpu-tensorrt"):
        with pytest.raises(ConfigError, match="dynamic"):
            get_backend(load_target(target).backend).quantize(
                encoder_onnx, data, QuantizeConfig(samples=8, activations="dynamic"), load_target(target), tmp_path)


def test_transformer_strategies_end_with_attention_kept_float_on_both_backends(encoder_onnx):
    from edge_pipeline.backends.registry import probe

    ort = get_backend("onnxruntime").fallback_strategies(encoder_onnx, QuantizeConfig(),
                                                         load_target("x86-cpu-onnxruntime"))
    assert [s.name.split(" (")[0] for s in ort] == ["MatMul only", "attention kept float",
                                                     "dynamic MatMul/Gemm activations"]
    attention = ort[1].config["keep_float"]
    assert attention and all(name.startswith("/") or "MatMul" in name or "matmul" in name for name in attention)
    if probe("openvino")[0]:
        ov = get_backend("openvino").fallback_strategies(encoder_onnx, QuantizeConfig(),
                                                         load_target("x86-cpu-openvino"))
        assert [s.options or s.config for s in ov] == [{"preset": "mixed"}, {"smooth_quant": False},
                                                       {"keep_float": attention}]


def test_attention_kept_float_leaves_the_projections_int8(encoder_onnx, data, tmp_path):
    strategy = get_backend("onnxruntime").fallback_strategies(encoder_onnx, QuantizeConfig(),
                                                              load_target("x86-cpu-onnxruntime"))[1]
    meta = _quantize(encoder_onnx, data, tmp_path, **strategy.config).meta
    attention = set(strategy.config["keep_float"])
    assert {meta["float_nodes"][name] for name in attention} == {
        "attention MatMul (activation x activation): the fallback's attention-kept-float strategy"}
    layers = get_backend("onnxruntime").executed_layers(meta_path(tmp_path), RunnerOptions(threads=1))
    assert any(layer.precision == "int8" for layer in layers), "the projections stay INT8"


def meta_path(directory):
    return directory / "model.int8.onnx"


def test_ranges_are_calibrated_once_and_a_wider_scope_serves_a_narrower_one(encoder_onnx, data, tmp_path):
    """Every fallback attempt of a step (another layer float, MatMul only) reads the statistics of
    the first; only a setting that changes ranges (the method) calibrates again."""
    from edge_pipeline.backends.onnxruntime.statistics import calibration_passes

    data = ArrayDataset(encoder_arrays(16, 5), None, "memory", "enc-once")  # a key no other test uses
    for folder in "abcd":
        (tmp_path / folder).mkdir()
    before = calibration_passes()
    first = _quantize(encoder_onnx, data, tmp_path / "a").meta
    matmul_only = _quantize(encoder_onnx, data, tmp_path / "b", op_types=["MatMul"]).meta
    layer = next(n.name for n in onnx.load(str(encoder_onnx)).graph.node if n.op_type in ("MatMul", "Gemm"))
    trial = _quantize(encoder_onnx, data, tmp_path / "c", keep_float=[layer]).meta
    assert first["calibration"]["statistics"] == "collected"
    assert matmul_only["calibration"]["statistics"].startswith("re-used")
    assert trial["calibration"]["statistics"].startswith("re-used")
    assert layer in trial["nodes_excluded"] and calibration_passes() - before == 1

    wide = json.loads((tmp_path / "a" / "calibration_ranges.json").read_text())["data"]
    narrow = json.loads((tmp_path / "b" / "calibration_ranges.json").read_text())["data"]
    assert narrow and set(narrow) <= set(wide), "the MatMul-only cache holds its own tensors only"
    _quantize(encoder_onnx, data, tmp_path / "d", method="percentile", num_bins=256)
    assert calibration_passes() - before == 2
