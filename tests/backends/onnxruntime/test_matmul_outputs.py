"""matmul_outputs: on x86 the INT8 MatMul/Gemm outputs stay float (ORT runs MatMulIntegerToFloat or
QGemm with a float output), elsewhere they are requantized for EPs that take whole QDQ groups."""

import numpy as np
import onnx
import pytest
import torch

from edge_pipeline.backends.base import RunnerOptions
from edge_pipeline.backends.onnxruntime.options import float_matmul_outputs
from edge_pipeline.backends.registry import get_backend
from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.config.recipes import load_target
from edge_pipeline.config.schema import ExportConfig, InputSpec, QuantizeConfig
from edge_pipeline.modeling.onnx_export import export_onnx


class TokenMixer(torch.nn.Module):
    """Two linear layers around a LayerNorm, on (batch, 16, 32) activations: transformer-shaped MatMuls."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.up = torch.nn.Linear(32, 64)
        self.norm = torch.nn.LayerNorm(64)
        self.down = torch.nn.Linear(64, 32)

    def forward(self, x):
        return self.down(torch.nn.functional.gelu(self.norm(self.up(x))))


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory):
    out = tmp_path_factory.mktemp("ort-matmul-outputs") / "mixer.onnx"
    sample = np.random.default_rng(0).standard_normal((2, 16, 32)).astype(np.float32)
    export_onnx(TokenMixer().eval(), InputSpec(shape=[1, 16, 32]), ExportConfig(), out, sample)
    return out


def quantize(fp32_onnx, target_name: str, out_dir):
    """The transformer preset: MatMul/Gemm/Conv quantized, the bias Add, LayerNorm and GELU in float."""
    x = np.random.default_rng(1).standard_normal((32, 16, 32)).astype(np.float32)
    config = QuantizeConfig(samples=32, preset="transformer")
    return get_backend("onnxruntime").quantize(fp32_onnx, ArrayDataset(x, None, "memory", "test"), config,
                                               load_target(target_name), out_dir)[0]


def requantized_matmuls(path) -> int:
    """MatMul nodes whose output goes straight into a QuantizeLinear."""
    graph = onnx.load(str(path)).graph
    quantized_inputs = {node.input[0] for node in graph.node if node.op_type == "QuantizeLinear"}
    return sum(node.output[0] in quantized_inputs for node in graph.node if node.op_type == "MatMul")


@pytest.mark.parametrize(("target", "outputs", "requantized"), [
    ("x86-cpu-onnxruntime", "float", 0),
    ("android-arm64-onnxruntime", "quantized", 2),
])
def test_x86_keeps_matmul_outputs_in_float_and_arm_requantizes_them(fp32_onnx, tmp_path, target, outputs,
                                                                     requantized):
    produced = quantize(fp32_onnx, target, tmp_path)
    assert produced.meta["matmul_outputs"] == outputs
    assert requantized_matmuls(produced.path) == requantized


def test_float_outputs_run_as_int8_kernels_with_float_results(fp32_onnx, tmp_path):
    produced = quantize(fp32_onnx, "x86-cpu-onnxruntime", tmp_path)
    layers = get_backend("onnxruntime").executed_layers(produced.path, RunnerOptions(threads=1))
    assert [layer.op_type for layer in layers] == ["MatMulIntegerToFloat"] * 2
    assert all(layer.precision == "int8" for layer in layers)


@pytest.mark.parametrize(("setting", "arch", "float_outputs"), [
    ("auto", "x86_64", True), ("auto", "arm64", False), ("float", "arm64", True), ("quantized", "x86_64", False),
])
def test_auto_means_float_on_x86_only(setting, arch, float_outputs):
    assert float_matmul_outputs(setting, arch) is float_outputs
