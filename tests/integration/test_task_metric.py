"""The recipe's own metric (metric: module:function): figures per artifact in the report, a quantize
floor on them, OpenVINO accuracy control holding one of them, and compare gates."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edge_pipeline import api
from edge_pipeline.errors import StageError
from edge_pipeline.reports.gates.thresholds import PASS, SKIPPED, GateThresholds
from edge_pipeline.testing.kit import detector_arrays, two_head_detector
from tests.conftest import write_recipe

METRIC = {"function": "edge_pipeline.testing.kit:detector_metric", "lower_is_better": ["box_offset"]}


def _recipe(tmp_path, quantize: dict, targets: list[str], eval_near_ties: bool = False) -> dict:
    """Eval labels are the FP32 model's own classes, so FP32 scores 100 and INT8 can only lose.
    ``eval_near_ties``: the 48 eval images whose two best FP32 logits are closest, out of 2048, so
    that INT8's rounding flips some of them on any CPU (with VNNI an INT8 detector can otherwise
    keep every class of 48 random images; without it, 16-bit pair sums saturate and flip some)."""
    model = two_head_detector()  # trains briefly: outside no_grad
    for role, seed in (("calibration", 1), ("eval", 2)):
        x, _ = detector_arrays(2048 if role == "eval" and eval_near_ties else 48, seed)
        with torch.no_grad():
            logits = model(torch.from_numpy(x))["logits"].numpy()
        if len(x) > 48:
            top_two = np.sort(logits, axis=1)[:, -2:]
            keep = np.argsort(top_two[:, 1] - top_two[:, 0])[:48]
            x, logits = x[keep], logits[keep]
        np.savez(tmp_path / f"{role}.npz", x=x, y=logits.argmax(1))
    return {
        "metadata": {"name": "detector"},
        "model": {"factory": "edge_pipeline.testing.kit:two_head_detector"},
        "input": {"name": "image", "shape": [1, 3, 16, 16]},
        "class_score_outputs": ["logits"],
        "metric": METRIC,
        "data": {"calibration": {"path": str(tmp_path / "calibration.npz")},
                 "eval": {"path": str(tmp_path / "eval.npz")}},
        "targets": targets,
        "quantize": {"samples": 32, **quantize},
        "benchmark": {"warmup": 1, "iterations": 3, "rounds": 1},
    }


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("metric")


@pytest.fixture(scope="module")
def bundle(workdir):
    """One run: a metric floor on both targets, and OpenVINO accuracy control holding class_accuracy."""
    recipe = _recipe(workdir, {"max_metric_drop": {"class_accuracy": 50.0, "box_offset": 0.5},
                               "max_drop": 5.0, "control_metric": "class_accuracy"},
                     ["x86-cpu-onnxruntime", "x86-cpu-openvino"])
    return api.run(write_recipe(workdir / "r.yaml", recipe), workdir / "bundle", cache_dir=workdir / "cache")


def test_every_row_carries_the_metric_figures(bundle):
    report = json.loads((bundle / "report.json").read_text())
    assert report["metric"]["lower_is_better"] == ["box_offset"]
    for row in report["results"]:
        assert set(row["metrics"]) == {"class_accuracy", "box_offset"}, row["artifact_id"]
        if row["precision"] == "fp32":
            assert row["metrics"]["class_accuracy"] == pytest.approx(100.0)
    assert "## Task metric" in (bundle / "report.md").read_text()
    assert 'id="task-metric"' in (bundle / "report.html").read_text()


def test_compare_gates_the_figures_it_has_limits_for(bundle):
    gates = api.compare(bundle, bundle, GateThresholds(max_metric_drop={"class_accuracy": 0.0}))
    metric = [r for r in gates.results if r.gate == "metric"]
    assert {r.status for r in metric if "class_accuracy" in r.subject} == {PASS}
    assert {r.status for r in metric if "box_offset" in r.subject} == {SKIPPED}


def test_a_missed_metric_floor_fails_the_quantize_step(workdir, bundle):
    missed = workdir / "missed-data"
    missed.mkdir()
    recipe = _recipe(missed, {"max_metric_drop": {"class_accuracy": 0.0}, "fallback": False, "min_cosine": None},
                     ["x86-cpu-onnxruntime"], eval_near_ties=True)
    recipe["stages"] = ["export", "quantize"]  # the export is the fixture's, from the cache
    out = workdir / "missed"
    with pytest.raises(StageError, match="metric 'class_accuracy' is .* beyond quantize.max_metric_drop 0"):
        api.run(write_recipe(workdir / "missed.yaml", recipe), out, cache_dir=workdir / "cache")
    assert not out.exists()


def test_openvino_accuracy_control_holds_the_control_metric(bundle):
    manifest = json.loads((bundle / "manifest.json").read_text())
    int8 = next(a for a in manifest["artifacts"] if a["precision"] == "int8" and a["backend"] == "openvino")
    control = int8["meta"]["accuracy_control"]
    assert "metric 'class_accuracy'" in control["metric"] and control["accuracy"]["fp32"] == pytest.approx(100.0)
    assert control["within_budget"]


def test_a_metric_setting_without_a_metric_is_a_config_error(tmp_path):
    recipe = _recipe(tmp_path, {"max_metric_drop": {"class_accuracy": 1.0}}, ["x86-cpu-onnxruntime"])
    del recipe["metric"]
    from edge_pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="need a recipe 'metric'"):
        api.run(write_recipe(tmp_path / "r.yaml", recipe), tmp_path / "bundle", cache_dir=tmp_path / "cache")


