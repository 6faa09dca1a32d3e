import numpy as np
import onnx
import pytest

from edge_pipeline.config.schema import ExportConfig, InputSpec
from edge_pipeline.errors import StageError
from edge_pipeline.modeling.complexity import onnx_complexity
from edge_pipeline.modeling.onnx_export import export_onnx
from edge_pipeline.testing.tiny import labelled_arrays, tiny_residual_net

SPEC = InputSpec(name="input", shape=[1, 3, 8, 8])


def test_export_is_checked_and_dynamic(tmp_path):
    out = tmp_path / "m.onnx"
    x, _ = labelled_arrays(16)
    meta = export_onnx(tiny_residual_net(), SPEC, ExportConfig(), out, x)
    assert meta["numeric_check"]["max_abs_diff"] < 1e-4 and meta["numeric_check"]["cosine"] > 0.9999
    model = onnx.load(str(out))
    assert model.graph.input[0].name == "input"
    assert not model.graph.input[0].type.tensor_type.shape.dim[0].HasField("dim_value")  # dynamic batch
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 18


def test_fixed_batch_export(tmp_path):
    out = tmp_path / "fixed.onnx"
    x, _ = labelled_arrays(8)
    export_onnx(tiny_residual_net(), SPEC, ExportConfig(dynamic_batch=False), out, x)
    assert onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1


def test_tolerance_failure_is_a_stage_error(tmp_path):
    x, _ = labelled_arrays(8)
    config = ExportConfig(max_abs_diff=1e-12, min_cosine=1.0)
    with pytest.raises(StageError, match="max_abs_diff"):
        export_onnx(tiny_residual_net(), SPEC, config, tmp_path / "m.onnx", x * 1e3)


def test_macs_and_params_are_counted(tmp_path):
    out = tmp_path / "m.onnx"
    export_onnx(tiny_residual_net(width=8), SPEC, ExportConfig(), out, labelled_arrays(4)[0])
    counts = onnx_complexity(out)
    # stem 3->8 3x3 on 8x8, conv 8->8 3x3 on 8x8, head 8->4
    assert counts["macs"] == 8 * 64 * 27 + 8 * 64 * 72 + 8 * 4
    assert counts["params"] == (8 * 27 + 8) + (8 * 72 + 8) + (8 * 4 + 4)
    assert np.isfinite(counts["macs"])
