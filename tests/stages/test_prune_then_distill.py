"""Prune first (ratio, 2 steps, BN-scale with sparsity training, CE recovery), then distil into that model
from unlabelled data (KD only): the other order of the two stages, in one process."""

import json

import numpy as np
import pytest

from tests.conftest import tiny_recipe_dict, write_recipe


@pytest.mark.slow
def test_prune_then_distill_into_the_pruned_model(tmp_path, tiny_data):
    from edge_pipeline import api
    from edge_pipeline.testing.tiny import labelled_arrays

    x, y = labelled_arrays(48, seed=4)
    np.savez(tmp_path / "transfer.npz", x=x, y=y)
    data = {"dataset": {"path": str(tmp_path / "transfer.npz")}}
    train = {"epochs": 1, "batch_size": 16, "threads": 1}
    teacher = {"factory": "edge_pipeline.zoo.students:tiny_mobilenet_v2",
               "kwargs": {"in_channels": 3, "num_classes": 4, "widths": [8, 16, 16], "expand": 2}}
    recipe = tiny_recipe_dict(
        tiny_data, model=teacher, stages=["prune", "distill"],
        prune={"data": data, "importance": "bn_scale", "scope": "uniform", "steps": 2, "round_to": 4,
               "target": {"kind": "ratio", "ratio": 0.5}, "sparsity": {"epochs": 1},
               "recovery": {"loss": "ce", "train": train}},
        distill={"data": {**data, "use_labels": False}, "student": {"source": "previous"}, "train": train},
    )
    bundle = api.run(write_recipe(tmp_path / "r.yaml", recipe), out=tmp_path / "bundle", cache_dir=tmp_path / "cache")
    made = {a["model"]: a for a in json.loads((bundle / "manifest.json").read_text())["artifacts"]}
    pruned, student = made["teacher-pruned"], made["student"]
    assert [s["step"] for s in pruned["meta"]["steps"]] == [1, 2]
    assert pruned["meta"]["params_vs_teacher"] < 0.6
    assert student["parent"] == pruned["id"] and student["meta"]["macs_torch"] == pruned["meta"]["macs_torch"]
