"""One recipe's exclusions, named in ONNX terms, keep the same layers float on ONNX Runtime and OpenVINO.

A conv + LSTM + linear model exported here; real onnxruntime, openvino and nncf.
"""

from __future__ import annotations

import numpy as np
import onnx
import openvino as ov
import pytest
import torch
from torch import nn

from edge_pipeline.backends.registry import get_backend, probe
from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.config.loader import parse_yaml
from edge_pipeline.config.recipes import load_target
from edge_pipeline.config.schema import QuantizeConfig, effective_stage_config

pytestmark = [
    pytest.mark.openvino,
    pytest.mark.skipif(not probe("openvino")[0], reason="openvino/nncf not installed"),
]

STEPS, FEATURES = 12, 8


class ConvLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(FEATURES, 16, 3, padding=1)
        self.lstm = nn.LSTM(16, 24, batch_first=True)
        self.head = nn.Linear(24, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, F)
        y = self.conv(x.transpose(1, 2)).relu().transpose(1, 2)  # (B, T, 16)
        out, _ = self.lstm(y)  # (B, T, 24)
        return self.head(out[:, -1])  # (B, 5)


@pytest.fixture(scope="module")
def lstm_onnx(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("lstm") / "lstm.onnx"
    torch.onnx.export(ConvLSTM().eval(), (torch.randn(2, STEPS, FEATURES),), str(path), input_names=["x"],
                      output_names=["logits"], dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}}, dynamo=False,
                      opset_version=17)
    return path


@pytest.fixture(scope="module")
def calib():
    x = np.random.default_rng(0).standard_normal((16, STEPS, FEATURES)).astype(np.float32)
    return ArrayDataset(x, None, "memory", "calib")


def _recipe_quantize(text: str) -> QuantizeConfig:
    return QuantizeConfig.model_validate(parse_yaml(text))


def _quantize(target_name: str, recipe: QuantizeConfig, onnx_path, calib, out):
    target = load_target(target_name)
    config = effective_stage_config(recipe, target.quantize)
    return get_backend(target.backend).quantize(onnx_path, calib, config, target, out)[0]


def _lstm_weights_are_float(xml) -> bool:
    """LSTMSequence's W and R inputs (4, 5) are float Constants, not INT8 weights decompressed by a Multiply."""
    lstm = next(op for op in ov.Core().read_model(str(xml)).get_ordered_ops() if op.get_type_name() == "LSTMSequence")
    sources = [lstm.input_value(index).get_node() for index in (4, 5)]
    return all(s.get_type_name() == "Constant" and s.get_element_type() == ov.Type.f32 for s in sources)


def test_one_recipe_keeps_the_lstm_float_on_onnxruntime_and_openvino(lstm_onnx, calib, tmp_path):
    recipe = _recipe_quantize("samples: 16\nmin_cosine: null\nexclude_op_types: [LSTM]\n")
    lstm_node = next(n.name for n in onnx.load(str(lstm_onnx)).graph.node if n.op_type == "LSTM")

    (tmp_path / "ort").mkdir()
    ort_artifact = _quantize("x86-cpu-onnxruntime", recipe, lstm_onnx, calib, tmp_path / "ort")
    assert ort_artifact.meta["float_nodes"][lstm_node] == "quantize.exclude_op_types LSTM"

    (tmp_path / "ov").mkdir()
    ov_artifact = _quantize("x86-cpu-openvino", recipe, lstm_onnx, calib, tmp_path / "ov")
    assert ov_artifact.meta["ignored_scope"]["types"] == ["LSTMSequence"]
    assert _lstm_weights_are_float(ov_artifact.path)


def test_without_the_exclusion_openvino_quantizes_the_lstm(lstm_onnx, calib, tmp_path):
    artifact = _quantize("x86-cpu-openvino", _recipe_quantize("samples: 16\nmin_cosine: null\n"), lstm_onnx, calib,
                         tmp_path)
    assert not _lstm_weights_are_float(artifact.path)  # so the test above shows the exclusion, not a default


def test_an_onnx_node_name_reaches_the_operations_openvino_made_of_it(lstm_onnx, calib, tmp_path):
    """OpenVINO names only the Transpose after the LSTMSequence '/lstm/LSTM'; the walk back finds the LSTM."""
    lstm_node = next(n.name for n in onnx.load(str(lstm_onnx)).graph.node if n.op_type == "LSTM")
    recipe = QuantizeConfig(samples=16, min_cosine=None, exclude_nodes=[lstm_node])
    artifact = _quantize("x86-cpu-openvino", recipe, lstm_onnx, calib, tmp_path)
    assert any(name.startswith("LSTMSequence") for name in artifact.meta["ignored_scope"]["names"])
    assert _lstm_weights_are_float(artifact.path)


def test_an_onnx_type_openvino_folded_away_keeps_nothing_float_and_says_so(lstm_onnx, calib, tmp_path):
    recipe = QuantizeConfig(samples=16, min_cosine=None, exclude_op_types=["ConstantOfShape", "LSTMSequence"])
    artifact = _quantize("x86-cpu-openvino", recipe, lstm_onnx, calib, tmp_path)
    assert artifact.meta["ignored_scope"]["types"] == ["LSTMSequence"]  # OpenVINO's own name works too
    assert artifact.meta["ignored_scope"]["not_in_openvino_model"] == ["ConstantOfShape"]
