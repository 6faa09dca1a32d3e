"""A Hugging Face BertModel (built from a config) through prune -> export -> quantize -> benchmark:
whole heads and MLP channels go, KD recovery trains the result, the pruned model reloads from its
artifact and its ONNX matches it, INT8 stays within cosine 0.99 of its own FP32, and the report
holds MACs and latency of the model before and after."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

pytest.importorskip("transformers")

TRAIN = {"epochs": 1, "batch_size": 16, "optimizer": "adamw", "lr": 0.001, "threads": 1}
LAYERS = ("encoder.layer.0.attention.self", "encoder.layer.1.attention.self")


def bert_recipe(tmp_path) -> dict:
    from edge_pipeline.testing.public_kit import BERT_SEQUENCE, BERT_VOCAB, token_arrays

    for role, seed in (("calibration", 1), ("eval", 2)):
        np.savez(tmp_path / f"{role}.npz", **token_arrays(32, seed))
    data = {"dataset": {"path": str(tmp_path / "calibration.npz")}}
    token = {"shape": [1, BERT_SEQUENCE], "dtype": "int64"}
    return {
        "metadata": {"name": "hf-bert"},
        "model": {"factory": "edge_pipeline.testing.public_kit:hf_bert_encoder"},
        "inputs": [{"name": "input_ids", **token, "value_range": [0, BERT_VOCAB]},
                   {"name": "attention_mask", **token, "value_range": [0, 2]}],
        "outputs": ["last_hidden_state", "pooler_output"], "class_score_outputs": [],
        "data": {"calibration": {"path": str(tmp_path / "calibration.npz")},
                 "eval": {"path": str(tmp_path / "eval.npz")}},
        "targets": ["x86-cpu-onnxruntime"],
        "stages": ["prune", "export", "quantize", "benchmark"],
        "prune": {"data": data, "round_to": 4, "attention": "heads", "target": {"kind": "ratio", "ratio": 0.5},
                  "recovery": {"train": TRAIN}},
        "export": {"check_samples": 8},
        "quantize": {"samples": 16},
        "benchmark": {"warmup": 2, "iterations": 10, "rounds": 1},
    }


@pytest.mark.slow
def test_bert_loses_heads_and_mlp_channels_and_goes_through_export_and_int8(tmp_path):
    import onnxruntime as ort
    import torch

    from edge_pipeline import api
    from edge_pipeline.artifacts.record import Artifact
    from edge_pipeline.pruning.channels import head_counts
    from edge_pipeline.shrinking.models import load_stage_model

    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(bert_recipe(tmp_path), sort_keys=False))
    bundle = api.run(path, tmp_path / "bundle", cache_dir=tmp_path / "cache")
    manifest = json.loads((bundle / "manifest.json").read_text())
    artifacts = {a["id"]: a for a in manifest["artifacts"]}
    pruned = artifacts["teacher-pruned/torch/fp32"]
    meta = pruned["meta"]
    assert meta["teacher"]["attention_heads"] == dict.fromkeys(LAYERS, 4)
    assert meta["attention_heads"] == dict.fromkeys(LAYERS, 2)
    assert meta["macs_torch"] < meta["teacher"]["macs_torch"] and meta["params"] < meta["teacher"]["params"]
    assert meta["outputs"] == {"last_hidden_state": [32, 64], "pooler_output": [64]}  # hidden width stays
    assert meta["steps"][0]["ratio"] == 0.5

    # The pruned nn.Module comes back from what the prune stage wrote (its cache entry: the program,
    # the architecture and the weights), and its ONNX computes the same.
    written = next((tmp_path / "cache").rglob("teacher-pruned.pt2"))
    model = load_stage_model(Artifact.model_validate({**pruned, "path": str(written)}))
    assert head_counts(model) == dict.fromkeys(LAYERS, 2)
    for layer in model.encoder.layer:
        assert layer.attention.self.all_head_size == 32 and layer.intermediate.dense.out_features < 128
    tokens = dict(np.load(tmp_path / "eval.npz"))
    with torch.no_grad():
        expected = model(*(torch.from_numpy(tokens[n]) for n in ("input_ids", "attention_mask")))
    session = ort.InferenceSession(str(bundle / artifacts["teacher-pruned/onnx/fp32"]["path"]))
    hidden, pooled = session.run(["last_hidden_state", "pooler_output"], tokens)
    np.testing.assert_allclose(hidden, expected.last_hidden_state.numpy(), atol=1e-4)
    np.testing.assert_allclose(pooled, expected.pooler_output.numpy(), atol=1e-4)

    rows = {row["artifact_id"]: row for row in json.loads((bundle / "report.json").read_text())["results"]}
    before, after = rows["teacher/x86-cpu-onnxruntime/fp32"], rows["teacher-pruned/x86-cpu-onnxruntime/fp32"]
    assert after["macs"] < before["macs"] and before["latency_ms"]["p50"] > 0 and after["latency_ms"]["p50"] > 0
    int8 = rows["teacher-pruned/x86-cpu-onnxruntime/int8"]
    assert {name: figures["cosine"] >= 0.99 for name, figures in int8["fidelity"].items()} == \
        {"last_hidden_state": True, "pooler_output": True}
