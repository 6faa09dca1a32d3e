"""Floors that cannot pass vacuously: an eval set on which the FP32 model's output is one value
everywhere (an all-zero attention mask zeroes it) is refused before the floor is judged, naming the
output and the input; a miss names every output below its floor, each figure at its floor's own
precision. A refused run writes no bundle and leaves the user's files as they were."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_pipeline.errors import DataError, StageError
from edge_pipeline.fidelity.floors import at_precision_of
from tests.conftest import write_recipe
from tests.faults.harness import assert_one_line_error, run_cli, snapshot


def masked_onnx(path: Path) -> Path:
    """scores = (x * mask) @ W1, boxes = (x * mask) @ W2: an all-zero mask makes both outputs zero."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "mask"], ["masked"]),  # (N, 16)
         helper.make_node("MatMul", ["masked", "w1"], ["scores"]),  # (N, 8)
         helper.make_node("MatMul", ["masked", "w2"], ["boxes"])],  # (N, 4)
        "masked", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16]),
                   helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["N", 16])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 8]),
         helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", 4])],
        [numpy_helper.from_array(rng.standard_normal((16, 8)).astype(np.float32), "w1"),
         numpy_helper.from_array(rng.standard_normal((16, 4)).astype(np.float32), "w2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def _data(path: Path, seed: int, mask_zero: bool = False) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((32, 16)).astype(np.float32)
    mask = np.zeros_like(x) if mask_zero else (rng.random((32, 16)) > 0.2).astype(np.float32)
    np.savez(path, x=x, mask=mask)
    return path


def _run(tmp_path, capsys, eval_mask_zero: bool = False, **quantize):
    recipe = write_recipe(tmp_path / "recipe.yaml", {
        "metadata": {"name": "masked"},
        "model": {"onnx": str(masked_onnx(tmp_path / "masked.onnx"))},
        "inputs": [{"name": "x", "shape": [1, 16]}, {"name": "mask", "shape": [1, 16]}],
        "class_score_outputs": [],
        "data": {"calibration": {"path": str(_data(tmp_path / "calibration.npz", 1))},
                 "eval": {"path": str(_data(tmp_path / "eval.npz", 2, eval_mask_zero))}},
        "stages": ["export", "quantize"],
        "quantize": {"samples": 16, "fidelity_samples": 16, **quantize},
    })
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "run", recipe, "--out", tmp_path / "bundle")
    return code, err, before


def test_an_all_zero_mask_that_zeroes_the_outputs_is_refused_naming_output_and_input(tmp_path, capsys):
    code, err, before = _run(tmp_path, capsys, eval_mask_zero=True)
    assert_one_line_error(code, err, DataError.exit_code, "output 'scores' is 0 everywhere", "eval.npz",
                          "input 'mask' is 0 everywhere", "without being measured")
    assert not (tmp_path / "bundle").exists()
    assert snapshot(tmp_path) == before


def test_a_miss_names_every_output_its_figure_and_its_floor_at_its_precision(tmp_path, capsys):
    code, err, before = _run(tmp_path, capsys, min_cosine=0.99999999, fallback=False,
                             min_cosine_per_output={"boxes": 0.999999999})
    assert_one_line_error(code, err, StageError.exit_code, "output 'scores' reaches cosine 0.9",
                          "below the floor 0.99999999,", "output 'boxes' reaches cosine 0.9",
                          "below the floor 0.999999999;")
    line = next(row for row in err.splitlines() if row.startswith("error: "))
    assert "cosine 1.0" not in line and "floor 1" not in line, line
    assert not (tmp_path / "bundle").exists()
    assert snapshot(tmp_path) == before


def test_an_unmeetable_floor_after_the_fallback_still_names_the_outputs(tmp_path, capsys):
    code, err, before = _run(tmp_path, capsys, min_cosine=0.99999999, fallback_max_layers=1)
    assert_one_line_error(code, err, StageError.exit_code, "no fallback meets the fidelity floor 0.99999999",
                          "best reached 0.9", "below the floor 0.99999999")
    line = next(row for row in err.splitlines() if row.startswith("error: "))
    assert "reached 1.0" not in line, line
    assert not (tmp_path / "bundle").exists()
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(("figure", "floor", "shown"), [
    (0.9876543, 0.99, "0.9877"),
    (0.99999996, 0.99999999, "0.99999996"),
    (0.999999986, 0.99999999, "0.999999986"),  # 8 decimals would print it equal to the floor
    (0.99989, 0.9999, "0.99989"),
])
def test_figures_print_at_the_floors_precision(figure, floor, shown):
    assert at_precision_of(figure, floor) == shown
