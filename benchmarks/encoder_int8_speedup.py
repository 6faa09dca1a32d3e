"""A BERT-style sentence encoder at sequence length 128: INT8 vs FP32 on ONNX Runtime and OpenVINO.

    .venv/bin/python benchmarks/encoder_int8_speedup.py [--dim 384 --layers 4 --heads 6] [--rounds 3]

The model is the kit's encoder (edge_pipeline.testing.kit:tiny_encoder: token + position
embeddings, post-norm attention blocks, Hugging Face style finfo.min attention mask, masked mean
pooling) at MiniLM-like width, random weights. It goes through the pipeline itself: export ->
quantize (preset auto: transformer; the fidelity floor and fallback active) -> benchmark at batch 1,
2 threads, fresh worker processes per round, rounds interleaved across artifacts; ONNX Runtime both
with static (calibrated QDQ) and dynamic activation scales. Printed: p50 per
artifact, the INT8/FP32 speedup from medians of the same run, cosine to FP32 on held-out data, and
the CPU model and flags the figures belong to.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import yaml

from edge_pipeline import api
from edge_pipeline.benchmarking.host import cpu_flags, cpu_model

SEQUENCE = 128


def token_arrays(count: int, vocab: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, size=(count, SEQUENCE)).astype(np.int64)
    lengths = rng.integers(SEQUENCE // 4, SEQUENCE + 1, size=count)
    mask = (np.arange(SEQUENCE)[None, :] < lengths[:, None]).astype(np.int64)
    return {"input_ids": ids * mask, "attention_mask": mask}


def dynamic_target(work: Path) -> Path:
    """The ONNX Runtime x86 profile with quantize.activations: dynamic (a target profile file, the way a
    user sets a per-target quantization mode)."""
    from edge_pipeline.config.recipes import available_targets

    profile = yaml.safe_load(available_targets()["x86-cpu-onnxruntime"].read_text())
    profile["metadata"]["name"] = "x86-cpu-onnxruntime-dynamic"
    profile["quantize"]["activations"] = "dynamic"
    path = work / "x86-cpu-onnxruntime-dynamic.yaml"
    path.write_text(yaml.safe_dump(profile))
    return path


def recipe(work: Path, args) -> dict:
    for role, seed in (("calibration", 1), ("eval", 2)):
        np.savez(work / f"{role}.npz", **token_arrays(64, args.vocab, seed))
    return {
        "metadata": {"name": "encoder-seq128"},
        "model": {"factory": "edge_pipeline.testing.kit:tiny_encoder",
                  "kwargs": {"vocab": args.vocab, "dim": args.dim, "heads": args.heads, "layers": args.layers,
                             "max_length": SEQUENCE}},
        "inputs": [
            {"name": "input_ids", "shape": [1, SEQUENCE], "dtype": "int64", "value_range": [0, args.vocab]},
            {"name": "attention_mask", "shape": [1, SEQUENCE], "dtype": "int64", "value_range": [0, 2]},
        ],
        "outputs": ["embedding"], "class_score_outputs": [],
        "data": {"calibration": {"path": str(work / "calibration.npz")}, "eval": {"path": str(work / "eval.npz")}},
        "targets": ["x86-cpu-onnxruntime", str(dynamic_target(work)), "x86-cpu-openvino"],
        "stages": ["export", "quantize", "benchmark"],
        "quantize": {"samples": 64},
        "benchmark": {"warmup": 20, "iterations": args.iterations, "rounds": args.rounds,
                      "batch_sizes": [1], "threads": [2]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--heads", type=int, default=6)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="encoder-speed-") as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        (work / "recipe.yaml").write_text(yaml.safe_dump(recipe(work, args)))
        bundle = api.run(work / "recipe.yaml", work / "bundle", cache_dir=work / "cache")
        rows = json.loads((bundle / "report.json").read_text())["results"]
    print(f"\nhost: {cpu_model()} | flags: {', '.join(cpu_flags()) or 'n/a'}")
    print(f"encoder dim {args.dim}, {args.layers} layers, {args.heads} heads, sequence {SEQUENCE}, batch 1, 2 threads, "
          f"{args.rounds} rounds x {args.iterations} iterations\n")
    print("| target | runtime | FP32 p50 ms | INT8 p50 ms | INT8 speedup | INT8 cosine |\n|---|---|---|---|---|---|")
    for target in ("x86-cpu-onnxruntime", "x86-cpu-onnxruntime-dynamic", "x86-cpu-openvino"):
        mine = [r for r in rows if r["target"] == target]
        fp32 = next(r for r in mine if r["precision"] == "fp32" and r["reference_variant"])
        for int8 in (r for r in mine if r["precision"] == "int8"):
            speedup = fp32["latency_ms"]["p50"] / int8["latency_ms"]["p50"]
            cosine = int8["fidelity"]["embedding"]["cosine"]
            print(f"| {target} | {int8['runtime_variant']} | {fp32['latency_ms']['p50']:.2f} "
                  f"| {int8['latency_ms']['p50']:.2f} | {speedup:.2f}x | {cosine:.4f} |")


if __name__ == "__main__":
    main()
