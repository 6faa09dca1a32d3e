"""End to end on a tiny model: bundle layout, report schema, manifest hashes, warm re-run."""

import json

import pytest

from edge_pipeline import api
from edge_pipeline.artifacts.hashing import sha256_file

REQUIRED_RESULT_KEYS = {
    "artifact", "backend", "precision", "target", "batch_size", "threads", "latency_ms",
    "throughput_per_s", "accuracy", "top1_agreement", "size_bytes", "params", "macs",
}


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    import numpy as np

    from edge_pipeline.testing.tiny import labelled_arrays
    from tests.conftest import tiny_recipe_dict, write_recipe

    root = tmp_path_factory.mktemp("tiny-run")
    data = {}
    for role, seed in (("calibration", 1), ("eval", 2)):
        x, y = labelled_arrays(48, seed=seed)
        data[role] = root / f"{role}.npz"
        np.savez(data[role], x=x, y=y)
    recipe = write_recipe(root / "recipe.yaml", tiny_recipe_dict(data))
    cache = root / "cache"
    first = api.run(recipe, root / "bundle", cache_dir=cache)
    first_manifest = json.loads((first / "manifest.json").read_text())
    second = api.run(recipe, root / "bundle", cache_dir=cache)
    return first_manifest, second


def test_bundle_has_fp32_and_int8_artifacts(tiny_bundle):
    _, bundle = tiny_bundle
    manifest = json.loads((bundle / "manifest.json").read_text())
    precisions = {(a["model"], a["precision"]) for a in manifest["artifacts"]}
    assert {("teacher", "fp32"), ("teacher", "int8")} <= precisions
    for artifact in manifest["artifacts"]:
        path = bundle / artifact["path"]
        assert path.is_file() and sha256_file(path) == artifact["sha256"]
        assert artifact["stage"] in ("export", "quantize")
    int8 = next(a for a in manifest["artifacts"] if a["precision"] == "int8")
    assert int8["parent"] == "teacher/onnx/fp32" and int8["config"]["method"] == "minmax"


def test_manifest_records_versions_host_and_timings(tiny_bundle):
    _, bundle = tiny_bundle
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["schema_version"] == 1
    assert {"torch", "onnx", "onnxruntime"} <= set(manifest["tool_versions"])
    assert manifest["host"]["cpu_model"] and manifest["stage_timings_s"].keys() >= {"export", "quantize", "benchmark"}
    for name, digest in manifest["files"].items():
        assert sha256_file(bundle / name) == digest


def test_report_rows_have_the_promised_fields(tiny_bundle):
    _, bundle = tiny_bundle
    report = json.loads((bundle / "report.json").read_text())
    assert report["results"]
    for row in report["results"]:
        assert REQUIRED_RESULT_KEYS <= set(row)
        assert set(row["latency_ms"]) >= {"p50", "p90", "p99", "mean"}
        assert (bundle / row["artifact"]).is_file()
    fp32 = next(r for r in report["results"] if r["precision"] == "fp32")
    assert fp32["top1_agreement"] == 100.0 and fp32["speedup_vs_baseline"] == 1.0
    markdown = (bundle / "report.md").read_text()
    assert "| x86-cpu-onnxruntime | teacher | int8 |" in markdown


def test_warm_rerun_reuses_every_step(tiny_bundle):
    first_manifest, bundle = tiny_bundle
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert not any(step["cached"] for step in first_manifest["steps"])
    assert manifest["steps"] and all(step["cached"] for step in manifest["steps"])
    assert [a["sha256"] for a in manifest["artifacts"]] == [a["sha256"] for a in first_manifest["artifacts"]]


def test_config_change_invalidates_only_downstream(tmp_path, tiny_recipe):
    cache = tmp_path / "cache"
    api.run(tiny_recipe, tmp_path / "a", cache_dir=cache)
    bundle = api.run(tiny_recipe, tmp_path / "b", overrides=["quantize.method=percentile"], cache_dir=cache)
    steps = {s["stage"] + ":" + s["step"]: s["cached"]
             for s in json.loads((bundle / "manifest.json").read_text())["steps"]}
    assert steps["export:teacher"] is True
    assert steps["quantize:teacher/x86-cpu-onnxruntime/int8"] is False


def test_no_cache_reruns_every_step(tmp_path, tiny_recipe):
    cache = tmp_path / "cache"
    api.run(tiny_recipe, tmp_path / "a", cache_dir=cache)
    bundle = api.run(tiny_recipe, tmp_path / "b", cache_dir=cache, use_cache=False)
    steps = json.loads((bundle / "manifest.json").read_text())["steps"]
    assert steps and not any(step["cached"] for step in steps)
