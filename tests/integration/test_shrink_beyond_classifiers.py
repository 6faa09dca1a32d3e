"""Distill -> prune -> export on models that are not one-input classifiers: the kit's BERT-style
encoder (int64 ids + mask -> an embedding) and its two-output detector (image -> logits, boxes).

Each output is distilled by its own term of the loss table, the pruned models keep every output's
name and shape (the encoder its embedding width, the detector both heads), and the exported
students take the recipe's inputs by name."""

from __future__ import annotations

import json

import onnx
import pytest
import yaml

from edge_pipeline import api
from edge_pipeline.errors import ConfigError
from edge_pipeline.testing.kit import kit_recipe

pytestmark = pytest.mark.slow

TRAIN = {"epochs": 1, "batch_size": 16, "optimizer": "adamw", "lr": 0.005, "threads": 1}


def shrink_recipe(name: str, tmp_path, distill: dict, prune: dict) -> dict:
    recipe = kit_recipe(name, tmp_path, samples=32)
    data = {"dataset": {"path": str(tmp_path / "calibration.npz")}}
    recipe.update(stages=["distill", "prune", "export"], targets=["x86-cpu-onnxruntime"],
                  distill={"data": data, "train": TRAIN, **distill},
                  prune={"data": data, "round_to": 4, "recovery": {"train": TRAIN}, **prune})
    recipe["export"] = {"check_samples": 8}
    return recipe


def run(recipe: dict, tmp_path) -> tuple[dict[str, dict], object]:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    bundle = api.run(path, tmp_path / "bundle", cache_dir=tmp_path / "cache")
    manifest = json.loads((bundle / "manifest.json").read_text())
    return {a["id"]: a for a in manifest["artifacts"]}, bundle


def graph_io(bundle, artifact: dict) -> tuple[list[str], dict[str, list]]:
    graph = onnx.load(str(bundle / artifact["path"])).graph
    shapes = {o.name: [d.dim_value or d.dim_param for d in o.type.tensor_type.shape.dim] for o in graph.output}
    return [i.name for i in graph.input], shapes


def test_encoder_distils_by_cosine_and_loses_heads_and_mlp_channels(tmp_path):
    student = {"source": "factory", "factory": "edge_pipeline.testing.kit:tiny_encoder",
               "kwargs": {"dim": 32, "heads": 2, "layers": 1}}
    distill = {"student": student, "output_losses": {"embedding": {"kind": "cosine"}}}
    recipe = shrink_recipe("encoder", tmp_path, distill,
                           {"target": {"kind": "ratio", "ratio": 0.5}, "attention": "heads",
                            "recovery": {"train": TRAIN, "output_losses": {"embedding": {"kind": "mse"}}}})
    artifacts, bundle = run(recipe, tmp_path)
    distilled, pruned = artifacts["student/torch/fp32"]["meta"], artifacts["student-pruned/torch/fp32"]["meta"]
    assert distilled["output_losses"]["outputs"] == {"embedding": {"kind": "cosine", "weight": 1.0,
                                                                   "hard_labels": False}}
    assert set(distilled["final_output_losses"]) == {"embedding"} and distilled["accuracy_torch"] is None
    assert distilled["teacher"]["attention_heads"] == {"blocks.0": 2, "blocks.1": 2}
    # pruning: one of the two heads and half the MLP went; the embedding (residual stream) stayed 32 wide
    assert pruned["attention_heads"] == {"blocks.0": 1}
    assert pruned["params"] < distilled["params"] and pruned["macs_torch"] < distilled["macs_torch"]
    assert pruned["outputs"] == distilled["outputs"] == {"embedding": [32]}
    assert pruned["kept_layers"] == ["blocks.0.proj", "blocks.0.mlp.2"]
    assert pruned["recovery_losses"]["outputs"]["embedding"]["kind"] == "mse"
    for model in ("teacher", "student", "student-pruned"):
        inputs, outputs = graph_io(bundle, artifacts[f"{model}/onnx/fp32"])
        assert inputs == ["input_ids", "attention_mask"] and list(outputs) == ["embedding"], model
        assert outputs["embedding"][1] == 32, model


def test_detector_distils_each_head_by_its_own_loss_and_keeps_both_heads(tmp_path):
    losses = {"logits": {"kind": "kl", "temperature": 2.0}, "boxes": {"kind": "mse", "weight": 0.5}}
    recipe = shrink_recipe("detector", tmp_path, {"student": {"round_to": 4}, "output_losses": losses},
                           {"target": {"kind": "ratio", "ratio": 0.5}, "importance": "taylor"})
    artifacts, bundle = run(recipe, tmp_path)
    distilled, pruned = artifacts["student/torch/fp32"]["meta"], artifacts["student-pruned/torch/fp32"]["meta"]
    assert distilled["output_losses"]["outputs"] == {
        "logits": {"kind": "kl", "weight": 1.0, "hard_labels": True, "temperature": 2.0},
        "boxes": {"kind": "mse", "weight": 0.5, "hard_labels": False},
    }
    assert set(distilled["final_output_losses"]) == {"logits", "boxes"}
    assert distilled["accuracy_torch"] is not None  # the first output holds class scores and eval has labels
    assert pruned["kept_layers"] == ["classify", "regress"]
    assert pruned["params"] < distilled["params"] < distilled["teacher"]["params"]
    assert pruned["outputs"] == distilled["outputs"] == {"logits": [4], "boxes": [4]}
    for model in ("student", "student-pruned"):
        inputs, outputs = graph_io(bundle, artifacts[f"{model}/onnx/fp32"])
        assert inputs == ["image"] and {k: v[1] for k, v in outputs.items()} == {"logits": 4, "boxes": 4}, model


def test_a_loss_for_an_output_the_model_lacks_fails_before_training(tmp_path):
    recipe = shrink_recipe("detector", tmp_path, {"output_losses": {"box": {"kind": "mse"}}}, {})
    with pytest.raises(ConfigError, match=r"distill.output_losses names output 'box'.*\['logits', 'boxes'\]"):
        run(recipe, tmp_path)
    assert not (tmp_path / "cache" / "stages" / "distill").exists()
