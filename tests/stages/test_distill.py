"""The distill trainer resumes from per-epoch checkpoints; bad shrink settings fail before training."""

import numpy as np
import pytest
import torch

from edge_pipeline.cli.main import main
from edge_pipeline.config.shrink import DistillConfig
from edge_pipeline.distillation.trainer import distill
from edge_pipeline.testing.tiny import labelled_arrays, tiny_residual_net
from tests.conftest import tiny_recipe_dict, write_recipe


def tiny_dataset():
    from torch.utils.data import TensorDataset

    x, y = labelled_arrays(32, seed=5)
    return TensorDataset(torch.from_numpy(x), torch.from_numpy(y))


def test_distill_writes_a_checkpoint_per_epoch_and_resumes(tmp_path):
    config = DistillConfig.model_validate({"train": {"epochs": 2, "batch_size": 8, "threads": 1},
                                           "hints": [{"teacher_layer": "conv", "student_layer": "conv"}]})
    teacher = tiny_residual_net(width=8, seed=1)
    from edge_pipeline.distillation.hints import build_adapters

    def run_once(seed: int):
        student = tiny_residual_net(width=4, seed=seed)
        adapters = build_adapters(student, teacher, config.hints, torch.zeros(2, 3, 8, 8))
        return distill(student, teacher, adapters, tiny_dataset(), config, tmp_path / "ckpt")

    first = run_once(seed=0)
    assert sorted(p.name for p in (tmp_path / "ckpt").glob("*.pt")) == ["epoch-0001.pt", "epoch-0002.pt"]
    # A re-run (e.g. after an interruption) starts from the newest checkpoint, not from its own init.
    resumed = run_once(seed=123)
    for a, b in zip(first.state_dict().values(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)


@pytest.fixture
def transfer(tmp_path):
    x, y = labelled_arrays(32, seed=3)
    np.savez(tmp_path / "transfer.npz", x=x, y=y)
    return {"dataset": {"path": str(tmp_path / "transfer.npz")}}


def run_bad(tmp_path, tiny_data, capsys, **sections):
    recipe = tiny_recipe_dict(tiny_data, stages=["distill", "prune", "export"], **sections)
    path = write_recipe(tmp_path / "bad.yaml", recipe)
    code = main(["run", str(path), "--out", str(tmp_path / "bundle"), "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code != 0 and not (tmp_path / "bundle").exists()
    assert "epoch" not in err, "the error must come before any training"
    return err.strip().splitlines()[-1]


def test_student_factory_with_other_outputs(tmp_path, tiny_data, transfer, capsys):
    student = {"source": "factory", "factory": "edge_pipeline.testing.tiny:tiny_residual_net",
               "kwargs": {"num_classes": 3}}
    message = run_bad(tmp_path, tiny_data, capsys, distill={"student": student, "data": transfer},
                      prune={"data": transfer})
    assert "distill.student outputs [2, 3]" in message and "teacher outputs [2, 4]" in message


def test_hint_layer_missing(tmp_path, tiny_data, transfer, capsys):
    hints = [{"teacher_layer": "layer9", "student_layer": "conv"}]
    message = run_bad(tmp_path, tiny_data, capsys, distill={"hints": hints, "data": transfer}, prune={"data": transfer})
    assert "distill.hints" in message and "layer9" in message


def test_unreachable_budget_before_distilling(tmp_path, tiny_data, transfer, capsys):
    message = run_bad(tmp_path, tiny_data, capsys, distill={"data": transfer, "student": {"round_to": 2}},
                      prune={"data": transfer, "target": {"macs_fraction": 0.0001}})
    assert "prune.target.macs_fraction=0.0001 cannot be met" in message


def test_ratio_outside_open_interval(tmp_path, tiny_data, capsys):
    message = run_bad(tmp_path, tiny_data, capsys, prune={"target": {"kind": "ratio", "ratio": 1.0}})
    assert "prune.target.ratio" in message
