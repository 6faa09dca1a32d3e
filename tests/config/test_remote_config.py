"""The recipe's benchmark.remote: where its devices file is read from, and where it may not be set."""

from __future__ import annotations

import json

import pytest
import yaml

from edge_pipeline.config.recipes import load_recipe, load_target
from edge_pipeline.config.schema import BenchmarkConfig, RemoteBenchmark
from edge_pipeline.errors import ConfigError
from tests.conftest import tiny_recipe_dict, write_recipe

REMOTE = {"devices": ["jetson"], "devices_file": "boards/devices.yaml"}


def test_devices_file_is_read_from_the_recipe_folder(tmp_path, tiny_data):
    stages = ["export", "quantize", "benchmark", "package"]
    path = write_recipe(tmp_path / "recipe.yaml", tiny_recipe_dict(tiny_data, stages=stages,
                                                                   benchmark={"remote": REMOTE}))
    remote = load_recipe(path).benchmark.remote
    assert remote.devices == ["jetson"] and remote.devices_file == (tmp_path / "boards" / "devices.yaml").resolve()


def test_device_rows_need_a_bundle_to_go_into(tmp_path, tiny_data):
    path = write_recipe(tmp_path / "recipe.yaml", tiny_recipe_dict(tiny_data, benchmark={"remote": REMOTE}))
    with pytest.raises(ConfigError, match="list both 'benchmark' and 'package' in stages"):
        load_recipe(path)


def test_a_target_profile_names_no_devices(tmp_path):
    path = tmp_path / "my-board.yaml"
    path.write_text(yaml.safe_dump({"metadata": {"name": "my-board"}, "backend": "onnxruntime",
                                    "benchmark": {"remote": REMOTE}}))
    with pytest.raises(ConfigError, match="benchmark.remote belongs in the recipe"):
        load_target(str(path))


def test_remote_round_trips_and_needs_a_device():
    config = BenchmarkConfig(remote=RemoteBenchmark(devices=["pi"]))
    assert BenchmarkConfig.model_validate(json.loads(config.model_dump_json())) == config
    with pytest.raises(ValueError, match="at least 1 item"):
        RemoteBenchmark(devices=[])
