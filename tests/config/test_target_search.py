"""User target folders (--targets-dir, $EDGE_PIPELINE_TARGETS), `extends:`, and a recipe's target_options."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from edge_pipeline.cli.main import main
from edge_pipeline.config.locations import TARGETS_ENV
from edge_pipeline.config.recipes import available_targets, is_builtin_target, load_recipe, load_target
from edge_pipeline.engine.run import resolve_targets
from edge_pipeline.errors import ConfigError
from edge_pipeline.standalone import _quantize_overrides
from tests.conftest import tiny_recipe_dict, write_recipe


def write_target(folder, name: str, data: dict):
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def user_targets(tmp_path, monkeypatch):
    folder = tmp_path / "my-targets"
    folder.mkdir()
    monkeypatch.setenv(TARGETS_ENV, str(folder))
    return folder


def test_builtin_targets_ship_inside_the_package():
    paths = available_targets()
    assert {"x86-cpu-onnxruntime", "x86-cpu-openvino", "jetson-orin-tensorrt"} <= set(paths)
    assert all(is_builtin_target(path) and "edge_pipeline" in path.parts for path in paths.values())


def test_user_target_shadows_the_builtin_it_extends(user_targets):
    path = write_target(user_targets, "x86-cpu-onnxruntime",
                        {"extends": "x86-cpu-onnxruntime", "benchmark": {"threads": [1], "rounds": 1}})
    assert available_targets()["x86-cpu-onnxruntime"] == path
    target = load_target("x86-cpu-onnxruntime")
    assert target.benchmark.threads == [1] and target.benchmark.rounds == 1
    assert target.benchmark.warmup == 50 and target.quantize.activation_type == "uint8"  # the built-in's
    assert target.metadata.name == "x86-cpu-onnxruntime" and "VNNI" in target.metadata.description


def test_extends_chains_through_user_targets_and_merges_options(user_targets):
    write_target(user_targets, "ov-base", {"extends": "x86-cpu-openvino", "options": {"model_type": "transformer"}})
    write_target(user_targets, "ov-throughput", {"extends": "ov-base", "options": {"performance_hint": "throughput"}})
    target = load_target("ov-throughput")
    assert target.metadata.name == "ov-throughput" and target.backend == "openvino"
    assert target.options["model_type"] == "transformer" and target.options["performance_hint"] == "throughput"
    assert target.options["preset"] == "performance"  # from the built-in, two levels up


def test_extends_cycle_is_one_line(user_targets):
    write_target(user_targets, "a", {"extends": "b"})
    write_target(user_targets, "b", {"extends": "a"})
    with pytest.raises(ConfigError, match=r"cycle \(a -> b -> a\)") as err:
        load_target("a")
    assert "\n" not in str(err.value)


def test_extends_itself_without_a_builtin_below_is_a_cycle(user_targets):
    write_target(user_targets, "lonely", {"extends": "lonely", "backend": "onnxruntime"})
    with pytest.raises(ConfigError, match="cycle"):
        load_target("lonely")


def test_unknown_parent_names_the_known_ones(user_targets):
    write_target(user_targets, "mine", {"extends": "x86-cpu-onnxruntme"})
    with pytest.raises(ConfigError, match="'x86-cpu-onnxruntme', which is not a known target.*x86-cpu-openvino"):
        load_target("mine")


def test_extends_must_be_a_name(user_targets):
    write_target(user_targets, "mine", {"extends": ["x86-cpu-onnxruntime"]})
    with pytest.raises(ConfigError, match="'extends' must name a target profile"):
        load_target("mine")


def test_missing_folder_in_the_environment_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv(TARGETS_ENV, os.pathsep.join([str(tmp_path), str(tmp_path / "nope")]))
    with pytest.raises(ConfigError, match=f"{TARGETS_ENV} names .*nope, which is not a folder"):
        available_targets()


def test_targets_dir_flag_lists_user_targets_for_that_command_only(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(TARGETS_ENV, raising=False)
    write_target(tmp_path, "my-box", {"extends": "x86-cpu-onnxruntime", "metadata": {"description": "Mine."}})
    assert main(["targets", "--json", "--targets-dir", str(tmp_path)]) == 0
    listed = {t["name"]: t for t in json.loads(capsys.readouterr().out)}
    assert listed["my-box"]["builtin"] is False and listed["my-box"]["backend"] == "onnxruntime"
    assert listed["x86-cpu-onnxruntime"]["builtin"] is True
    assert TARGETS_ENV not in os.environ
    assert "my-box" not in available_targets()


def test_bad_targets_dir_flag_names_the_flag(tmp_path, capsys):
    assert main(["targets", "--targets-dir", str(tmp_path / "absent")]) == ConfigError.exit_code
    assert "--targets-dir" in capsys.readouterr().err


def test_recipe_target_options_reach_the_backend_options(tmp_path, tiny_data):
    recipe_path = write_recipe(tmp_path / "r.yaml", tiny_recipe_dict(
        tiny_data, targets=["x86-cpu-openvino"], target_options={"x86-cpu-openvino": {"model_type": "transformer"}}))
    target = resolve_targets(load_recipe(recipe_path))["x86-cpu-openvino"]
    assert target.options["model_type"] == "transformer" and target.options["preset"] == "performance"
    via_set = load_recipe(write_recipe(tmp_path / "s.yaml", tiny_recipe_dict(tiny_data, targets=["x86-cpu-openvino"])),
                          ["target_options.x86-cpu-openvino.performance_hint=throughput"])
    assert resolve_targets(via_set)["x86-cpu-openvino"].options["performance_hint"] == "throughput"


def test_unknown_target_option_is_an_error_naming_the_recipe_key(tmp_path, tiny_data):
    recipe = load_recipe(write_recipe(tmp_path / "r.yaml", tiny_recipe_dict(
        tiny_data, targets=["x86-cpu-openvino"], target_options={"x86-cpu-openvino": {"modle_type": "cnn"}})))
    with pytest.raises(ConfigError, match="recipe target_options.x86-cpu-openvino.*modle_type.*model_type"):
        resolve_targets(recipe)


def test_target_options_for_an_unlisted_target_is_an_error(tmp_path, tiny_data):
    path = write_recipe(tmp_path / "r.yaml", tiny_recipe_dict(tiny_data, target_options={"x86-cpu-openvino": {}}))
    with pytest.raises(ConfigError, match="target_options names \\['x86-cpu-openvino'\\], which are not in 'targets'"):
        load_recipe(path)


def test_quantize_command_sets_backend_options_and_refuses_other_sections():
    target = load_target("x86-cpu-openvino")
    config, changed = _quantize_overrides(target, ["options.model_type=transformer", "quantize.method=entropy"])
    assert config.method == "entropy" and changed.options["model_type"] == "transformer"
    with pytest.raises(ConfigError, match="--set options.*modle_type"):
        _quantize_overrides(target, ["options.modle_type=cnn"])
    with pytest.raises(ConfigError, match="--set export...: this command takes only quantize.KEY and options.KEY"):
        _quantize_overrides(target, ["export.opset=18"])


def test_backend_options_at_the_recipe_top_level_point_at_target_options(tiny_recipe):
    with pytest.raises(ConfigError, match="--set 'options.model_type=cnn': unknown key 'options'; .*target_options"):
        load_recipe(tiny_recipe, ["options.model_type=cnn"])
