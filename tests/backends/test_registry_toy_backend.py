"""A new backend = one subpackage + one registry row: the tests' numpy reference backend goes through
quantize, benchmark and the bundle with no edit to edge_pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_pipeline import api
from edge_pipeline.backends.registry import BACKENDS, register_backend
from edge_pipeline.errors import ConfigError
from tests.backends.toy.backend import DESCRIPTOR
from tests.conftest import tiny_recipe_dict, write_recipe

TARGET = Path(__file__).parent / "toy" / "toy-numpy.yaml"


@pytest.fixture
def toy_backend():
    register_backend(DESCRIPTOR)
    yield DESCRIPTOR
    BACKENDS.pop(DESCRIPTOR.name, None)


def test_pipeline_quantizes_and_benchmarks_through_one_registry_row(toy_backend, tmp_path, tiny_data):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe_dict(tiny_data, targets=[str(TARGET)]))
    bundle = api.run(recipe, tmp_path / "bundle", cache_dir=tmp_path / "cache")
    rows = json.loads((bundle / "report.json").read_text())["results"]
    by_precision = {r["precision"]: r for r in rows if r["backend"] == "toy-numpy"}
    assert set(by_precision) == {"fp32", "int8"}
    assert by_precision["fp32"]["reference_variant"] and by_precision["int8"]["top1_agreement"] is not None
    assert by_precision["int8"]["speedup_vs_baseline"] is not None
    manifest = json.loads((bundle / "manifest.json").read_text())
    folders = [a for a in manifest["artifacts"] if a["kind"] == "numpy-reference"]
    assert len(folders) == 2 and all((bundle / a["path"] / "model.onnx").is_file() for a in folders)
    # The device-side benchmark finds the folder artifact by its registry row too.
    timed = api.benchmark([bundle / folders[0]["path"]], iterations=3, warmup=1)
    assert timed["results"][0]["backend"] == "toy-numpy"


def test_toy_target_options_are_checked_by_its_options_model(toy_backend, tmp_path, tiny_data):
    bad = tmp_path / "toy-numpy.yaml"
    bad.write_text(TARGET.read_text().replace("weight_bits: 8", "weight_bits: 99"))
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe_dict(tiny_data, targets=[str(bad)]))
    with pytest.raises(ConfigError, match="weight_bits"):
        api.run(recipe, tmp_path / "bundle", cache_dir=tmp_path / "cache")
