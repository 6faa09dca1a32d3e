"""A user's model file beside the recipe imports without PYTHONPATH, as a module name or a file path,
from any working folder, through the installed console script."""

import shutil
import subprocess
import sys
from pathlib import Path

from edge_pipeline.cli.main import main
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


def test_a_file_path_factory_is_read_beside_the_recipe(tmp_path, tiny_data, capsys, monkeypatch):
    recipe = _project(tmp_path, tiny_data, "./tinycnn.py:build")
    monkeypatch.chdir(tmp_path)
    assert main(["export", str(recipe), "--out", "b"]) == 0, capsys.readouterr().err
    assert (tmp_path / "b" / "manifest.json").is_file()


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
