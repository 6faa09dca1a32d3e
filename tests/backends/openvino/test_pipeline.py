"""The OpenVINO target through the whole pipeline: IRs in the bundle, one row per explicit precision."""

from __future__ import annotations

import json

import pytest

from edge_pipeline import api
from edge_pipeline.backends.registry import probe
from edge_pipeline.errors import DataError
from tests.conftest import tiny_recipe_dict, write_recipe

pytestmark = [
    pytest.mark.openvino,
    pytest.mark.slow,
    pytest.mark.skipif(not probe("openvino")[0], reason="openvino/nncf not installed"),
]


def test_openvino_target_writes_f32_bf16_and_int8_rows(tmp_path, tiny_data):
    from edge_pipeline.backends.openvino.runner import cpu_supports_bf16

    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe_dict(tiny_data, targets=["x86-cpu-openvino"]))
    bundle = api.run(recipe, out=tmp_path / "bundle")
    rows = json.loads((bundle / "report.json").read_text())["results"]
    found = {(r["precision"], r["runtime_variant"]) for r in rows if r["target"] == "x86-cpu-openvino"}
    expected = {("fp32", "f32"), ("int8", "f32")} | ({("fp32", "bf16")} if cpu_supports_bf16() else set())
    assert found == expected
    manifest = json.loads((bundle / "manifest.json").read_text())
    irs = [a for a in manifest["artifacts"] if a["kind"] == "openvino-ir"]
    assert {a["precision"] for a in irs} == {"fp32", "int8"}
    for ir in irs:
        xml = bundle / ir["path"]
        assert xml.is_file() and xml.with_suffix(".bin").is_file()
    reference = next(r for r in rows if (r["precision"], r["runtime_variant"]) == ("fp32", "f32"))
    assert reference["top1_agreement"] == 100.0
    for row in rows:  # each row carries the precision the plugin compiled, read back from it
        layers = set(row["runtime_info"]["compute_layer_precisions"])
        assert row["runtime_info"]["inference_precision"] == row["runtime_variant"]
        # A mixed INT8 artifact (latency-aware placement's, made where layers were slower in INT8 on
        # this CPU) runs those layers in float by design.
        mixed = {row["runtime_variant"]} if row["artifact_id"].endswith("-mixed") else set()
        assert layers <= ({"u8", "i8"} | mixed if row["precision"] == "int8" else {row["runtime_variant"]})


def test_max_drop_without_eval_split_fails_before_any_stage(tmp_path, tiny_data):
    data = {"calibration": {"path": str(tiny_data["calibration"])}}
    recipe_dict = tiny_recipe_dict(tiny_data, targets=["x86-cpu-openvino"], data=data, stages=["export", "quantize"])
    recipe_dict["quantize"]["max_drop"] = 0.5
    with pytest.raises(DataError, match="quantize.max_drop=0.5 needs a labelled evaluation split"):
        api.run(write_recipe(tmp_path / "r.yaml", recipe_dict), out=tmp_path / "bundle")
