"""Shared fixtures: an isolated cache per test session and a tiny recipe on disk."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent

# One compute thread per process: the suite runs beside its own background default run on a 2-core
# machine, and two torch threads on a loaded machine spin-wait for each other at every operation (the
# kit detector's 60 training steps took 22 s at two threads, 0.4 s at one). Subprocesses inherit it;
# timed benchmark workers still set their sessions' thread counts explicitly. The background default
# run gets the user's environment instead: its figures are the README's, trained with torch's own
# thread count (one thread trains the 3-epoch teacher to a different, lower accuracy).
USER_ENVIRONMENT = dict(os.environ)
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Stage caches never leak between test sessions or into the user's cache."""
    cache = tmp_path_factory.mktemp("edge-cache")
    previous = os.environ.get("EDGE_PIPELINE_CACHE")
    os.environ["EDGE_PIPELINE_CACHE"] = str(cache)
    yield cache
    if previous is None:
        os.environ.pop("EDGE_PIPELINE_CACHE", None)
    else:
        os.environ["EDGE_PIPELINE_CACHE"] = previous


@pytest.fixture
def tiny_data(tmp_path) -> dict[str, Path]:
    from edge_pipeline.testing.tiny import labelled_arrays

    paths = {}
    for role, seed in (("calibration", 1), ("eval", 2)):
        x, y = labelled_arrays(48, seed=seed)
        paths[role] = tmp_path / f"{role}.npz"
        np.savez(paths[role], x=x, y=y)
    return paths


def write_recipe(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def tiny_recipe_dict(tiny_data: dict[str, Path], **changes) -> dict:
    recipe = {
        "metadata": {"name": "tiny"},
        "model": {"factory": "edge_pipeline.testing.tiny:tiny_residual_net"},
        "input": {"name": "input", "shape": [1, 3, 8, 8]},
        "data": {"calibration": {"path": str(tiny_data["calibration"])}, "eval": {"path": str(tiny_data["eval"])}},
        "stages": ["export", "quantize", "benchmark"],
        "targets": ["x86-cpu-onnxruntime"],
        "quantize": {"samples": 32},
        "benchmark": {"warmup": 2, "iterations": 10},
    }
    recipe.update(changes)
    return recipe


@pytest.fixture
def tiny_recipe(tmp_path, tiny_data) -> Path:
    return write_recipe(tmp_path / "recipe.yaml", tiny_recipe_dict(tiny_data))


@dataclass
class DefaultRun:
    bundle: Path
    cold: subprocess.CompletedProcess
    command: list[str]


# The README's main job with its training and timing budgets cut (every stage and report still
# runs): the full budgets cost minutes that only repeat what the trimmed run checks. The default's
# own accuracy and speed figures are measured by benchmarks/ and stated in the README. The Android
# target is left out here because tests/integration/test_device_benchmark.py runs the pipeline on
# it (the README's `--set targets=[x86-cpu-onnxruntime,android-arm64-onnxruntime]` run).
TRIMMED_DEFAULT = [
    "model.kwargs.epochs=3", "distill.train.epochs=2", "prune.recovery.train.epochs=1",
    "benchmark.rounds=1", "benchmark.warmup=2", "benchmark.iterations=10",
    "targets=[x86-cpu-onnxruntime,x86-cpu-openvino,x86-gpu-tensorrt,jetson-orin-tensorrt]",
]


def pytest_collection_modifyitems(config, items):
    """Tests of the default run go last: its cold run starts with the session and goes on beside the rest."""
    uses = [item for item in items if "default_run" in getattr(item, "fixturenames", ())]
    config.wants_default_run = bool(uses)
    items[:] = [item for item in items if item not in uses] + uses


@dataclass
class Background:
    process: subprocess.Popen
    bundle: Path
    command: list[str]
    stdout: Path
    stderr: Path


@pytest.fixture(scope="session", autouse=True)
def default_run_in_background(request, tmp_path_factory, isolated_cache):
    """Starts the cold default run when the session begins, so it goes on beside the other tests
    (which assert nothing about time) instead of holding up the suite; ``default_run`` waits for it."""
    if not getattr(request.config, "wants_default_run", False):
        yield None
        return
    folder = tmp_path_factory.mktemp("default-run")
    bundle = folder / "bundle"
    overrides = [arg for item in TRIMMED_DEFAULT for arg in ("--set", item)]
    command = [sys.executable, "-m", "edge_pipeline", "run", "--out", str(bundle), *overrides]
    stdout, stderr = folder / "stdout.txt", folder / "stderr.txt"
    with open(stdout, "w") as out, open(stderr, "w") as err:
        env = {**USER_ENVIRONMENT, "EDGE_PIPELINE_CACHE": os.environ["EDGE_PIPELINE_CACHE"]}
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=env)
    yield Background(process, bundle, command, stdout, stderr)
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def default_run(default_run_in_background: Background) -> DefaultRun:
    """The README's main job (trimmed budgets), run once per session (cold) in a subprocess; tests
    share its bundle."""
    background = default_run_in_background
    returncode = background.process.wait()
    cold = subprocess.CompletedProcess(background.command, returncode, background.stdout.read_text(),
                                       background.stderr.read_text())
    assert cold.returncode == 0, cold.stderr[-3000:]
    return DefaultRun(background.bundle, cold, background.command)
