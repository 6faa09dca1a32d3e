"""conv_kernel: gemm stores each convolution's INT8 weights with zero point -1, which moves ONNX
Runtime's QLinearConv from MLAS's indirect kernels to its quantized GEMM (AMX where the CPU has it)
while every dequantized weight stays what it was."""

from collections import Counter

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from edge_pipeline.backends.base import RunnerOptions
from edge_pipeline.backends.onnxruntime.conv_kernel import route_convs_to_gemm
from edge_pipeline.backends.onnxruntime.mlas import INDIRECT_ORDER, INT8_GEMM_ORDER, compute_kernels, kernel_family
from edge_pipeline.backends.registry import get_backend
from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.config.recipes import load_target
from edge_pipeline.config.schema import ExportConfig, InputSpec, QuantizeConfig
from edge_pipeline.cpuinfo import cpu_flag_set
from edge_pipeline.errors import ConfigError
from edge_pipeline.modeling.onnx_export import export_onnx


class DepthwiseNet(torch.nn.Module):
    """A regular, a depthwise and a pointwise convolution: the depthwise one keeps its own kernels."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.stem = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.depthwise = torch.nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.pointwise = torch.nn.Conv2d(16, 16, 1)
        self.head = torch.nn.Linear(16, 4)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        x = torch.relu(self.depthwise(x))
        x = torch.relu(self.pointwise(x))
        return self.head(x.mean((2, 3)))


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory):
    out = tmp_path_factory.mktemp("ort-conv-kernel") / "depthwise.onnx"
    sample = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    export_onnx(DepthwiseNet().eval(), InputSpec(shape=[1, 3, 8, 8]), ExportConfig(), out, sample)
    return out


def gemm_target(tmp_path, extends: str = "x86-cpu-onnxruntime-avx2", kernel: str = "gemm"):
    path = tmp_path / "x86-cpu-onnxruntime-gemm.yaml"
    path.write_text(f"metadata: {{name: x86-cpu-onnxruntime-gemm}}\nextends: {extends}\n"
                    f"options: {{conv_kernel: {kernel}}}\n")
    return load_target(str(path))


def quantize(fp32_onnx, target, out_dir):
    x = np.random.default_rng(1).standard_normal((32, 3, 8, 8)).astype(np.float32)
    dataset = ArrayDataset(x, None, "memory", "test")
    return get_backend("onnxruntime").quantize(fp32_onnx, dataset, QuantizeConfig(samples=32), target, out_dir)[0]


def grouped(conv) -> bool:
    return any(attr.name == "group" and attr.i > 1 for attr in conv.attribute)


def conv_weights(path) -> dict[str, tuple[np.ndarray, np.ndarray, bool]]:
    """Each Conv's (dequantized weights, weight zero points, grouped), by the Conv's name."""
    graph = onnx.load(str(path)).graph
    arrays = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    found = {}
    for conv in (node for node in graph.node if node.op_type == "Conv"):
        q, scale, zero_point = (arrays[name] for name in producers[conv.input[1]].input)
        shape = (-1,) + (1,) * (q.ndim - 1)
        found[conv.name] = ((q.astype(np.float32) - zero_point.reshape(shape)) * scale.reshape(shape), zero_point,
                           grouped(conv))
    return found


def outputs(path, feed: np.ndarray) -> np.ndarray:
    with get_backend("onnxruntime").runner(path, RunnerOptions(threads=1)) as runner:
        return next(iter(runner.infer({runner.inputs[0].name: feed}).values()))


def test_gemm_moves_regular_convolutions_and_keeps_every_dequantized_weight(fp32_onnx, tmp_path):
    indirect = quantize(fp32_onnx, load_target("x86-cpu-onnxruntime-avx2"), tmp_path / "indirect")
    gemm = quantize(fp32_onnx, gemm_target(tmp_path), tmp_path / "gemm")
    assert indirect.meta["conv_kernel"] == "indirect" and "convs_on_gemm" not in indirect.meta
    assert gemm.meta["conv_kernel"] == "gemm" and gemm.meta["convs_on_gemm"] == 2  # stem and pointwise

    before, after = conv_weights(indirect.path), conv_weights(gemm.path)
    assert before.keys() == after.keys() and len(after) == 3
    for name, (weights, zero_point, depthwise) in after.items():
        np.testing.assert_array_equal(weights, before[name][0])  # exactly the weights the indirect path runs
        assert np.all(zero_point == (0 if depthwise else -1)), name

    # Both stay fused INT8 convolutions in the graph ORT runs; only the MLAS kernel behind them differs.
    backend = get_backend("onnxruntime")
    for produced in (indirect, gemm):
        layers = backend.executed_layers(produced.path, RunnerOptions(threads=1))
        assert sorted(layer.op_type for layer in layers if layer.precision == "int8").count("QLinearConv") == 3
        assert Counter(layer.kernel for layer in layers) == compute_kernels(produced.path, cpu_flag_set())
    avx2 = {"sse2", "avx", "avx2"}
    assert compute_kernels(indirect.path, avx2) == {"QLinearConv indirect (AVX2)": 2, "QLinearConv depthwise": 1,
                                                    "QGemm INT8 GEMM (AVX2)": 1}
    assert compute_kernels(gemm.path, avx2) == {"QLinearConv INT8 GEMM (AVX2)": 2, "QLinearConv depthwise": 1,
                                                "QGemm INT8 GEMM (AVX2)": 1}
    feed = np.random.default_rng(2).standard_normal((4, 3, 8, 8)).astype(np.float32)
    # 7-bit weights (this profile) cannot saturate either kernel's 16-bit pair sums: the same integers.
    np.testing.assert_allclose(outputs(gemm.path, feed), outputs(indirect.path, feed), rtol=0, atol=1e-5)


def test_a_weight_at_the_int8_minimum_is_left_alone(fp32_onnx, tmp_path):
    produced = quantize(fp32_onnx, load_target("x86-cpu-onnxruntime"), tmp_path)
    model = onnx.load(str(produced.path))
    convs = [node for node in model.graph.node if node.op_type == "Conv"]
    stem, pointwise = convs[0], convs[2]  # the module's order; convs[1] is the depthwise one
    dequantize = next(node for node in model.graph.node if stem.input[1] in node.output)
    weights = next(init for init in model.graph.initializer if init.name == dequantize.input[0])
    q = numpy_helper.to_array(weights).copy()
    q.flat[0] = -128  # q - 1 would not fit in int8
    weights.CopyFrom(numpy_helper.from_array(q, weights.name))
    routed = route_convs_to_gemm(model)
    assert routed == [pointwise.name]


def test_an_unknown_conv_kernel_names_the_choices(tmp_path):
    with pytest.raises(ConfigError, match="conv_kernel"):
        from edge_pipeline.backends.registry import typed_options

        typed_options(gemm_target(tmp_path, kernel="amx"))


@pytest.mark.parametrize(("flags", "indirect", "gemm"), [
    ({"sse2", "avx", "avx2"}, "AVX2", "AVX2"),
    ({"sse2", "avx", "avx2", "avx_vnni"}, "AVX-VNNI", "AVX-VNNI"),
    ({"sse2", "avx2", "avx512f", "avx512bw", "avx512_vnni"}, "AVX-512 VNNI", "AVX-512 VNNI"),
    ({"sse2", "avx2", "avx512bw", "avx512_vnni", "amx_int8"}, "AVX-512 VNNI", "AMX"),  # no AMX indirect kernel
    ({"sse2"}, "SSE", "SSE"),
    ({"asimd", "asimddp"}, "?", "?"),  # not x86: other rules
])
def test_mlas_kernel_families_follow_its_dispatch_order(flags, indirect, gemm):
    assert kernel_family(flags, INDIRECT_ORDER) == indirect and kernel_family(flags, INT8_GEMM_ORDER) == gemm


class DeepAndShallowNet(torch.nn.Module):
    """A 1x1 convolution of GEMM depth 3 and a 3x3 one over 128 channels, of depth 1152."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.shallow = torch.nn.Conv2d(3, 128, 1)
        self.deep = torch.nn.Conv2d(128, 8, 3, padding=1)
        self.head = torch.nn.Linear(8, 4)

    def forward(self, x):
        x = torch.relu(self.deep(torch.relu(self.shallow(x))))
        return self.head(x.mean((2, 3)))


def test_min_depth_keeps_shallow_convolutions_on_the_indirect_kernels(fp32_onnx, tmp_path):
    model = onnx.load(str(quantize(fp32_onnx, load_target("x86-cpu-onnxruntime"), tmp_path).path))
    stem, _, pointwise = (node.name for node in model.graph.node if node.op_type == "Conv")
    routed = {}
    for min_depth in (0, 17, 27, 28):  # GEMM depths: the stem 3 x 3x3 = 27, the pointwise 16 x 1x1 = 16
        copy = onnx.ModelProto()
        copy.CopyFrom(model)
        routed[min_depth] = route_convs_to_gemm(copy, min_depth)
    assert routed == {0: [stem, pointwise], 17: [stem], 27: [stem], 28: []}


def test_the_amx_profile_sends_only_deep_convolutions_to_the_gemm(tmp_path):
    fp32 = tmp_path / "deep.onnx"
    sample = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    export_onnx(DeepAndShallowNet().eval(), InputSpec(shape=[1, 3, 8, 8]), ExportConfig(), fp32, sample)
    target = load_target("x86-cpu-onnxruntime-amx")
    assert "amx_int8" in target.device.features and target.quantize == load_target("x86-cpu-onnxruntime").quantize
    amx = quantize(fp32, target, tmp_path / "amx")
    indirect = quantize(fp32, load_target("x86-cpu-onnxruntime"), tmp_path / "indirect")
    assert amx.meta["conv_kernel"] == "gemm" and amx.meta["conv_gemm_min_depth"] == 1024
    assert amx.meta["convs_on_gemm"] == 1
    before, after = conv_weights(indirect.path), conv_weights(amx.path)
    zero_points = {name: int(np.unique(zp)[0]) for name, (_, zp, _) in after.items()}
    assert sorted(zero_points.values()) == [-1, 0]  # the deep one on the GEMM, the shallow one not
    for name, (weights, _, _) in after.items():
        np.testing.assert_array_equal(weights, before[name][0])
    amx_sets = {"sse2", "avx2", "avx512f", "avx512bw", "avx512_vnni", "amx_int8"}
    assert compute_kernels(amx.path, amx_sets) == {"QLinearConv INT8 GEMM (AMX)": 1,
                                                   "QLinearConv indirect (AVX-512 VNNI)": 1,
                                                   "QGemm INT8 GEMM (AMX)": 1}
