"""A cached training stage is replayed from its steps' cache entries without running its code, so a
warm re-run imports no torch; a damaged entry or a changed recipe runs the stage again."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import tiny_recipe_dict, write_recipe

# Runs the recipe's stages in a fresh interpreter and reports what the engine did and imported.
RUN = """
import json, sys
from pathlib import Path
from edge_pipeline.config.recipes import load_recipe
from edge_pipeline.engine.run import Engine
engine = Engine(load_recipe(Path(sys.argv[1])), Path(sys.argv[2]))
engine.run(Path(sys.argv[3]))
stages = {"distill", "prune"}
print(json.dumps({"torch": "torch" in sys.modules,
                  "cached": [s.cached for s in engine.state.lineage if s.stage in stages],
                  "artifacts": [str(a.path) for a in engine.state.artifacts if a.stage in stages],
                  "notes": engine.state.notes}))
"""


def run_stages(recipe: Path, cache: Path) -> dict:
    """In a fresh interpreter: what it imported is part of the answer."""
    proc = subprocess.run([sys.executable, "-c", RUN, str(recipe), str(cache), str(next_bundle(cache))],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_stages_here(recipe: Path, cache: Path) -> dict:
    """In this process (torch is imported already), for the checks that need no import record."""
    from edge_pipeline.config.recipes import load_recipe
    from edge_pipeline.engine.run import Engine

    engine = Engine(load_recipe(recipe), cache)
    engine.run(next_bundle(cache))
    stages = {"distill", "prune"}
    return {"cached": [s.cached for s in engine.state.lineage if s.stage in stages],
            "artifacts": [str(a.path) for a in engine.state.artifacts if a.stage in stages],
            "notes": engine.state.notes}


def next_bundle(cache: Path) -> Path:
    return cache.parent / f"bundle-{len(list(cache.parent.glob('bundle-*')))}"


@pytest.fixture
def distill_recipe(tmp_path, tiny_data) -> Path:
    from edge_pipeline.testing.tiny import labelled_arrays

    x, y = labelled_arrays(32, seed=4)
    np.savez(tmp_path / "transfer.npz", x=x, y=y)
    train = {"epochs": 1, "batch_size": 16, "threads": 1}
    recipe = tiny_recipe_dict(tiny_data, stages=["distill"],
                              distill={"data": {"dataset": {"path": str(tmp_path / "transfer.npz")}}, "train": train})
    return write_recipe(tmp_path / "recipe.yaml", recipe)


def test_a_warm_rerun_replays_distill_without_importing_torch(distill_recipe, tmp_path):
    cold = run_stages(distill_recipe, tmp_path / "cache")
    warm = run_stages(distill_recipe, tmp_path / "cache")
    assert cold["torch"] and cold["cached"] == [False]
    assert not warm["torch"] and warm["cached"] == [True]
    assert warm["artifacts"] == cold["artifacts"] and all(Path(p).exists() for p in warm["artifacts"])


def test_a_damaged_step_entry_is_not_replayed(distill_recipe, tmp_path):
    cold = run_stages_here(distill_recipe, tmp_path / "cache")
    (student,) = [Path(p) for p in cold["artifacts"]]
    victim = student if student.is_file() else next(p for p in student.rglob("*") if p.is_file())
    victim.write_bytes(victim.read_bytes()[:-8] + b"corrupt!")  # same size, other bytes
    again = run_stages_here(distill_recipe, tmp_path / "cache")
    assert again["cached"] == [False]  # the stage ran: checked, evicted, rebuilt
    assert any("corrupt" in note for note in again["notes"])
    assert run_stages_here(distill_recipe, tmp_path / "cache")["cached"] == [True]


def test_a_changed_recipe_runs_the_stage(distill_recipe, tmp_path):
    run_stages_here(distill_recipe, tmp_path / "cache")
    recipe = yaml.safe_load(distill_recipe.read_text())
    recipe["distill"]["train"]["epochs"] = 2
    changed = write_recipe(tmp_path / "changed.yaml", recipe)
    assert run_stages_here(changed, tmp_path / "cache")["cached"] == [False]
