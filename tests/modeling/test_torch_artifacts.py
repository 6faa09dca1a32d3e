"""A torch.export program saved by a stage reloads, and the reloaded module saves again (what the
export stage does for a distilled or pruned student when a target lowers torch programs)."""

from __future__ import annotations

import torch

from edge_pipeline.modeling.torch_artifacts import save_program


def test_a_reloaded_program_saves_again_with_the_same_outputs(tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU()).eval()
    example = torch.randn(2, 1, 8, 8)
    save_program(model, example, tmp_path / "first.pt2")
    reloaded = torch.export.load(str(tmp_path / "first.pt2")).module()
    save_program(reloaded, (example,), tmp_path / "second.pt2", dynamic_shapes=(None,))
    again = torch.export.load(str(tmp_path / "second.pt2")).module()
    with torch.no_grad():
        torch.testing.assert_close(again(example), model(example))
