"""A user's model file beside the recipe imports without PYTHONPATH, as a module name or a file path,
from any working folder, through the installed console script."""

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import tiny_recipe_dict, write_recipe

MODEL = '''
import torch.nn as nn


def build():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 10))
'''


def _project(tmp_path, tiny_data, factory: str) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "tinycnn.py").write_text(MODEL)
    return write_recipe(project / "recipe.yaml",
                        tiny_recipe_dict(tiny_data, model={"factory": factory}, stages=["export"]))


def test_a_file_path_factory_is_read_beside_the_recipe(tmp_path, monkeypatch):
    from edge_pipeline.config.recipes import load_recipe
    from edge_pipeline.config.references import import_callable

    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "tinycnn.py").write_text(MODEL)
    recipe = write_recipe(tmp_path / "project" / "recipe.yaml", {
        "metadata": {"name": "byo"}, "model": {"factory": "./tinycnn.py:build"},
        "input": {"name": "x", "shape": [1, 3, 8, 8]}, "data": {"calibration": {"path": "calibration.npz"}},
        "stages": ["export"], "targets": ["x86-cpu-onnxruntime"]})
    (tmp_path / "project" / "calibration.npz").write_bytes(b"")  # loaded only when a run starts
    monkeypatch.chdir(tmp_path)  # not the recipe's folder: the file is found beside the recipe
    loaded = load_recipe(recipe)
    assert import_callable(loaded.model.factory)().__class__.__name__ == "Sequential"


def test_factory_beside_the_recipe_imports_from_another_folder(tmp_path, tiny_data):
    factory = "tinycnn:build"
    recipe = _project(tmp_path, tiny_data, factory)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = Path(sys.executable).parent / "edge-pipeline"
    command = [str(script)] if script.exists() else [shutil.which("edge-pipeline") or "edge-pipeline"]
    proc = subprocess.run([*command, "-q", "export", str(recipe), "--out", "b"], cwd=elsewhere,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(elsewhere / "b")
    assert (elsewhere / "b" / "manifest.json").is_file()
