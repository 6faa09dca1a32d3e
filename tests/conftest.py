"""Shared fixtures: an isolated cache per test session and a tiny recipe on disk."""

from __future__ import annotations

import os
import subprocess
import sys
import time
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
#
# Under pytest-xdist this file is imported by the controller first, whose environment the workers
# inherit: the controller records the user's OMP_NUM_THREADS before setting it, and every process
# gives the background run the user's value back.
_USER_OMP = "EDGE_PIPELINE_TESTS_USER_OMP_NUM_THREADS"
os.environ.setdefault(_USER_OMP, os.environ.get("OMP_NUM_THREADS", ""))
USER_ENVIRONMENT = {key: value for key, value in os.environ.items() if key not in (_USER_OMP, "OMP_NUM_THREADS")}
if os.environ[_USER_OMP]:
    USER_ENVIRONMENT["OMP_NUM_THREADS"] = os.environ[_USER_OMP]
# The same thread count, but idle OpenMP threads sleep instead of spinning: beside the suite's workers
# the default run's spinning torch threads burned about a third of its CPU time for nothing. The wait
# policy changes no result (the artifacts come out byte for byte the same), only the CPU it takes.
USER_ENVIRONMENT.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Latency-aware placement makes an INT8 'mixed' artifact only where this CPU times some INT8 layers
# slower: tests that do not ask for it (quantize.placement: speed) must not depend on that timing.
# The background default run keeps the user's environment, placement included.
os.environ.setdefault("EDGE_PIPELINE_PLACEMENT", "off")
MAX_WORKERS = 4  # each worker holds torch, onnxruntime and openvino: about 1 GB


def pytest_xdist_auto_num_workers(config) -> int:
    """-n auto: the usable cores (not the machine's), at most MAX_WORKERS."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(usable, MAX_WORKERS))


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
        # One round: the target profiles' three fresh worker processes per artifact are for figures; a
        # test that is about rounds asks for them.
        "benchmark": {"warmup": 2, "iterations": 10, "rounds": 1},
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
# it (the README's `--set targets=[x86-cpu-onnxruntime,android-arm64-onnxruntime]` run). Latency-aware
# placement is a timing budget too (per-layer profiles, a mixed artifact per slower set):
# tests/integration/test_latency_placement.py runs it on both x86 runtimes.
TRIMMED_DEFAULT = [
    "model.kwargs.epochs=3", "distill.train.epochs=2", "prune.recovery.train.epochs=1",
    "benchmark.rounds=1", "benchmark.warmup=2", "benchmark.iterations=10", "quantize.placement='off'",
    "targets=[x86-cpu-onnxruntime,x86-cpu-openvino,x86-gpu-tensorrt,jetson-orin-tensorrt]",
]


def pytest_collection_modifyitems(config, items):
    """Tests of the default run go last: its cold run starts with the session and goes on beside the rest."""
    uses = [item for item in items if "default_run" in getattr(item, "fixturenames", ())]
    config.wants_default_run = bool(uses)
    items[:] = [item for item in items if item not in uses] + uses


@dataclass
class Background:
    """The default run of this test session, started by whichever pytest process got there first
    (one per session, also under pytest-xdist); ``returncode`` appears when it has ended."""

    process: subprocess.Popen | None  # None in the processes that did not start it
    bundle: Path
    command: list[str]
    stdout: Path
    stderr: Path
    returncode: Path

    def wait(self, timeout_s: float = 1800.0) -> int:
        if self.process is not None:
            self.process.wait(timeout=timeout_s)
        deadline = time.monotonic() + timeout_s
        while not self.returncode.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the default run ({self.stderr}) did not end within {timeout_s:.0f} s")
            time.sleep(0.5)
        return int(self.returncode.read_text())


# Runs the command and then records its exit code, so processes other than the starter can wait for it.
_RECORD_EXIT = ("import pathlib, subprocess, sys; code = subprocess.call(sys.argv[2:]); "
                "pathlib.Path(sys.argv[1] + '.partial').write_text(str(code)); "
                "pathlib.Path(sys.argv[1] + '.partial').rename(sys.argv[1])")


@pytest.fixture(scope="session", autouse=True)
def default_run_in_background(request, tmp_path_factory, isolated_cache):
    """Starts the cold default run when the session begins, so it goes on beside the other tests
    (which assert nothing about time) instead of holding up the suite; ``default_run`` waits for it.
    Under pytest-xdist the workers share one run: the first to make its folder starts it."""
    if not getattr(request.config, "wants_default_run", False):
        yield None
        return
    folder = _session_root(tmp_path_factory) / "default-run"
    bundle, cache = folder / "bundle", folder / "cache"
    overrides = [arg for item in TRIMMED_DEFAULT for arg in ("--set", item)]
    command = [sys.executable, "-m", "edge_pipeline", "run", "--out", str(bundle), "--cache-dir", str(cache),
               *overrides]
    background = Background(None, bundle, command, folder / "stdout.txt", folder / "stderr.txt",
                            folder / "returncode")
    try:
        folder.mkdir()  # atomic: exactly one process of the session starts the run
    except FileExistsError:
        yield background
        return
    with open(background.stdout, "w") as out, open(background.stderr, "w") as err:
        background.process = subprocess.Popen([sys.executable, "-c", _RECORD_EXIT, str(background.returncode),
                                               *command], stdout=out, stderr=err, text=True, env=USER_ENVIRONMENT)
    yield background
    # Other workers may still be waiting for it: let it end (bounded), unless the session was cut short.
    if not request.session.shouldfail and not request.session.shouldstop:
        try:
            background.process.wait(timeout=1800)
        except subprocess.TimeoutExpired:
            pass
    if background.process.poll() is None:
        _kill_tree(background.process)


def _kill_tree(process: subprocess.Popen) -> None:
    """The recording wrapper and the run under it (Ctrl-C reaches both: they share pytest's group)."""
    import psutil

    for child in psutil.Process(process.pid).children(recursive=True):
        child.kill()
    process.kill()
    process.wait()


def _session_root(tmp_path_factory) -> Path:
    """The folder every process of this test session shares: the base temp folder, or with
    pytest-xdist its parent (each worker gets its own base temp folder beneath it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def default_run(default_run_in_background: Background) -> DefaultRun:
    """The README's main job (trimmed budgets), run once per session (cold) in a subprocess; tests
    share its bundle. Its command names its cache, so a warm re-run from any worker re-uses it."""
    background = default_run_in_background
    returncode = background.wait()
    cold = subprocess.CompletedProcess(background.command, returncode, background.stdout.read_text(),
                                       background.stderr.read_text())
    assert cold.returncode == 0, cold.stderr[-3000:]
    return DefaultRun(background.bundle, cold, background.command)
