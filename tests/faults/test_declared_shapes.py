"""An ONNX source whose declared output shape ([N,7,3]) is not what it returns ([N,4]) ships with the
shape it returns, its batch axis still dynamic, and a note naming the output; the user's file is
left as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.conftest import tiny_recipe_dict, write_recipe
from tests.faults.harness import run_cli, snapshot


def misdeclared_onnx(path: Path) -> Path:
    """Flatten + Gemm to (N, 4), its output declared (N, 7, 3)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(0).standard_normal((192, 4)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["input"], ["flat"]), helper.make_node("Gemm", ["flat", "w", "b"], ["boxes"])],
        "misdeclared", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", 7, 3])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(np.zeros(4, np.float32), "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def test_a_false_output_declaration_is_corrected_in_the_shipped_onnx(tmp_path, tiny_data, capsys):
    import onnx

    source = misdeclared_onnx(tmp_path / "model.onnx")
    recipe = write_recipe(tmp_path / "recipe.yaml", tiny_recipe_dict(
        tiny_data, model={"onnx": str(source)}, stages=["export"], class_score_outputs=[]))
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "run", recipe, "--out", tmp_path / "bundle")
    assert code == 0, err
    notes = [line for line in err.splitlines() if "declared [N,7,3] but returns [N,4]" in line]
    assert len(notes) == 1 and "output 'boxes'" in notes[0] and "model.onnx" in notes[0], err
    shipped = onnx.load(str(next((tmp_path / "bundle").glob("artifacts/**/*.onnx"))), load_external_data=False)
    dims = shipped.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["N", 4]
    assert any("declared [N,7,3]" in note for note in (tmp_path / "bundle" / "report.md").read_text().splitlines())
    after = snapshot(tmp_path)
    assert {name: after[name] for name in before} == before  # the user's model and data untouched


def test_a_true_declaration_is_left_as_it_is(tmp_path):
    from edge_pipeline.calibration.layout import Layout
    from edge_pipeline.modeling.declared_shapes import correct_declared_shapes

    path = misdeclared_onnx(tmp_path / "model.onnx")
    assert correct_declared_shapes(path, {"boxes": [5, 7, 3]}, Layout()) == {}
