import json

import pytest

from edge_pipeline.config.base import StrictModel
from edge_pipeline.config.loader import load_config
from edge_pipeline.config.recipes import available_targets, load_recipe, load_target
from edge_pipeline.config.schema import (
    BenchmarkConfig,
    ExportConfig,
    QuantizeConfig,
    Recipe,
    TargetProfile,
    effective_stage_config,
)
from edge_pipeline.config.training import TrainConfig
from edge_pipeline.errors import ConfigError
from tests.conftest import tiny_recipe_dict, write_recipe


def test_embedded_default_recipe_loads():
    recipe = load_recipe()
    assert recipe.metadata.name == "digits-resnet"
    assert recipe.data.calibration.path.is_absolute() and recipe.data.calibration.path.is_file()


def test_unknown_key_names_file_and_key(tmp_path, tiny_data):
    data = tiny_recipe_dict(tiny_data)
    data["quantize"]["methd"] = "entropy"
    path = write_recipe(tmp_path / "typo.yaml", data)
    with pytest.raises(ConfigError) as err:
        load_recipe(path)
    assert str(path) in str(err.value) and "quantize.methd" in str(err.value)


def test_overrides_apply_and_are_validated(tiny_recipe):
    recipe = load_recipe(tiny_recipe, ["quantize.method=entropy", "benchmark.threads=[1,2]"])
    assert recipe.quantize.method == "entropy" and recipe.benchmark.threads == [1, 2]
    with pytest.raises(ConfigError, match="quantize.method"):
        load_recipe(tiny_recipe, ["quantize.method=fastest"])
    with pytest.raises(ConfigError, match="key.path=value"):
        load_recipe(tiny_recipe, ["quantize.method"])


def test_recipe_overrides_only_the_keys_it_sets():
    target = QuantizeConfig(method="percentile", samples=64)
    recipe = QuantizeConfig(samples=16)
    merged = effective_stage_config(recipe, target)
    assert merged.method == "percentile" and merged.samples == 16


@pytest.mark.parametrize("name", sorted(available_targets()))
def test_every_target_profile_validates(name):
    profile = load_target(name)
    assert profile.metadata.name == name


def test_unknown_target_lists_known_ones():
    with pytest.raises(ConfigError, match="x86-cpu-onnxruntime"):
        load_target("no-such-target")


@pytest.mark.parametrize(
    "config",
    [ExportConfig(), QuantizeConfig(method="entropy"), BenchmarkConfig(threads=[1, 2]), TrainConfig(epochs=3)],
)
def test_config_round_trips_through_json(config):
    assert type(config).model_validate(json.loads(config.model_dump_json())) == config


def test_recipe_and_target_round_trip(tiny_recipe):
    recipe = load_recipe(tiny_recipe)
    assert Recipe.model_validate(json.loads(recipe.model_dump_json())) == recipe
    target = load_target("x86-cpu-onnxruntime")
    assert TargetProfile.model_validate(json.loads(target.model_dump_json())) == target


def test_model_needs_exactly_one_source(tmp_path, tiny_data):
    data = tiny_recipe_dict(tiny_data, model={"factory": "a:b", "program": "m.pt2"})
    with pytest.raises(ConfigError, match="exactly one"):
        load_config(Recipe, write_recipe(tmp_path / "r.yaml", data))


def all_config_models(root=Recipe, seen=None):
    seen = set() if seen is None else seen
    if root in seen:
        return seen
    seen.add(root)
    for field in root.model_fields.values():
        for candidate in (field.annotation, *getattr(field.annotation, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, StrictModel):
                all_config_models(candidate, seen)
    return seen


def test_every_field_has_a_description():
    for model in all_config_models(Recipe) | all_config_models(TargetProfile) | {TrainConfig}:
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} lacks a description"
