"""The ExecuTorch target through export -> quantize -> benchmark: .pte files lowered from the
model's torch.export program, run in ExecuTorch's runtime, each output held to cosine >= 0.99."""

from __future__ import annotations

import json

import pytest

from edge_pipeline import api
from edge_pipeline.backends.registry import installed
from edge_pipeline.testing import kit
from tests.conftest import tiny_recipe_dict, write_recipe

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not installed("executorch"), reason="executorch not installed (pip install '.[executorch]')"),
]
TARGET = "x86-cpu-executorch"


def _run(tmp_path, recipe: dict, benchmark: bool = True) -> tuple[dict, dict]:
    """The recipe on the ExecuTorch target; without ``benchmark`` the bundle holds the checked .pte
    files and no rows (lowering dominates these tests: the tiny CNN's run covers the timing)."""
    stages = ["export", "quantize", "benchmark"] if benchmark else ["export", "quantize"]
    recipe = {**recipe, "targets": [TARGET], "stages": stages, "benchmark": {"warmup": 1, "iterations": 3, "rounds": 1}}
    recipe["quantize"] = {**recipe.get("quantize", {}), "samples": 4, "fidelity_samples": 16, "placement": "off"}
    bundle = api.run(write_recipe(tmp_path / "r.yaml", recipe), out=tmp_path / "bundle")
    report = json.loads((bundle / "report.json").read_text())
    manifest = json.loads((bundle / "manifest.json").read_text())
    return report, manifest


def _check(report: dict, manifest: dict, outputs: int, timed: bool = True) -> list[dict]:
    rows = [r for r in report["results"] if r["target"] == TARGET]
    assert {r["precision"] for r in rows} == ({"fp32", "int8"} if timed else set())
    ptes = [a for a in manifest["artifacts"] if a["kind"] == "executorch-pte"]
    assert {a["precision"] for a in ptes} == {"fp32", "int8"}
    for artifact in ptes:
        fidelity = artifact["meta"]["fidelity_check"]
        assert len(fidelity) == outputs
        assert all(figures["cosine"] >= 0.99 for figures in fidelity.values()), fidelity
        assert artifact["meta"]["delegation"]["delegated_subgraphs"] >= 1
    for row in rows:
        assert row["latency_ms"]["p50"] > 0
        assert row["runtime_info"]["threadpool_threads"] >= 1
    return ptes


def test_tiny_cnn(tmp_path, tiny_data):
    report, manifest = _run(tmp_path, tiny_recipe_dict(tiny_data))
    ptes = _check(report, manifest, outputs=1)
    int8 = next(a for a in ptes if a["precision"] == "int8")
    executed = int8["meta"]["executed"]
    assert executed["int8_layers"] >= 1 and executed["kernels"].get("xnnpack", 0) >= 1


def test_multi_input_encoder(tmp_path):
    recipe = kit.kit_recipe("encoder", tmp_path, samples=24)
    recipe["model"]["kwargs"] = {"layers": 1}  # int64 ids + mask through one block: lowering time is per block
    report, manifest = _run(tmp_path, recipe, benchmark=False)
    _check(report, manifest, outputs=1, timed=False)
