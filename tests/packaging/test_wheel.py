"""The built wheel works outside the checkout: built-in targets, the default's data and a recipe run
come from the installed package alone (no targets/ or calibration_data/ beside the cwd)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BUILTIN_TARGETS = sorted(path.stem for path in (REPO / "edge_pipeline" / "targets").glob("*.yaml"))

MODEL_PY = '''
import torch
from torch import nn


def build():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 4)).eval()
'''


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel, unzipped: what `pip install` would put in site-packages."""
    work = tmp_path_factory.mktemp("wheel")
    # Built from a copy: an in-tree build would leave build/ (and stale files in it) in the checkout.
    source = work / "source"
    shutil.copytree(REPO / "edge_pipeline", source / "edge_pipeline",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "-q", "-w", str(work / "dist"), str(source)], capture_output=True, text=True, timeout=180)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (work / "dist").glob("edge_pipeline-*.whl")
    site = work / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """Python with the unzipped wheel first on sys.path (ahead of the venv's editable checkout) and
    a cwd outside the checkout."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("PYTHON") and key not in ("EDGE_PIPELINE_TARGETS", "EDGE_PIPELINE_HOME")}
    env["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, "-s", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_installed_package_has_targets_and_the_default_data(installed, tmp_path):
    probe = ("import json, edge_pipeline; from edge_pipeline.config.recipes import load_recipe; "
             "print(json.dumps([edge_pipeline.__file__, str(load_recipe().data.calibration.path)]))")
    proc = run_installed(installed, tmp_path, "-c", probe)
    assert proc.returncode == 0, proc.stderr[-3000:]
    package_file, calibration = json.loads(proc.stdout)
    assert Path(package_file).is_relative_to(installed), package_file  # not the editable checkout
    assert Path(calibration).is_relative_to(installed) and Path(calibration).is_file()
    assert (installed / "edge_pipeline" / "calibration_data" / "README.md").is_file()

    listed = run_installed(installed, tmp_path, "-m", "edge_pipeline", "targets", "--json")
    assert listed.returncode == 0, listed.stderr[-3000:]
    targets = {t["name"]: t for t in json.loads(listed.stdout)}
    assert sorted(targets) == BUILTIN_TARGETS
    assert all(t["builtin"] and Path(t["file"]).is_relative_to(installed) for t in targets.values())


def test_installed_package_scaffolds_runs_and_benchmarks_a_user_model(installed, tmp_path):
    """The issue's first hour from an install: init a recipe for a model file, run it, time the INT8 file."""
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    (project / "model.py").write_text(MODEL_PY)
    init = run_installed(installed, project, "-m", "edge_pipeline", "init", "--factory", "model.py:build",
                         "--input-shape", "1,3,8,8", "--out", "recipe.yaml")
    assert init.returncode == 0, init.stderr[-3000:]
    assert init.stdout.strip() == "recipe.yaml" and (project / "recipe.calibration.npz").is_file()

    # The scaffolded recipe, its timing left to the benchmark command below (one worker, not a sweep).
    proc = run_installed(installed, elsewhere, "-m", "edge_pipeline", "-q", "run", str(project / "recipe.yaml"),
                         "--out", str(elsewhere / "bundle"), "--cache-dir", str(tmp_path / "cache"),
                         "--set", "stages=[export,quantize]", "--set", "targets=[x86-cpu-onnxruntime]")
    assert proc.returncode == 0, proc.stderr[-3000:]
    bundle = Path(proc.stdout.strip())
    assert bundle == elsewhere / "bundle" and (bundle / "manifest.json").is_file()
    manifest = json.loads((bundle / "manifest.json").read_text())
    int8 = next(bundle / a["path"] for a in manifest["artifacts"] if a["id"] == "build/x86-cpu-onnxruntime/int8")

    timed = run_installed(installed, elsewhere, "-m", "edge_pipeline", "benchmark", str(int8), "--warmup", "1",
                          "--iterations", "5", "--out", str(elsewhere / "timing.json"))
    assert timed.returncode == 0, timed.stderr[-3000:]
    results = json.loads((elsewhere / "timing.json").read_text())["results"]
    assert results[0]["configs"][0]["latency_ms"]["p50"] > 0
