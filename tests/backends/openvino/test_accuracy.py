"""Accuracy-controlled INT8: with a tight max_drop, NNCF keeps the fragile operation in float.

The model is built to break under per-tensor INT8: its first convolution emits one channel a
thousand times larger than the rest, and the second convolution reads only the small channels.
Quantizing the second convolution's input with one scale rounds the small channels to zero, so
plain INT8 loses the labels (the FP32 model's own predictions) and accuracy control must revert it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edge_pipeline.backends.base import RunnerOptions
from edge_pipeline.backends.registry import get_backend, probe
from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.config.recipes import load_target
from edge_pipeline.config.schema import ExportConfig, InputSpec, QuantizeConfig

pytestmark = [
    pytest.mark.openvino,
    pytest.mark.slow,
    pytest.mark.skipif(not probe("openvino")[0], reason="openvino/nncf not installed"),
]


class OutlierNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.mix = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Linear(8, 4)
        with torch.no_grad():
            self.stem.weight[0] *= 1000.0  # channel 0: the outlier that sets the per-tensor scale
            self.stem.bias[0] = 1000.0
            self.mix.weight[:, 0] = 0.0  # ... and that the next layer ignores
            self.mix.bias.zero_()
            self.head.bias.zero_()  # logits follow the input, so the labels spread over classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, 8, 8) -> (B, 4)
        y = self.stem(x)
        y = self.mix(y)
        return self.head(y.mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def fragile(tmp_path_factory):
    from edge_pipeline.modeling.onnx_export import export_onnx

    model = OutlierNet().eval()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 3, 8, 8)).astype(np.float32)
    with torch.no_grad():
        labels = model(torch.from_numpy(x)).argmax(dim=1).numpy()
    path = tmp_path_factory.mktemp("fragile") / "fragile.onnx"
    export_onnx(model, InputSpec(shape=[1, 3, 8, 8]), ExportConfig(max_abs_diff=1e-1, min_cosine=0.999), path, x[:8])
    calib = ArrayDataset(x[:48], labels[:48], "memory", "calib")
    evaluation = ArrayDataset(x[48:], labels[48:], "memory", "eval")
    return path, calib, evaluation


def test_tight_max_drop_keeps_an_operation_in_float(fragile, tmp_path):
    path, calib, evaluation = fragile
    config = QuantizeConfig(samples=48, max_drop=1.0)
    produced = get_backend("openvino").quantize(path, calib, config, load_target("x86-cpu-openvino"), tmp_path,
                                                eval_data=evaluation)[0]
    report = produced.meta["accuracy_control"]
    accuracy = report["accuracy"]
    assert accuracy["fp32"] == 100.0
    assert accuracy["fp32"] - accuracy["int8_plain"] > 1.0, "plain INT8 should break this model"
    assert report["kept_in_float"], "accuracy control should revert at least one operation"
    assert report["within_budget"] and report["drop_points"] <= 1.0
    executed = get_backend("openvino").executed_layers(produced.path, RunnerOptions(threads=1))
    runs_float = {layer.name for layer in executed if layer.precision == "float"}
    assert {name.split("/")[0] for name in report["kept_in_float"]} <= runs_float, (report["kept_in_float"], executed)
