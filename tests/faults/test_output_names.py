"""Output names by identity: a model returning a dict has its ONNX outputs named by the dict's keys,
whatever order the recipe's 'outputs' lists them in; repeated and unknown names are refused with one
line, and a refused run writes no bundle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from edge_pipeline.errors import ConfigError
from tests.conftest import tiny_recipe_dict, write_recipe
from tests.faults.harness import assert_one_line_error, run_cli, snapshot
from tests.faults.test_outputs import tiny_onnx


class LogitsAndBoxes(nn.Module):
    """Returns its logits first; a recipe listing [boxes, logits] must not swap them."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.classify = nn.Linear(192, 10)
        self.regress = nn.Linear(192, 4)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        flat = x.flatten(1)  # (B, 192)
        return {"logits": self.classify(flat), "boxes": torch.sigmoid(self.regress(flat))}  # (B, 10), (B, 4)


def logits_and_boxes() -> nn.Module:
    return LogitsAndBoxes()


FACTORY = f"{__name__}:logits_and_boxes"


def _export(tmp_path, tiny_data, capsys, **changes):
    recipe = write_recipe(tmp_path / "recipe.yaml", tiny_recipe_dict(
        tiny_data, model={"factory": FACTORY}, stages=["export"], **changes))
    out = tmp_path / "bundle"
    code, _, err = run_cli(capsys, "export", recipe, "--out", out)
    return code, err, out


def test_dict_outputs_are_named_by_their_keys_not_by_position(tmp_path, tiny_data, capsys):
    import onnxruntime as ort

    code, err, bundle = _export(tmp_path, tiny_data, capsys, outputs=["boxes", "logits"],
                                class_score_outputs=["logits"])
    assert code == 0, err
    onnx_path = next(bundle.glob("artifacts/**/*.onnx"))
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    x = np.load(tiny_data["eval"])["x"][:5].astype(np.float32)
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"input": x}), strict=True))
    with torch.no_grad():
        want = logits_and_boxes()(torch.from_numpy(x))
    assert got["boxes"].shape == (5, 4) and got["logits"].shape == (5, 10)
    np.testing.assert_allclose(got["boxes"], want["boxes"].numpy(), atol=1e-5)
    np.testing.assert_allclose(got["logits"], want["logits"].numpy(), atol=1e-5)


@pytest.mark.parametrize(("changes", "fragments"), [
    ({"outputs": ["pitch", "pitch"]}, ["outputs", "['pitch']", "more than once"]),
    ({"outputs": ["logits", "boxes"], "quantize": {"min_cosine_per_output": {"nosuch": 0.9}}},
     ["quantize.min_cosine_per_output", "'nosuch'", "['logits', 'boxes']"]),
    ({"outputs": ["logits", "boxes"], "class_score_outputs": ["scores"]},
     ["class_score_outputs", "'scores'", "['logits', 'boxes']"]),
], ids=["repeated-name", "unknown-floor", "unknown-class-scores"])
def test_bad_output_names_are_refused_at_load(tmp_path, tiny_data, capsys, changes, fragments):
    before = snapshot(tmp_path)
    code, err, bundle = _export(tmp_path, tiny_data, capsys, **changes)
    assert_one_line_error(code, err, ConfigError.exit_code, *fragments)
    assert "start" not in err, "refused before any stage runs"
    assert not bundle.exists()
    assert snapshot(tmp_path) == {**before, "recipe.yaml": snapshot(tmp_path)["recipe.yaml"]}


def test_recipe_names_a_key_the_dict_lacks(tmp_path, tiny_data, capsys):
    code, err, bundle = _export(tmp_path, tiny_data, capsys, outputs=["boxes", "scores"])
    assert_one_line_error(code, err, ConfigError.exit_code, "['scores']", "['logits', 'boxes']", "dict's keys")
    assert not bundle.exists()


def test_unknown_floor_without_declared_outputs_fails_at_export(tmp_path, tiny_data, capsys):
    # An ONNX source: its output names are known only once the file is read.
    model = tiny_onnx(tmp_path / "tiny.onnx")
    recipe = write_recipe(tmp_path / "recipe.yaml", tiny_recipe_dict(
        tiny_data, model={"onnx": str(model)}, quantize={"min_cosine_per_output": {"nosuch": 0.9}}))
    out = tmp_path / "bundle"
    code, _, err = run_cli(capsys, "run", recipe, "--out", out)
    assert_one_line_error(code, err, ConfigError.exit_code, "quantize.min_cosine_per_output", "'nosuch'",
                          "['output']")
    assert "quantize  " not in err and not Path(out).exists()
