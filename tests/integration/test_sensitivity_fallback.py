"""The sensitivity fallback: a tight fidelity floor that plain INT8 misses is met by keeping the
fewest, most error-adding layers in float (ORT node exclusion, OpenVINO ignored scope); the float
list the report shows is what each runtime executes; a floor no fallback meets fails naming layers."""

from __future__ import annotations

import json
import re

import pytest

from edge_pipeline import api
from edge_pipeline.errors import FidelityFloorError
from edge_pipeline.testing.kit import kit_recipe
from tests.conftest import write_recipe

TARGETS = ["x86-cpu-onnxruntime", "x86-cpu-openvino"]


def _recipe(workdir, **quantize) -> dict:
    recipe = kit_recipe("detector", workdir)
    recipe.update(targets=TARGETS, stages=["export", "quantize"])  # the bundle still gets its report
    recipe["quantize"].update(quantize)
    return recipe


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fallback")


@pytest.fixture(scope="module")
def floor(workdir) -> float:
    """A floor every target's plain INT8 misses: half the error of the closest one. Plain INT8's
    fidelity depends on the CPU (without VNNI, 8-bit weights saturate 16-bit sums) and on the
    detector's weights (trained on this CPU), so a fixed floor would test a machine, not the fallback."""
    recipe = write_recipe(workdir / "plain-unfloored.yaml", _recipe(workdir, min_cosine=None, fallback=False))
    plain = api.run(recipe, workdir / "plain-unfloored", cache_dir=workdir / "cache")
    best = max(min(figures["cosine"] for figures in artifact["meta"]["fidelity_check"].values())
               for artifact in _int8(plain).values())
    assert best < 1.0
    return round(1.0 - (1.0 - best) / 2, 9)


@pytest.fixture(scope="module")
def passes() -> dict[str, int]:
    """Calibration passes each backend ran while the fallback bundle was made."""
    return {}


@pytest.fixture(scope="module")
def bundle(workdir, floor, passes):
    from edge_pipeline.backends.onnxruntime.statistics import calibration_passes as ort_passes
    from edge_pipeline.backends.openvino.statistics import calibration_passes as ov_passes

    recipe = write_recipe(workdir / "r.yaml", _recipe(workdir, min_cosine=floor))
    before = {"x86-cpu-onnxruntime": ort_passes(), "x86-cpu-openvino": ov_passes()}
    made = api.run(recipe, workdir / "bundle", cache_dir=workdir / "cache")
    passes.update({"x86-cpu-onnxruntime": ort_passes() - before["x86-cpu-onnxruntime"],
                   "x86-cpu-openvino": ov_passes() - before["x86-cpu-openvino"]})
    return made


def _int8(bundle) -> dict[str, dict]:
    manifest = json.loads((bundle / "manifest.json").read_text())
    # The full INT8 artifacts: a mixed one (latency-aware placement's) is made beside them where it pays.
    return {a["target"]: a for a in manifest["artifacts"]
            if a["precision"] == "int8" and not a["id"].endswith("-mixed")}


def test_plain_int8_misses_the_floor_and_the_fallback_meets_it_on_both_backends(workdir, floor, bundle):
    plain = write_recipe(workdir / "plain.yaml", _recipe(workdir, min_cosine=floor, fallback=False))
    with pytest.raises(FidelityFloorError, match=f"below the floor {re.escape(str(floor))}"):
        api.run(plain, workdir / "plain", cache_dir=workdir / "cache")
    assert not (workdir / "plain").exists()
    for target, artifact in _int8(bundle).items():
        kept = artifact["meta"]["fallback"]["kept_float"]
        assert 1 <= len(kept) <= 3, (target, kept)  # the fewest layers, not a blanket exclusion
        assert all(figures["cosine"] >= floor for figures in artifact["meta"]["fidelity_check"].values()), target


def test_every_layer_kept_float_measurably_moved_the_output(bundle):
    """The round log: each round's single-layer trials with their measured effect; only a layer
    whose trial moved the output is kept, and one that did not is never tried again."""
    for target, artifact in _int8(bundle).items():
        log = artifact["meta"]["fallback"]
        assert log["rounds"], target
        trials = [trial for r in log["rounds"] for trial in r["tried"]]
        idle = [trial["node"] for trial in trials if trial["reached"] != "met" and trial["effect"] < 1e-4]
        assert all([t["node"] for t in trials].count(node) == 1 for node in idle), (target, trials)
        for entry in log["rounds"]:
            if "kept" in entry:
                kept = next(trial for trial in entry["tried"] if trial["node"] == entry["kept"])
                assert kept["reached"] == "met" or kept["effect"] >= 1e-4, (target, entry)


def test_calibration_runs_once_per_setting_not_once_per_attempt(bundle, passes):
    """Every attempt (strategies, single-layer trials, the trim) re-uses the step's statistics: a
    calibration pass runs only for the first attempt and for a strategy that changes what ranges
    are (another method or NNCF preset), or, on OpenVINO, for a trial whose ignored layer moves a
    quantizer to a tensor no earlier attempt calibrated."""
    for target, artifact in _int8(bundle).items():
        log = artifact["meta"]["fallback"]
        trials = [trial for r in log["rounds"] for trial in r["tried"]]
        attempts = 1 + len(log["strategies_tried"]) + len(trials)
        assert len(trials) >= 1 and attempts >= 3, (target, log)
        assert 1 <= passes[target] < attempts, (target, passes, log)
    ort = _int8(bundle)["x86-cpu-onnxruntime"]
    assert passes["x86-cpu-onnxruntime"] <= 1 + len(ort["meta"]["fallback"]["strategies_tried"])
    assert ort["meta"]["calibration"]["statistics"].startswith("re-used")


def test_what_stays_float_is_read_back_from_the_runtime(bundle):
    for target, artifact in _int8(bundle).items():
        executed = artifact["meta"]["executed"]
        floats = {layer["name"] for layer in executed["float_layers"]}
        kept = set(artifact["meta"]["fallback"]["kept_float"])
        compute_kept = {name for name in kept if "Conv" in name or "linear" in name}
        assert compute_kept <= floats, (target, compute_kept, floats)
        assert executed["int8_layers"] >= 1
    report = json.loads((bundle / "report.json").read_text())
    assert {entry["target"] for entry in report["precision"]} == set(TARGETS)
    assert "## What runs in float" in (bundle / "report.md").read_text()


def test_a_floor_no_fallback_meets_names_the_worst_layers(workdir, bundle):
    recipe_dict = _recipe(workdir, min_cosine=0.999999999, fallback_max_layers=1)
    recipe_dict["targets"] = ["x86-cpu-onnxruntime"]
    recipe = write_recipe(workdir / "never.yaml", recipe_dict)
    out = workdir / "never"
    expected = (r"no fallback meets the fidelity floor 0\.999999999: best reached 0\.\d+ "
                r"\(output '.*below the floor 0\.999999999\); tried percentile calibration \(reached 0\.\d+\); "
                r"1 layers kept float "
                r"\(node_.*stopped because quantize\.fallback_max_layers \(1\) is reached\. The layers adding the most "
                r"error: node_.* What would help: ")
    with pytest.raises(FidelityFloorError, match=expected):
        api.run(recipe, out, cache_dir=workdir / "cache")
    assert not out.exists()
