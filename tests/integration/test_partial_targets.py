"""A failed target costs only itself: the bundle holds the targets that succeeded, every report and
the manifest name the failed one with its error, the run exits with the partial code, and compare
fails on it; --fail-fast keeps the old behaviour (the first failure stops the run, nothing written)."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from edge_pipeline import api
from edge_pipeline.cli.main import main
from edge_pipeline.errors import FidelityFloorError, PartialRunError
from edge_pipeline.reports.gates.errors import GATE_FAILED_EXIT_CODE
from tests.conftest import tiny_recipe_dict, write_recipe

GOOD, STRICT = "x86-cpu-onnxruntime", "strict-onnxruntime"


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str


def _cli(*argv: str) -> Ran:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(list(argv))
    return Ran(code, stdout.getvalue(), stderr.getvalue())


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("partial")
    import numpy as np

    from edge_pipeline.testing.tiny import labelled_arrays

    for role, seed in (("calibration", 1), ("eval", 2)):
        x, y = labelled_arrays(24, seed=seed)
        np.savez(folder / f"{role}.npz", x=x, y=y)
    # A floor no INT8 model meets, with no fallback to try: the target fails in its quantize step.
    (folder / f"{STRICT}.yaml").write_text(yaml.safe_dump({
        "metadata": {"name": STRICT}, "extends": GOOD,
        "quantize": {"min_cosine": 0.99999999, "fallback": False},
    }))
    return folder


def _recipe(workdir: Path, name: str, targets: list[str]) -> Path:
    data = {role: workdir / f"{role}.npz" for role in ("calibration", "eval")}
    recipe = tiny_recipe_dict(data, targets=targets, quantize={"samples": 16},
                              benchmark={"warmup": 1, "iterations": 3, "rounds": 1})
    return write_recipe(workdir / name, recipe)


@pytest.fixture(scope="module")
def partial(workdir) -> tuple[Ran, Path]:
    recipe = _recipe(workdir, "two.yaml", [GOOD, str(workdir / f"{STRICT}.yaml")])
    out = workdir / "bundle"
    return _cli("run", str(recipe), "--out", str(out), "--cache-dir", str(workdir / "cache")), out


def test_the_bundle_holds_the_others_and_the_run_exits_partial(partial):
    ran, out = partial
    assert ran.code == PartialRunError.exit_code == 11, ran.stderr
    assert ran.stdout.strip() == str(out.resolve())  # the result on stdout, as for any run
    error_lines = [line for line in ran.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and f"{STRICT} failed in quantize:" in error_lines[0], ran.stderr
    assert "below the floor" in error_lines[0]
    manifest = json.loads((out / "manifest.json").read_text())
    assert {a["target"] for a in manifest["artifacts"] if a["target"]} == {GOOD}
    assert not any(STRICT in path.as_posix() for path in out.rglob("*") if path.is_file()
                   and path.name not in ("report.json", "report.md", "report.html", "manifest.json"))
    report = json.loads((out / "report.json").read_text())
    assert {row["target"] for row in report["results"]} == {GOOD}
    [failure] = report["failed_targets"]
    assert failure["target"] == STRICT and failure["stage"] == "quantize"
    assert failure["error_class"] == "FidelityFloorError" and "\n" not in failure["error"]
    assert manifest["failed_targets"] == report["failed_targets"]
    assert "## Failed targets" in (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    assert "Failed targets" in html and f"{STRICT}: failed in quantize (FidelityFloorError)" in html


def test_compare_fails_on_a_failed_or_missing_target(partial, workdir):
    _, out = partial
    report = json.loads((out / "report.json").read_text())
    # A baseline that had the target: the good target's rows again under the strict one's name.
    had_it = {**report, "failed_targets": [], "results": report["results"] + [
        {**row, "target": STRICT, "artifact_id": row["artifact_id"].replace(GOOD, STRICT)}
        for row in report["results"]]}
    baseline = workdir / "baseline" / "report.json"
    baseline.parent.mkdir()
    baseline.write_text(json.dumps(had_it))
    against_itself = api.compare(out / "report.json", out / "report.json")
    assert not against_itself.passed
    assert [(r.gate, r.subject, r.status) for r in against_itself.results if r.failed] == [
        ("target", STRICT, "fail")]
    # The failure unrecorded (a report from elsewhere): the target is still missing against the baseline.
    unrecorded = workdir / "unrecorded" / "report.json"
    unrecorded.parent.mkdir()
    unrecorded.write_text(json.dumps({**report, "failed_targets": []}))
    lost = api.compare(baseline, unrecorded)
    assert ("target", STRICT) in [(r.gate, r.subject) for r in lost.results if r.failed]
    ran = _cli("compare", str(baseline), str(out / "report.json"))
    assert ran.code == GATE_FAILED_EXIT_CODE
    assert f"FAIL         target   {STRICT}: the new run failed this target" in ran.stdout


def test_fail_fast_stops_at_the_first_failure_and_writes_nothing(partial, workdir):
    recipe = _recipe(workdir, "two.yaml", [GOOD, str(workdir / f"{STRICT}.yaml")])
    out = workdir / "fail-fast"
    ran = _cli("run", str(recipe), "--out", str(out), "--cache-dir", str(workdir / "cache"), "--fail-fast")
    assert ran.code == FidelityFloorError.exit_code and ran.stdout == ""
    assert not out.exists()


def test_a_run_whose_every_target_fails_writes_nothing(workdir):
    recipe = _recipe(workdir, "strict-only.yaml", [str(workdir / f"{STRICT}.yaml")])
    with pytest.raises(FidelityFloorError, match="below the floor"):
        api.run(recipe, workdir / "none", cache_dir=workdir / "cache")
    assert not (workdir / "none").exists()
