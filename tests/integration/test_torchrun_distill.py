"""`torchrun --nproc_per_node=2 -m edge_pipeline run RECIPE`: both ranks train (DDP, gloo), rank 0 alone writes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import tiny_recipe_dict, write_recipe


@pytest.fixture
def transfer_npz(tmp_path) -> Path:
    from edge_pipeline.testing.tiny import labelled_arrays

    x, y = labelled_arrays(64, seed=3)
    path = tmp_path / "transfer.npz"
    np.savez(path, x=x, y=y)
    return path


def shrink_recipe(tmp_path, tiny_data, transfer_npz) -> Path:
    train = {"epochs": 2, "batch_size": 8, "lr": 0.05, "threads": 1}
    data = {"dataset": {"path": str(transfer_npz)}}
    recipe = tiny_recipe_dict(
        tiny_data,
        model={"factory": "edge_pipeline.testing.tiny:tiny_residual_net", "kwargs": {"width": 16}},
        stages=["distill", "prune", "export"],
        distill={"data": data, "train": train, "student": {"width_multiplier": 0.5, "round_to": 2},
                 "hints": [{"teacher_layer": "conv", "student_layer": "conv"}]},
        prune={"data": data, "target": {"kind": "macs", "macs_fraction": 0.15}, "round_to": 2,
               "recovery": {"train": {**train, "epochs": 1}}},
    )
    return write_recipe(tmp_path / "shrink.yaml", recipe)


@pytest.mark.slow
def test_torchrun_two_ranks_train_and_rank0_alone_writes(tmp_path, tiny_data, transfer_npz):
    recipe = shrink_recipe(tmp_path, tiny_data, transfer_npz)
    cache, out = tmp_path / "cache", tmp_path / "bundle"
    env = {**os.environ, "EDGE_PIPELINE_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "edge_pipeline", "run", str(recipe), "--out", str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("bundle written") == 1, done.stderr  # only rank 0 packaged
    for stage in ("distill", "prune"):
        # One entry and no partials (a per-key lock file may stay beside it: removing one races a waiter).
        entries = [p for p in (cache / "stages" / stage).iterdir() if p.suffix != ".lock"]
        assert len(entries) == 1 and not entries[0].name.startswith("."), entries
    assert not list((cache / "checkpoints").rglob("*.pt")), "per-epoch checkpoints are dropped once the entry exists"
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"teacher", "student", "student-pruned"} <= {a["model"] for a in manifest["artifacts"]}
    made = [a for a in manifest["artifacts"] if a["kind"] == "torch-program"]
    assert made and all(a["meta"]["trained_by_processes"] == 2 for a in made)  # DDP over both ranks
