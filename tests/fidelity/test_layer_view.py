"""The per-layer view on graphs as exporters write them: int64 shape arithmetic, bool masks,
Where, and QDQ models whose quantizer folded a Relu into a Conv's range."""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge_pipeline.backends.onnxruntime.layers import onnx_layer_outputs
from edge_pipeline.fidelity.divergence import _sqnr_db


def _masked_graph(path) -> None:
    """x (N, 4) float, mask (N, 4) int64 -> Shape, Cast to bool, Equal, Where with -inf, Softmax."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"], name="shape"),
        helper.make_node("Cast", ["mask"], ["keep"], to=TensorProto.BOOL, name="to_bool"),
        helper.make_node("Equal", ["mask", "zero"], ["pad"], name="is_pad"),
        helper.make_node("Where", ["pad", "minus_inf", "x"], ["masked"], name="where"),
        helper.make_node("Softmax", ["masked"], ["probs"], axis=-1, name="softmax"),
        helper.make_node("MatMul", ["probs", "w"], ["scores"], name="matmul"),
    ]
    graph = helper.make_graph(
        nodes, "masked",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4]),
         helper.make_tensor_value_info("mask", TensorProto.INT64, ["N", 4])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 2])],
        initializer=[numpy_helper.from_array(np.array(0, np.int64), "zero"),
                     numpy_helper.from_array(np.array(-np.inf, np.float32), "minus_inf"),
                     numpy_helper.from_array(np.ones((4, 2), np.float32), "w")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_int64_and_bool_tensors_keep_their_types_and_are_left_out(tmp_path):
    _masked_graph(tmp_path / "m.onnx")
    feed = {"x": np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32),
            "mask": np.array([[1, 1, 0, 0]] * 3, np.int64)}
    names = ["shape", "keep", "pad", "masked", "probs", "scores"]
    got = onnx_layer_outputs(tmp_path / "m.onnx", feed, names)
    assert set(got) == {"masked", "probs", "scores"}
    assert np.isneginf(got["masked"][:, 2:]).all()


def test_sqnr_holds_masks_and_never_takes_a_log_of_nothing():
    reference = np.array([1.0, -np.inf, 2.0])
    assert _sqnr_db(reference, reference.copy()) == math.inf
    assert math.isfinite(_sqnr_db(reference, np.array([1.1, -np.inf, 2.0])))
    assert _sqnr_db(reference, np.array([1.0, -3.4e38, 2.0])) == -math.inf  # the mask lost
    assert _sqnr_db(np.zeros(3), np.ones(3)) == -math.inf


def test_a_relu_folded_into_a_conv_is_read_after_its_dequantize(tmp_path):
    """ONNX Runtime's QDQ quantizer removes a Relu after a Conv and names the Conv's output after
    it; the view reads what the next layer consumes (the DQ output), which has no negatives."""
    import torch
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 1)).eval()
    x = torch.randn(1, 3, 8, 8)
    torch.onnx.export(model, (x,), str(tmp_path / "f.onnx"), input_names=["x"], dynamo=False, opset_version=17)
    fp32 = onnx.load(str(tmp_path / "f.onnx"))
    relu_out = next(n.output[0] for n in fp32.graph.node if n.op_type == "Relu")

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"x": np.random.default_rng(i).standard_normal((1, 3, 8, 8)).astype(np.float32)}
                               for i in range(8)])

        def get_next(self):
            return next(self.items, None)

    quantize_static(str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx"), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    assert not any(n.op_type == "Relu" for n in onnx.load(str(tmp_path / "q.onnx")).graph.node)
    got = onnx_layer_outputs(tmp_path / "q.onnx", {"x": x.numpy()}, [relu_out])
    want = onnx_layer_outputs(tmp_path / "f.onnx", {"x": x.numpy()}, [relu_out])
    assert got[relu_out].min() >= 0.0
    assert _sqnr_db(want[relu_out], got[relu_out]) > 20.0
