"""A Hugging Face BertModel (built from a BertConfig, seeded random weights) through distill ->
prune (whole heads and MLP channels) -> export -> INT8 on ONNX Runtime and OpenVINO.

The recipe's model is the teacher; distill narrows it (every head keeps, each narrower, MLP
channels fewer) and trains the student on the teacher's outputs; prune then removes half the
student's heads per layer and MLP channels, and KD from the unpruned student recovers it. The
table is read from the bundle's report.json: per target and model, MACs and params, p50 latency
(batch 1, the target's threads) and INT8's cosine to its own FP32 (the lowest over both outputs).

    .venv/bin/python benchmarks/hf_encoder_shrink.py [--out DIR] [--layers 4 --hidden 256 --heads 8
        --intermediate 1024 --sequence 64] [--samples 512] [--epochs 3] [--ratio 0.5] [--rounds 3]
    .venv/bin/python benchmarks/hf_encoder_shrink.py --tiny     # the kit's sizes, a smoke run, no figures

The command, the commit and this CPU are printed above the table, and the bundle (report.json with
every raw timing) stays in --out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

TARGETS = ("x86-cpu-onnxruntime", "x86-cpu-openvino")
MODELS = ("teacher", "student", "student-pruned")


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="work folder: recipe, data, cache and bundle (default: a temp one)")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--intermediate", type=int, default=1024)
    parser.add_argument("--sequence", type=int, default=64, help="tokens per sample (at most 128)")
    parser.add_argument("--samples", type=int, default=512, help="transfer samples (calibration and eval: a quarter)")
    parser.add_argument("--epochs", type=int, default=3, help="distillation and recovery epochs")
    parser.add_argument("--width", type=float, default=0.75, help="distill.student.width_multiplier")
    parser.add_argument("--ratio", type=float, default=0.5, help="prune.target.ratio (heads and MLP channels)")
    parser.add_argument("--iterations", type=int, default=200, help="timed runs per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="the public kit's sizes and a few samples: checks it runs")
    return parser


def main() -> None:
    args = arguments().parse_args()
    if args.tiny:
        args.layers, args.hidden, args.heads, args.intermediate, args.sequence = 2, 64, 4, 128, 32
        args.samples, args.epochs, args.iterations, args.rounds = 32, 1, 10, 1
    if args.out is None:
        args.out = Path(tempfile.mkdtemp(prefix="hf-encoder-shrink-"))
    args.out.mkdir(parents=True, exist_ok=True)
    from edge_pipeline import api

    recipe = write_recipe(args)
    bundle = api.run(recipe, args.out / "bundle", cache_dir=args.out / "cache")
    report = json.loads((bundle / "report.json").read_text())
    print_header(args)
    print_table(report["results"])
    print(f"\nbundle: {bundle}")


def write_recipe(args) -> Path:
    from edge_pipeline.testing.public_kit import BERT_VOCAB, token_arrays

    work = args.out
    sizes = {"layers": args.layers, "hidden": args.hidden, "heads": args.heads, "intermediate": args.intermediate}
    held_out = max(16, args.samples // 4)
    for role, count, seed in (("transfer", args.samples, 0), ("calibration", held_out, 1), ("eval", held_out, 2)):
        np.savez(work / f"{role}.npz", **token_arrays(count, seed, length=args.sequence))
    transfer = {"dataset": {"path": str(work / "transfer.npz")}}
    train = {"epochs": args.epochs, "batch_size": 32, "optimizer": "adamw", "lr": 0.001}
    token = {"shape": [1, args.sequence], "dtype": "int64"}
    recipe = {
        "metadata": {"name": "hf-encoder-shrink"},
        "model": {"factory": "edge_pipeline.testing.public_kit:hf_bert_encoder", "kwargs": sizes},
        "inputs": [{"name": "input_ids", **token, "value_range": [0, BERT_VOCAB]},
                   {"name": "attention_mask", **token, "value_range": [0, 2]}],
        "outputs": ["last_hidden_state", "pooler_output"], "class_score_outputs": [],
        "data": {"calibration": {"path": str(work / "calibration.npz")}, "eval": {"path": str(work / "eval.npz")}},
        "targets": list(TARGETS),
        "stages": ["distill", "prune", "export", "quantize", "benchmark"],
        "distill": {"data": transfer, "train": train,
                    "student": {"source": "scaled", "width_multiplier": args.width, "round_to": 4}},
        "prune": {"data": transfer, "round_to": 4, "scope": "uniform", "attention": "heads",
                  "target": {"kind": "ratio", "ratio": args.ratio}, "recovery": {"train": train}},
        "export": {"check_samples": 8},
        "quantize": {"samples": min(held_out, 64)},
        "benchmark": {"warmup": 10, "iterations": args.iterations, "rounds": args.rounds},
    }
    path = work / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def print_header(args) -> None:
    from edge_pipeline.cpuinfo import cpu_model

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    print(f"\ncommand: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"commit: {commit or 'unknown'}; CPU: {cpu_model() or 'unknown'}")
    print(f"BertModel: {args.layers} layers, hidden {args.hidden}, {args.heads} heads, intermediate "
          f"{args.intermediate}, {args.sequence} tokens; distill width {args.width}, prune ratio {args.ratio} "
          f"(heads and MLP channels); {args.rounds} rounds x {args.iterations} runs, batch 1")
    if args.tiny:
        print("--tiny: a smoke run; these figures say nothing")


def print_table(results: list[dict]) -> None:
    header = f"{'target':<20} {'model':<15} {'prec':<5} {'MACs M':>8} {'params M':>8} {'p50 ms':>8} " \
             f"{'vs teacher':>10} {'INT8 cos':>8}"
    print(f"\n{header}\n{'-' * len(header)}")
    for target in TARGETS:
        rows = {(r["model"], r["precision"]): r for r in results if r["target"] == target}
        teacher = rows.get(("teacher", "fp32"))
        for model in MODELS:
            for precision in ("fp32", "int8"):
                row = rows.get((model, precision))
                if row is None:
                    continue
                p50 = row["latency_ms"]["p50"] if row.get("latency_ms") else None
                base = teacher["latency_ms"]["p50"] if teacher and teacher.get("latency_ms") else None
                speed = f"{base / p50:.2f}x" if p50 and base else "-"
                cosine = f"{min(f['cosine'] for f in row['fidelity'].values()):.4f}" \
                    if precision == "int8" and row.get("fidelity") else "-"
                print(f"{target:<20} {model:<15} {precision:<5} {row['macs'] / 1e6:>8.2f} {row['params'] / 1e6:>8.3f} "
                      f"{p50 if p50 is not None else float('nan'):>8.3f} {speed:>10} {cosine:>8}")


if __name__ == "__main__":
    main()
