"""distill and prune train on data the recipe names: a recipe that lists them without it fails when it
loads (before any training), naming the key; model.name names the recipe's own model."""

import pytest

from edge_pipeline.config.recipes import load_recipe
from edge_pipeline.config.schema import ModelSpec
from edge_pipeline.errors import ConfigError
from tests.conftest import tiny_recipe_dict, write_recipe

TRANSFER = {"provider": "edge_pipeline.testing.tiny:labelled_arrays"}


@pytest.mark.parametrize(("changes", "key"), [
    ({"stages": ["distill", "export"]}, "distill.data"),
    ({"stages": ["distill", "export"], "distill": {"train": {"epochs": 1}}}, "distill.data"),
    ({"stages": ["distill", "export"], "distill": {"data": {"use_labels": False}}}, "distill.data"),
    ({"stages": ["prune", "export"]}, "prune.data"),
    ({"stages": ["distill", "prune", "export"], "distill": {"data": TRANSFER}}, "prune.data"),
])
def test_shrink_stage_without_data_fails_at_load(tmp_path, tiny_data, changes, key):
    path = write_recipe(tmp_path / "recipe.yaml", tiny_recipe_dict(tiny_data, **changes))
    with pytest.raises(ConfigError) as err:
        load_recipe(path)
    message = str(err.value)
    assert f"{key} is not set" in message and "provider" in message and "\n" not in message


def test_data_is_needed_only_by_listed_stages(tmp_path, tiny_data):
    recipe = tiny_recipe_dict(tiny_data, prune={"importance": "l1"})  # a section of a stage not run
    assert load_recipe(write_recipe(tmp_path / "recipe.yaml", recipe)).prune.importance == "l1"
    listed = tiny_recipe_dict(tiny_data, stages=["distill", "prune", "export"], distill={"data": TRANSFER},
                              prune={"data": {"dataset": {"path": str(tiny_data["calibration"])}}})
    assert load_recipe(write_recipe(tmp_path / "listed.yaml", listed)).distill.data.provider == TRANSFER["provider"]


def test_embedded_default_names_its_digits_data():
    recipe = load_recipe()
    assert {"distill", "prune"} <= set(recipe.stages)
    digits = "edge_pipeline.zoo.digits:digits_train_arrays"  # the torch-free module: warm re-runs replay
    assert recipe.distill.data.provider == recipe.prune.data.provider == digits


def test_model_name_defaults_to_teacher_and_is_checked(tmp_path, tiny_data):
    assert ModelSpec(factory="m:f").lineage == "teacher"
    assert ModelSpec(factory="m:f", name="resnet-18").lineage == "resnet-18"
    model = {"factory": "edge_pipeline.testing.tiny:tiny_residual_net", "name": "../escape"}
    with pytest.raises(ConfigError, match="model.name"):
        load_recipe(write_recipe(tmp_path / "bad.yaml", tiny_recipe_dict(tiny_data, model=model)))
    clash = tiny_recipe_dict(tiny_data, model={**model, "name": "student"}, stages=["distill", "export"],
                             distill={"data": TRANSFER})
    with pytest.raises(ConfigError, match="distill.model_name"):
        load_recipe(write_recipe(tmp_path / "clash.yaml", clash))
