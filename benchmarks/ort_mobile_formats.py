"""ORT format vs the QDQ ONNX it came from: size, cold start and latency, side by side in one run.

    .venv/bin/python benchmarks/ort_mobile_formats.py --bundle DIR [--rounds 3] [--target android-arm64-onnxruntime]

DIR is a bundle made with the mobile target, e.g.
    edge-pipeline run --out DIR --set 'targets=[x86-cpu-onnxruntime,android-arm64-onnxruntime]'
Each round times the QDQ ONNX, the fixed-optimization .ort and the runtime-optimization .ort in
fresh worker processes (batch 1, 1 thread); cold start is that process's model load plus first
inference. On a non-ARM host these are HOST measurements of ARM-targeted artifacts, not device
numbers: the .ort files carry ARM's int8 QDQ fusions, which x86's kernels do not favour.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from edge_pipeline import api
from edge_pipeline.benchmarking.host import host_arch


def mobile_files(bundle: Path, target: str, model: str) -> dict[str, Path]:
    manifest = json.loads((bundle / "manifest.json").read_text())
    found = {}
    for artifact in manifest["artifacts"]:
        if artifact["target"] == target and artifact["model"] == model and artifact["precision"] == "int8":
            label = {"onnx": "qdq.onnx"}.get(artifact["kind"], None)
            if artifact["kind"] == "ort":
                label = f".ort ({artifact['meta']['optimization_style']})"
            if label:
                found[label] = bundle / artifact["path"]
    if "qdq.onnx" not in found or len(found) < 2:
        raise SystemExit(f"{bundle}: no ORT Mobile artifacts for {model} on {target}; run with that target first")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--target", default="android-arm64-onnxruntime")
    parser.add_argument("--model", default="teacher")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    files = mobile_files(args.bundle, args.target, args.model)
    p50: dict[str, list[float]] = {label: [] for label in files}
    cold: dict[str, list[float]] = {label: [] for label in files}
    for _ in range(args.rounds):
        result = api.benchmark(
            list(files.values()), batch_sizes=[1], threads=[1], warmup="auto", iterations=args.iterations
        )
        for label, timed in zip(files, result["results"], strict=True):
            p50[label].append(timed["configs"][0]["latency_ms"]["p50"])
            start = timed["process_cold_start"]
            cold[label].append(start["load_s"] * 1e3 + start["first_inference_ms"])
    base_p50, base_cold = statistics.median(p50["qdq.onnx"]), statistics.median(cold["qdq.onnx"])
    scope = "device" if host_arch() == "arm64" else f"HOST ({host_arch()}) measurements, not device numbers"
    print(f"{args.model} for {args.target}: batch 1, 1 thread, {args.rounds} rounds x {args.iterations} runs; {scope}")
    print(f"{'artifact':<18} {'size KiB':>9} {'cold ms':>8} {'cold vs qdq':>11} {'p50 ms':>8} {'p50 vs qdq':>10}")
    for label, path in files.items():
        size = path.stat().st_size / 1024
        cold_ms, latency = statistics.median(cold[label]), statistics.median(p50[label])
        print(f"{label:<18} {size:>9.1f} {cold_ms:>8.2f} {cold_ms / base_cold:>10.2f}x "
              f"{latency:>8.3f} {latency / base_p50:>9.2f}x")


if __name__ == "__main__":
    main()
