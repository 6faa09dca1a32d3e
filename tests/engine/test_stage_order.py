"""A recipe's stage list is checked against the stage descriptors before any work starts."""

from __future__ import annotations

import pytest

from edge_pipeline import api
from edge_pipeline.engine.order import plan_stages
from edge_pipeline.errors import ConfigError
from tests.conftest import tiny_recipe_dict, write_recipe


@pytest.mark.parametrize(("stages", "message"), [
    ([], "is empty"),
    (["quantize", "benchmark", "export"],
     "'export' cannot come after 'quantize'; a valid order: [export, quantize, benchmark]"),
    (["export", "export", "quantize"], "lists export more than once"),
    (["benchmark"], "'benchmark' needs target-artifact, which quantize makes"),
    (["export", "distill"], "'distill' cannot come after 'export'"),
    (["export", "package", "quantize"], "'quantize' cannot come after 'package'"),
    (["compile"], "unknown stage 'compile'"),
])
def test_bad_stage_lists_fail_with_a_valid_order(stages, message):
    with pytest.raises(ConfigError) as err:
        plan_stages(stages)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("stages", [
    ["export"], ["export", "quantize", "benchmark"], ["distill", "prune", "export", "quantize", "benchmark"],
    ["prune", "distill", "export"], ["export", "quantize", "package"],
])
def test_valid_lists_end_with_package(stages):
    assert [d.name for d in plan_stages(stages)] == [*[s for s in stages if s != "package"], "package"]


def test_a_bad_list_fails_before_any_work(tmp_path, tiny_data):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe_dict(tiny_data, stages=["quantize", "benchmark", "export"]))
    with pytest.raises(ConfigError, match="valid order"):
        api.run(recipe, tmp_path / "bundle", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() and not (tmp_path / "bundle").exists()
