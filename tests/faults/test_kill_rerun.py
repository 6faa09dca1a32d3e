"""SIGKILL at each stage boundary, then a re-run: the same artifact bytes as an uninterrupted run, no
process of the killed run left (a benchmark worker that outlives its parent skews the next run's
timings), and no temp or half-written folder left beside the bundle, in the cache or in TMPDIR.

One chain saves time: kill as distill starts, re-run and kill as prune starts, then export, then
quantize, then inside the benchmark (a worker running), then as package starts, then re-run to the
end. Each re-run picks up what the killed runs cached, which is what a user's re-run does.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, tiny_recipe_dict, write_recipe

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for survivors")]

# (stage, what its progress line says, a process whose command line holds this must run at the kill)
KILL_POINTS = [("distill", "start", None), ("prune", "start", None), ("export", "start", None),
               ("quantize", "start", None),
               ("benchmark", "running", "edge_pipeline.benchmarking.worker"), ("package", "start", None)]


def test_kill_at_each_stage_then_rerun_matches_an_uninterrupted_run(tmp_path, tiny_data):
    recipe = write_recipe(tmp_path / "recipe.yaml", every_stage_recipe(tiny_data))
    # The benchmark settings change timings only, never artifact bytes: the reference times briefly.
    # Made beside the kill chain (its own cache and folder): the two share nothing but the CPUs.
    reference_run = start_to_end(recipe, tmp_path / "reference", "--set", "benchmark.time_budget_s=0.05")

    work = tmp_path / "interrupted"
    for stage, marker, child in KILL_POINTS:
        process = start(recipe, work)
        seen = kill_when(process, stage, marker, child)
        assert seen, f"the run ended before {stage} {marker}: {process.stderr.read()}"
        assert survivors(process.pid) == [], f"processes of the run killed at {stage} outlived it"
    rerun = run_to_end(recipe, work)
    reference = wait_to_end(reference_run, tmp_path / "reference")

    assert artifact_digests(rerun) == artifact_digests(reference)
    assert file_bytes(rerun) == file_bytes(reference)
    # Each kind of leftover is a separate check: the bundle's temp siblings (artifacts/atomic.py),
    # the cache's half-written entries (artifacts/cache.py), the process temp folders (benchmarking/scratch.py).
    assert [p.name for p in work.iterdir() if p.name.startswith(".bundle")] == [], "bundle temp siblings left"
    assert [str(p) for p in (work / "cache").rglob("*") if ".partial" in p.name] == [], "cache .partial left"
    assert [p.name for p in (work / "tmp").iterdir()] == [], "temp folders left in TMPDIR"


def every_stage_recipe(tiny_data: dict[str, Path]) -> dict:
    """Every stage on the tiny model, each as short as it can be; training is seeded and one-threaded,
    so an uninterrupted run and a killed-and-resumed one must make the same bytes."""
    train = {"epochs": 1, "batch_size": 16, "threads": 1}
    data = {"dataset": {"path": str(tiny_data["calibration"])}}
    return tiny_recipe_dict(
        tiny_data, stages=["distill", "prune", "export", "quantize", "benchmark"],
        distill={"data": data, "train": train, "student": {"width_multiplier": 0.5, "round_to": 2}},
        prune={"data": data, "target": {"kind": "ratio", "ratio": 0.3}, "round_to": 2,
               "recovery": {"train": train}},
        # A budget per configuration well past the worker's start-up (it is killed as soon as it is
        # seen), so it is still running at the kill; every run of the chain times each of the six
        # artifacts for this long, so 0.2 s rather than 1 s (the test took 47 s at 1 s, 40 s at 0.2 s).
        benchmark={"warmup": 2, "iterations": 100000, "time_budget_s": 0.2, "rounds": 1})


def command(recipe: Path, work: Path) -> tuple[list[str], dict]:
    tmp = work / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp), "EDGE_PIPELINE_PROGRESS": "lines", "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "edge_pipeline", "run", str(recipe), "--out", str(work / "bundle"),
            "--cache-dir", str(work / "cache")]
    return argv, env


def start(recipe: Path, work: Path) -> subprocess.Popen:
    argv, env = command(recipe, work)
    # Its own session: every process it starts shares its group id, which survivors() looks for.
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def kill_when(process: subprocess.Popen, stage: str, marker: str, child: str | None) -> bool:
    """SIGKILL the run once a progress line of ``stage`` says ``marker`` (and, with ``child``, once
    such a process of the run is running); False if the run ended first."""
    for line in process.stderr:
        if line.split("]", 1)[-1].split()[:1] == [stage] and marker in line:
            if child is not None:
                assert wait_for_child(process.pid, child), f"no {child} started"
            process.send_signal(signal.SIGKILL)
            process.wait()
            process.stderr.close()
            return True
    process.wait()
    return False


def start_to_end(recipe: Path, work: Path, *overrides: str) -> subprocess.Popen:
    argv, env = command(recipe, work)
    with open(work / "run.log", "w") as log:  # the child keeps its own descriptor of the log
        return subprocess.Popen([*argv, *overrides], env=env, stdout=subprocess.DEVNULL, stderr=log, text=True)


def wait_to_end(process: subprocess.Popen, work: Path) -> Path:
    returncode = process.wait(timeout=300)
    assert returncode == 0, (work / "run.log").read_text()[-3000:]
    return work / "bundle"


def run_to_end(recipe: Path, work: Path, *overrides: str) -> Path:
    argv, env = command(recipe, work)
    done = subprocess.run([*argv, *overrides], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return work / "bundle"


def wait_for_child(group: int, fragment: str, wait_s: float = 30.0) -> bool:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if any(fragment in command_line for _, command_line in group_processes(group)):
            return True
        time.sleep(0.02)
    return False


def survivors(group: int, wait_s: float = 0.5) -> list[str]:
    """Live processes in the killed run's process group, after a grace period for the kernel to
    deliver the workers' death signal."""
    deadline = time.monotonic() + wait_s
    while True:
        found = [f"{pid} {command_line}" for pid, command_line in group_processes(group)]
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def group_processes(group: int) -> list[tuple[str, str]]:
    """(pid, command line) of every live process (zombies excluded) in process group ``group``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command_line = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # the process ended while scanning
        if int(fields[2]) == group and fields[0] != "Z":
            found.append((stat.parent.name, command_line))
    return found


def artifact_digests(bundle: Path) -> dict[str, str]:
    manifest = json.loads((bundle / "manifest.json").read_text())
    return {artifact["id"]: artifact["sha256"] for artifact in manifest["artifacts"]}


def file_bytes(bundle: Path) -> dict[str, str]:
    """Every artifact file's sha256 (reports and the manifest hold timings and times: they differ)."""
    return {str(path.relative_to(bundle)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted((bundle / "artifacts").rglob("*")) if path.is_file()}
