"""`config show` prints the effective recipe and targets; `config schema` the JSON Schema, whose
published copies in docs/schema/ must match what the models generate."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from edge_pipeline.cli.main import main
from edge_pipeline.config.json_schema import SCHEMA_FILES, schema_text, schemas

PUBLISHED = Path(__file__).resolve().parents[2] / "docs" / "schema"


def test_config_show_prints_the_merged_recipe_and_targets(tiny_recipe, capsys):
    assert main(["config", "show", str(tiny_recipe), "--set", "quantize.method=entropy"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    recipe, target = shown["recipe"], shown["targets"]["x86-cpu-onnxruntime"]
    assert recipe["quantize"]["method"] == "entropy" and recipe["quantize"]["per_channel"] is True  # defaults filled
    assert recipe["target_options"] == {}
    assert target["quantize"]["method"] == "entropy"  # the recipe's key over the profile's minmax
    assert target["quantize"]["activation_type"] == "uint8"  # the profile's, which the recipe left alone
    assert target["benchmark"]["warmup"] == 2 and target["benchmark"]["rounds"] == 1  # the recipe's over 3
    assert Path(target["file"]).name == "x86-cpu-onnxruntime.yaml"


def test_config_show_fills_backend_option_defaults(tiny_recipe, capsys):
    overrides = ["targets=[x86-cpu-openvino]", "target_options.x86-cpu-openvino.model_type=transformer"]
    assert main(["config", "show", str(tiny_recipe), *[arg for item in overrides for arg in ("--set", item)]]) == 0
    options = yaml.safe_load(capsys.readouterr().out)["targets"]["x86-cpu-openvino"]["options"]
    assert options["model_type"] == "transformer" and options["num_streams"] is None


def test_config_schema_writes_both_files(tmp_path, capsys):
    assert main(["config", "schema", "--out", str(tmp_path)]) == 0
    written = capsys.readouterr().out.split()
    assert sorted(Path(p).name for p in written) == sorted(SCHEMA_FILES.values())
    target = json.loads((tmp_path / SCHEMA_FILES["target"]).read_text())
    assert "extends" in target["properties"] and "options" in target["properties"]


def test_config_schema_prints_one_schema(capsys):
    assert main(["config", "schema", "recipe"]) == 0
    recipe = json.loads(capsys.readouterr().out)
    assert {"target_options", "quantize", "targets"} <= set(recipe["properties"])


def test_published_schemas_are_current():
    for kind, schema in schemas().items():
        published = PUBLISHED / SCHEMA_FILES[kind]
        assert published.is_file() and published.read_text() == schema_text(schema), (
            f"{published} is stale; regenerate with: edge-pipeline config schema --out docs/schema")


def test_config_show_finds_targets_in_targets_dir(tmp_path, tiny_recipe, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "my-openvino.yaml").write_text("extends: x86-cpu-openvino\noptions: {preset: mixed}\n")
    overrides = ["targets=[my-openvino]", "target_options.my-openvino.model_type=cnn"]
    argv = ["config", "show", str(tiny_recipe), "--targets-dir", str(folder)]
    assert main([*argv, *[arg for item in overrides for arg in ("--set", item)]]) == 0
    target = yaml.safe_load(capsys.readouterr().out)["targets"]["my-openvino"]
    assert target["backend"] == "openvino" and target["file"] == str(folder / "my-openvino.yaml")
    assert target["options"]["preset"] == "mixed" and target["options"]["model_type"] == "cnn"
    assert target["options"]["performance_hint"] == "latency"  # the built-in's
