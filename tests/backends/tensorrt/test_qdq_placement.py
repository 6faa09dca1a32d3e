"""TensorRT Q/DQ placement on small hand-built ONNX graphs (onnx + numpy, no torch, no runtime)."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge_pipeline.backends.tensorrt.qdq.checks import check_tensorrt_qdq
from edge_pipeline.backends.tensorrt.qdq.graph import GraphIndex
from edge_pipeline.backends.tensorrt.qdq.insert import insert_qdq
from edge_pipeline.backends.tensorrt.qdq.placement import plan_qdq
from edge_pipeline.errors import ConfigError, StageError

RNG = np.random.default_rng(0)
COMMUTING = {"Relu", "MaxPool", "Reshape", "Transpose", "Flatten", "Concat", "GlobalAveragePool", "Clip"}


def _weight(name: str, shape) -> onnx.TensorProto:
    return numpy_helper.from_array(RNG.standard_normal(shape).astype(np.float32) * 0.1, name)


def _model(nodes, initializers, inputs=(("x", [None, 32, 8, 8]),), output="y", opset=18) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "test",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in inputs],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, [None, None])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


def _conv(name, x, out, cin, cout, kernel=3, group=1):
    pad = kernel // 2
    node = helper.make_node("Conv", [x, f"{name}.w", f"{name}.b"], [out], name=name, pads=[pad] * 4, group=group)
    return node, [_weight(f"{name}.w", (cout, cin // group, kernel, kernel)), _weight(f"{name}.b", (cout,))]


def residual_block(projection: bool) -> onnx.ModelProto:
    """x -> conv1 -> relu -> conv2 (+ skip) -> relu -> pool -> gemm; skip is x or a 1x1 conv of x."""
    c1, w1 = _conv("conv1", "x", "c1", 32, 32)
    c2, w2 = _conv("conv2", "r1", "c2", 32, 32)
    nodes = [c1, helper.make_node("Relu", ["c1"], ["r1"], name="relu1"), c2]
    weights = w1 + w2
    skip = "x"
    if projection:
        shortcut, ws = _conv("shortcut", "x", "s", 32, 32, kernel=1)
        nodes.append(shortcut)
        weights += ws
        skip = "s"
    nodes += [
        helper.make_node("Add", ["c2", skip], ["sum"], name="add"),
        helper.make_node("Relu", ["sum"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["pooled"], name="pool"),
        helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["y"], name="fc", transB=1),
    ]
    weights += [_weight("fc.w", (10, 32)), _weight("fc.b", (10,))]
    return _model(nodes, weights)


def _quantized(model, amax=4.0, **kwargs) -> tuple[onnx.ModelProto, object]:
    plan = plan_qdq(model, **kwargs)
    return insert_qdq(model, plan, {t: amax for t in plan.activations}), plan


def _dq_fed(model: onnx.ModelProto, node_name: str) -> list[bool]:
    index = GraphIndex.build(model)
    node = next(n for n in model.graph.node if n.name == node_name)
    return [index.producers.get(i) is not None and index.producers[i].op_type == "DequantizeLinear" for i in node.input]


@pytest.mark.parametrize("projection", [False, True])
def test_residual_skip_input_is_quantized_and_the_fused_branch_is_not(projection):
    quantized, plan = _quantized(residual_block(projection))
    assert _dq_fed(quantized, "add") == [False, True]  # conv2's output fuses; the skip is Q/DQ'd
    assert plan.residual_adds["add"] == {"fused": "c2", "skip": "s" if projection else "x"}
    report = check_tensorrt_qdq(quantized)
    assert report.ok, report.problems
    assert report.residual_adds == 1


def test_zero_points_are_int8_zero_and_weights_per_output_channel():
    quantized, _ = _quantized(residual_block(projection=True))
    index = GraphIndex.build(quantized)
    qdq = [n for n in quantized.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert qdq
    for node in qdq:
        zero = index.constant_value(node.input[2])
        assert zero.dtype == np.int8 and not zero.any()
    for name in ("conv1", "conv2", "shortcut"):
        conv = next(n for n in quantized.graph.node if n.name == name)
        dq = index.producers[conv.input[1]]
        assert dq.op_type == "DequantizeLinear"
        assert helper.get_attribute_value(dq.attribute[0]) == 0
        assert index.constant_value(dq.input[0]).dtype == np.int8
        assert index.constant_value(dq.input[1]).shape == (32,)


def test_tiny_channel_ops_stay_float():
    quantized, plan = _quantized(residual_block(projection=False))
    assert "fc" in plan.float_nodes  # N=10 classes: below TensorRT's INT8 GEMM minimum
    assert _dq_fed(quantized, "fc") == [False, False, False]
    small, s_weights = _conv("small", "x", "y", 12, 4, kernel=3)  # neither count 16 nor 8-aligned
    plan = plan_qdq(_model([small], s_weights, inputs=(("x", [None, 12, 8, 8]),)))
    assert "small" in plan.float_nodes and not plan.activations


def test_no_qdq_around_commuting_ops():
    quantized, _ = _quantized(residual_block(projection=True))
    index = GraphIndex.build(quantized)
    for node in quantized.graph.node:
        if node.op_type == "DequantizeLinear" and not index.is_constant(node.input[0]):
            consumers = {c.op_type for c, _ in index.consumers[node.output[0]]}
            assert consumers <= {"Conv", "Gemm", "MatMul", "ConvTranspose", "Add"}, consumers
        if node.op_type in COMMUTING:
            assert not any(_dq_fed(quantized, node.name))


def test_concat_inputs_share_one_scale():
    a, wa = _conv("a", "x", "ca", 32, 32)
    b, wb = _conv("b", "x", "cb", 32, 32)
    c, wc = _conv("c", "ca", "cc", 32, 32)  # makes ca a quantized tensor
    d, wd = _conv("d", "cb", "cd", 32, 32)  # makes cb a quantized tensor
    e, we = _conv("e", "cat", "y", 64, 32, kernel=1)
    nodes = [a, b, c, d, helper.make_node("Concat", ["ca", "cb"], ["cat"], name="concat", axis=1), e]
    model = _model(nodes, wa + wb + wc + wd + we)
    plan = plan_qdq(model)
    assert {"ca", "cb", "cat"} in plan.scale_groups
    quantized = insert_qdq(model, plan, {t: float(i + 1) for i, t in enumerate(sorted(plan.activations))})
    index = GraphIndex.build(quantized)
    scales = {t: float(index.constant_value(f"{t}/qdq_scale")) for t in ("ca", "cb", "cat")}
    assert len(set(scales.values())) == 1


def test_weight_axes_for_conv_transpose_and_gemm_without_transpose():
    deconv = helper.make_node("ConvTranspose", ["x", "dw"], ["d"], name="deconv")
    pool = helper.make_node("GlobalAveragePool", ["d"], ["p"], name="pool")
    flat = helper.make_node("Flatten", ["p"], ["f"], name="flat")
    gemm = helper.make_node("Gemm", ["f", "gw"], ["y"], name="gemm")
    model = _model([deconv, pool, flat, gemm], [_weight("dw", (32, 24, 2, 2)), _weight("gw", (24, 40))])
    plan = plan_qdq(model)
    axes = {w.node: (w.axis, w.channels) for w in plan.weights}
    assert axes == {"deconv": (1, 24), "gemm": (1, 40)}
    quantized = insert_qdq(model, plan, {t: 2.0 for t in plan.activations})
    assert check_tensorrt_qdq(quantized).ok


def test_insert_leaves_the_input_model_untouched_and_needs_every_range():
    model = residual_block(projection=False)
    before = model.SerializeToString()
    plan = plan_qdq(model)
    insert_qdq(model, plan, {t: 1.0 for t in plan.activations})
    assert model.SerializeToString() == before
    with pytest.raises(StageError, match="no calibrated range"):
        insert_qdq(model, plan, {})


def test_old_opset_is_refused():
    c, w = _conv("conv", "x", "y", 32, 32)
    model = _model([c], w, opset=12)
    with pytest.raises(ConfigError, match="opset"):
        insert_qdq(model, plan_qdq(model), {"x": 1.0})


def test_check_flags_uint8_zero_points():
    quantized, _ = _quantized(residual_block(projection=False))
    for init in quantized.graph.initializer:
        if init.name.endswith("/qdq_zero_point"):
            init.CopyFrom(numpy_helper.from_array(np.array(128, dtype=np.uint8), init.name))
            break
    report = check_tensorrt_qdq(quantized)
    assert not report.ok and "int8 0" in report.problems[0]


def test_attention_matmuls_get_qdq_on_both_inputs_for_mha_fusion(tmp_path):
    """The transformer preset: Q @ K^T and probabilities @ V (activation x activation) are quantized
    on both inputs, what TensorRT's fused INT8 attention takes; the cnn preset keeps them float."""
    import onnx as onnx_lib

    from edge_pipeline.backends.onnx_graph import analyse_graph
    from edge_pipeline.config.schema import ExportConfig, InputSpec
    from edge_pipeline.modeling.onnx_export import export_onnx
    from edge_pipeline.testing.kit import SEQUENCE, VOCAB, encoder_arrays, tiny_encoder

    path = tmp_path / "encoder.onnx"
    specs = [InputSpec(name="input_ids", shape=[1, SEQUENCE], dtype="int64", value_range=[0, VOCAB]),
             InputSpec(name="attention_mask", shape=[1, SEQUENCE], dtype="int64", value_range=[0, 2])]
    export_onnx(tiny_encoder(), specs, ExportConfig(), path, encoder_arrays(4))
    model = onnx_lib.load(str(path))
    traits = analyse_graph(model)
    assert len(traits.attention_matmuls) == 4  # two blocks x (scores, probabilities @ V)
    plan = plan_qdq(model, attention_matmuls=frozenset(traits.attention_matmuls))
    for name in traits.attention_matmuls:
        assert name not in plan.float_nodes
        sites = [site for uses in plan.activations.values() for site in uses if site[0] == name]
        assert sorted(index for _, index in sites) == [0, 1], name
    cnn = plan_qdq(model)
    assert set(traits.attention_matmuls) <= set(cnn.float_nodes)
